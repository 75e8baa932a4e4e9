"""Fully asynchronous calls: a pending token now, the result later.

``FullyAsyncBatches`` is the function a select calls for a UDF with
``fully_async_executor()``: it answers every row at once with a fresh ``PendingCall`` token and
starts the calls on the background event loop. Each finished call is handed to every active
``FutureInbox`` (one per select lowered in a running dataflow, see
``reflow.runtime.futures``), whose operator applies it at a later logical time.
"""

from __future__ import annotations

import asyncio
from typing import Any

from reflow.plan.rowwise import RowFailure
from reflow.runtime.future_inboxes import deliver


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
