"""Fully asynchronous calls: a pending token now, the result later.

``FullyAsyncBatches`` is the function a select calls for a UDF with
``fully_async_executor()``: it answers every row at once with a fresh ``PendingCall`` token and
starts the calls on the background event loop. Each finished call is handed to every active
``FutureInbox`` (one per select lowered in a running dataflow, see
``reflow.plan.future_nodes``), whose operator applies it at a later logical time.
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from typing import Any

from reflow.engine.operators.future_map import FutureInbox, PendingCall
from reflow.plan.compile import RowFailure

# Weak: the inboxes of a run that failed before closing its sources go away with the run.
_inboxes: weakref.WeakSet[FutureInbox] = weakref.WeakSet()
_inbox_lock = threading.Lock()


def register_inbox(inbox: FutureInbox) -> None:
    """Let ``inbox`` receive the results of fully asynchronous calls."""
    with _inbox_lock:
        _inboxes.add(inbox)


def unregister_inbox(inbox: FutureInbox) -> None:
    with _inbox_lock:
        _inboxes.discard(inbox)


def deliver(token: PendingCall, value: Any, failed: bool = False) -> None:
    """Hand the result of the call behind ``token`` to every active inbox."""
    with _inbox_lock:
        inboxes = list(_inboxes)
    for inbox in inboxes:
        inbox.put(token, value, failed)


def start_calls(batches: Any, rows, todo, keys, tokens, columns) -> None:
    """Run ``batches._run`` for rows ``todo`` in the background; deliver each row's result."""
    from reflow.udfs._loop import _background_loop

    results: list[Any] = [None] * len(rows)

    async def run() -> None:
        try:
            await batches._run(rows, todo, keys, results, columns)
        except Exception as exc:  # noqa: BLE001 - every row of the batch fails
            for i in todo:
                results[i] = RowFailure(exc)
        for i in todo:
            value = results[i]
            if isinstance(value, RowFailure):
                deliver(tokens[i], _failure_message(batches.name, value.exception), True)
            else:
                deliver(tokens[i], value)

    asyncio.run_coroutine_threadsafe(run(), _background_loop())


def _failure_message(name: str, error: BaseException) -> str:
    return f"{name}: {type(error).__name__}: {error}"
