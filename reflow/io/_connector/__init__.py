"""The framework every streaming connector plugs into.

A connector is a ``MessageReader`` (it connects, reads ``Change``s with their position in the
source, and may mark source transactions with ``CommitMarker``) or a ``MessageWriter`` (it
connects and writes one completed logical time at a time). ``ReaderSource`` and
``attach_writer`` do the rest: logical times, resuming from offsets, typing rows with the
schema, error-log reports, reconnecting with backoff and stopping loudly.
"""

from reflow.io._connector.events import (
    Additions,
    Change,
    CommitMarker,
    MessageReader,
    Position,
    Skipped,
)
from reflow.io._connector.reader import ReaderSource
from reflow.io._connector.retry import RetryPolicy, TransientError
from reflow.io._connector.writer import Delivery, MessageWriter, attach_writer

__all__ = [
    "Additions",
    "Change",
    "CommitMarker",
    "Delivery",
    "MessageReader",
    "MessageWriter",
    "Position",
    "ReaderSource",
    "RetryPolicy",
    "Skipped",
    "TransientError",
    "attach_writer",
]
