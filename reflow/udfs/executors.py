"""Executors decide how a UDF's calls are run: one after another, or concurrently."""

from __future__ import annotations

from dataclasses import dataclass

from reflow.udfs.retries import AsyncRetryStrategy


class Executor:
    """Base class of UDF executors."""


@dataclass(frozen=True)
class AutoExecutor(Executor):
    """Synchronous for plain functions, asynchronous for ``async def`` functions."""


@dataclass(frozen=True)
class SyncExecutor(Executor):
    """Calls the function row after row, in the engine's thread."""


@dataclass(frozen=True)
class AsyncExecutor(Executor):
    """Runs the calls of a batch concurrently, at most ``capacity`` at a time.

    ``timeout`` (seconds) bounds each attempt; ``retry_strategy`` retries failing calls.
    """

    capacity: int | None = None
    timeout: float | None = None
    retry_strategy: AsyncRetryStrategy | None = None


@dataclass(frozen=True)
class FullyAsyncExecutor(AsyncExecutor):
    """Like ``AsyncExecutor``, but results arrive as later updates.

    The column (type ``Future(T)``) holds ``Pending`` until the call finishes; then the row is
    retracted and inserted again with the result at a later logical time (see
    ``reflow.runtime.futures`` and ``Table.await_futures``). Results are applied as they
    come, checked every few milliseconds, so ``autocommit_duration_ms`` is accepted for
    compatibility and not used.
    """

    autocommit_duration_ms: int | None = 1500


def auto_executor() -> Executor:
    """Choose by the function: ``async def`` runs asynchronously, anything else synchronously."""
    return AutoExecutor()


def sync_executor() -> Executor:
    """Call the UDF once per row (or per batch), one call at a time.

    >>> import reflow as pw
    >>> @pw.udf(executor=pw.udfs.sync_executor())
    ... def inc(x: int) -> int:
    ...     return x + 1
    >>> t = pw.debug.table_from_markdown('''
    ... x
    ... 1
    ... ''')
    >>> pw.debug.compute_and_print(t.select(y=inc(pw.this.x)), include_id=False)
    y
    2
    """
    return SyncExecutor()


def async_executor(
    *,
    capacity: int | None = None,
    timeout: float | None = None,
    retry_strategy: AsyncRetryStrategy | None = None,
) -> Executor:
    """Run a batch's calls concurrently: at most ``capacity`` in flight, each attempt limited
    to ``timeout`` seconds, failures retried by ``retry_strategy``.

    >>> import asyncio
    >>> import reflow as pw
    >>> @pw.udf(executor=pw.udfs.async_executor(capacity=10, timeout=5.0))
    ... async def slow_double(x: int) -> int:
    ...     await asyncio.sleep(0.01)
    ...     return 2 * x
    >>> t = pw.debug.table_from_markdown('''
    ... x
    ... 1
    ... 2
    ... ''')
    >>> pw.debug.compute_and_print(t.select(y=slow_double(pw.this.x)), include_id=False)
    y
    2
    4
    """
    if capacity is not None and capacity < 1:
        raise ValueError(f"capacity must be at least 1, got {capacity}")
    return AsyncExecutor(capacity, timeout, retry_strategy)


def fully_async_executor(
    *,
    capacity: int | None = None,
    timeout: float | None = None,
    retry_strategy: AsyncRetryStrategy | None = None,
    autocommit_duration_ms: int | None = 1500,
) -> Executor:
    """Run calls in the background: the column is ``Pending`` until each result arrives.

    Results enter as updates at later logical times; ``Table.await_futures()`` leaves out the
    rows still pending. A static run ends only after every call finished.

    >>> import reflow as pw
    >>> @pw.udf(executor=pw.udfs.fully_async_executor())
    ... async def inc(x: int) -> int:
    ...     return x + 1
    >>> t = pw.debug.table_from_markdown('''
    ... x
    ... 1
    ... ''')
    >>> r = t.select(y=inc(pw.this.x)).await_futures()
    >>> pw.debug.compute_and_print(r, include_id=False)
    y
    2
    """
    if capacity is not None and capacity < 1:
        raise ValueError(f"capacity must be at least 1, got {capacity}")
    return FullyAsyncExecutor(capacity, timeout, retry_strategy, autocommit_duration_ms)
