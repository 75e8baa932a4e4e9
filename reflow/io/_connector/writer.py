"""Writing: a ``MessageWriter`` receives each completed logical time's consolidated delta;
``attach_writer`` retries transient failures with backoff and stops the run loudly when the
delivery cannot be made."""

from __future__ import annotations

import logging
import time as clock
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING

import polars as pl

from reflow.engine.batch import DIFF, ID
from reflow.io._common import ConnectorError, add_sink, output_frame
from reflow.io._connector.retry import RetryPolicy, TransientError, retrying
from reflow.plan.compile import error_column
from reflow.plan.nodes import ColumnInfo
from reflow.runtime.persistence.resume import SinkPosition, sink_position

if TYPE_CHECKING:
    from reflow.api.table import Table

logger = logging.getLogger("reflow")

#: About 25 s of retrying before a writer gives up and stops the run.
WRITER_RETRY = RetryPolicy(max_attempts=8, initial_delay=0.1, max_delay=5.0)


@dataclass
class Delivery:
    """The changes of one completed logical time of the written table."""

    time: int
    delta: pl.DataFrame
    columns: dict[str, ColumnInfo]

    @property
    def ids(self) -> list[int]:
        return self.delta[ID].to_list()

    @property
    def diffs(self) -> list[int]:
        return self.delta[DIFF].to_list()

    def values(self, name: str) -> list:
        """The Python values of column ``name``; an error cell is ``None``."""
        cells = self.delta[name].to_list()
        if self.columns[name].fallible:
            errors = self.delta[error_column(name)].to_list()
            cells = [None if e else v for v, e in zip(cells, errors, strict=True)]
        return cells

    def plain_frame(self) -> pl.DataFrame:
        """Plain values (pointers and JSON as text, bytes base64) plus ``time`` and ``diff``."""
        return output_frame(self.columns, self.delta, self.time)


class MessageWriter(ABC):
    """The connector-specific part of a sink.

    ``connect`` opens the connection (and prepares the target: creates a table, ...);
    ``write`` delivers one time's changes, all or nothing where the target allows it; both
    raise ``TransientError`` when the connection is lost or the server is unavailable, after
    which the writer is closed, reconnected and the same delivery tried again.
    """

    description: str = "writer"
    #: Whether the writer undoes what it wrote after a checkpoint when a persistent run
    #: restarts from it (``resume_after``): then its output is exactly once.
    resumable: bool = False
    #: On a restart: the logical time of the checkpoint, set before ``connect``.
    resume_after: int | None = None
    #: Whether the position matters before the first logical time (``SinkPosition``).
    position_from_start: bool = False

    def resume_from(self, position: object) -> int | None:
        """On a restart: take the position the checkpoint stored for this sink
        (``checkpoint_position``) and return the checkpoint's logical time (None: a fresh
        start)."""
        self.resume_after = position if isinstance(position, int) else None
        return self.resume_after

    def checkpoint_position(self, completed: int | None) -> object:
        """What a checkpoint stores for this sink after the completed time ``completed``."""
        return completed

    @abstractmethod
    def connect(self) -> None: ...

    @abstractmethod
    def write(self, delivery: Delivery) -> None: ...

    @abstractmethod
    def close(self) -> None: ...


def attach_writer(
    table: Table,
    writer: MessageWriter,
    name: str,
    retry: RetryPolicy | None = None,
) -> None:
    """Send every completed time of ``table`` to ``writer``, retrying transient failures;
    when the policy gives up, the run stops with a ``ConnectorError`` naming the connector,
    the server and the reason."""
    columns = table._node.columns
    retry = retry or WRITER_RETRY
    connected = False

    def ensure_connected() -> None:
        nonlocal connected
        if not connected:
            writer.connect()
            connected = True

    def reconnect(exc: TransientError, failures: int) -> None:
        nonlocal connected
        logger.warning("%s: %s; retrying (attempt %d)", name, exc, failures + 1)
        connected = False
        try:
            writer.close()
        except Exception as close_error:  # noqa: BLE001 - the connection is already broken
            logger.debug("%s: error while closing: %s", name, close_error)

    def deliver(action, what: str) -> None:
        def sleep(seconds: float) -> bool:
            clock.sleep(seconds)
            return False

        error = retrying(action, retry, reconnect, sleep)
        if error is not None:
            raise ConnectorError(
                f"{name}: cannot {what} {writer.description}: {error} "
                f"(gave up after {retry.max_attempts} attempts)"
            ) from error

    completed: int | None = None

    def on_start() -> None:
        nonlocal completed
        if writer.resumable:
            completed = writer.resume_from(sink_position(name))
        deliver(ensure_connected, "connect to")

    def on_time_end(time: int) -> None:
        nonlocal completed
        completed = time

    def on_time(time: int, delta: pl.DataFrame) -> None:
        delivery = Delivery(time, delta, columns)

        def action() -> None:
            ensure_connected()
            writer.write(delivery)

        deliver(action, f"deliver time {time} to")

    def on_end() -> None:
        if connected:
            writer.close()

    add_sink(
        table, name, on_time, on_end=on_end, on_start=on_start,
        on_time_end=on_time_end if writer.resumable else None,
        position=SinkPosition(lambda: writer.checkpoint_position(completed),
                              from_start=writer.position_from_start)
        if writer.resumable else None,
    )
