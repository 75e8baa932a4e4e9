"""Retry strategies for asynchronous user-defined functions.

A strategy calls the function; when the call raises, it waits and tries again, up to
``max_retries`` more times, then lets the last exception through (the cell becomes an error).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import Any


class AsyncRetryStrategy:
    """Base class: decides how a failing asynchronous call is retried."""

    async def invoke(self, func: Callable[..., Awaitable[Any]], /, *args: Any, **kwargs: Any):
        """Call ``func`` (a coroutine function), retrying it according to the strategy."""
        raise NotImplementedError


class NoRetryStrategy(AsyncRetryStrategy):
    """Call once; a failure is final."""

    async def invoke(self, func, /, *args, **kwargs):
        return await func(*args, **kwargs)


class _DelayedRetryStrategy(AsyncRetryStrategy):
    def __init__(self, max_retries: int) -> None:
        if max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {max_retries}")
        self.max_retries = max_retries

    def _delay_ms(self, attempt: int) -> float:
        raise NotImplementedError

    async def invoke(self, func, /, *args, **kwargs):
        for attempt in range(self.max_retries + 1):
            try:
                return await func(*args, **kwargs)
            except Exception:
                if attempt == self.max_retries:
                    raise
            await asyncio.sleep(self._delay_ms(attempt) / 1000)
        raise AssertionError("unreachable")  # pragma: no cover


class FixedDelayRetryStrategy(_DelayedRetryStrategy):
    """Retry up to ``max_retries`` times, waiting ``delay_ms`` milliseconds between attempts.

    >>> import asyncio
    >>> calls = []
    >>> async def flaky():
    ...     calls.append(1)
    ...     if len(calls) < 3:
    ...         raise ConnectionError("try again")
    ...     return "ok"
    >>> asyncio.run(FixedDelayRetryStrategy(max_retries=5, delay_ms=1).invoke(flaky)), len(calls)
    ('ok', 3)
    """

    def __init__(self, max_retries: int = 3, delay_ms: int = 1000) -> None:
        super().__init__(max_retries)
        self.delay_ms = delay_ms

    def _delay_ms(self, attempt: int) -> float:
        return self.delay_ms


class ExponentialBackoffRetryStrategy(_DelayedRetryStrategy):
    """Retry up to ``max_retries`` times; the n-th wait is
    ``initial_delay * backoff_factor**n`` milliseconds plus a random jitter of up to
    ``jitter_ms`` milliseconds.

    >>> import asyncio
    >>> async def broken():
    ...     raise TimeoutError("no answer")
    >>> strategy = ExponentialBackoffRetryStrategy(max_retries=2, initial_delay=1, jitter_ms=1)
    >>> try:
    ...     asyncio.run(strategy.invoke(broken))
    ... except TimeoutError as exc:
    ...     print(exc)
    no answer
    """

    def __init__(
        self,
        max_retries: int = 3,
        initial_delay: int = 1000,
        backoff_factor: float = 2,
        jitter_ms: int = 300,
    ) -> None:
        super().__init__(max_retries)
        self.initial_delay = initial_delay
        self.backoff_factor = backoff_factor
        self.jitter_ms = jitter_ms

    def _delay_ms(self, attempt: int) -> float:
        jitter = random.uniform(0, self.jitter_ms) if self.jitter_ms else 0.0
        return self.initial_delay * self.backoff_factor**attempt + jitter
