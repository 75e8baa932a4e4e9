"""Where the results of fully asynchronous calls go: one inbox per running select.

A finished call (``reflow.udfs.future_calls``) is handed to every registered ``FutureInbox``;
the inbox's operator applies it at a later logical time (``runtime/futures.py``).
"""

from __future__ import annotations

import threading
import weakref
from typing import Any

from reflow.engine.operators.future_map import FutureInbox, PendingCall

# Weak: the inboxes of a run that failed before closing its sources go away with the run.
_inboxes: weakref.WeakSet[FutureInbox] = weakref.WeakSet()
_inbox_lock = threading.Lock()


def register_inbox(inbox: FutureInbox) -> None:
    """Let ``inbox`` receive the results of fully asynchronous calls."""
    with _inbox_lock:
        _inboxes.add(inbox)


def unregister_inbox(inbox: FutureInbox) -> None:
    """Stop handing results to ``inbox``."""
    with _inbox_lock:
        _inboxes.discard(inbox)


def deliver(token: PendingCall, value: Any, failed: bool = False) -> None:
    """Hand the result of the call behind ``token`` to every active inbox."""
    with _inbox_lock:
        inboxes = list(_inboxes)
    for inbox in inboxes:
        inbox.put(token, value, failed)
