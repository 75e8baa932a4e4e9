"""``pw.udfs.async_options``: limits for a plain ``async def`` function."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from typing import Any

from reflow.udfs.caches import CacheStrategy
from reflow.udfs.retries import AsyncRetryStrategy, NoRetryStrategy


def async_options(
    capacity: int | None = None,
    timeout: float | None = None,
    retry_strategy: AsyncRetryStrategy | None = None,
    cache_strategy: CacheStrategy | None = None,
) -> Callable[[Callable[..., Awaitable[Any]]], Callable[..., Awaitable[Any]]]:
    """A decorator giving an async function at most ``capacity`` concurrent calls, a
    per-call ``timeout`` in seconds, retries and a result cache.

    >>> import asyncio, reflow as pw
    >>> @pw.udfs.async_options(capacity=2, timeout=5)
    ... async def double(x):
    ...     return 2 * x
    >>> asyncio.run(double(21))
    42
    """
    strategy = retry_strategy or NoRetryStrategy()

    def decorate(func: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        semaphores: dict[int, asyncio.Semaphore] = {}  # one per event loop

        async def once(*args: Any, **kwargs: Any) -> Any:
            if timeout is None:
                return await func(*args, **kwargs)
            return await asyncio.wait_for(func(*args, **kwargs), timeout)

        @functools.wraps(func)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            key = repr((args, sorted(kwargs.items())))
            if cache_strategy is not None:
                cached = cache_strategy.get(key)
                if cached is not CacheStrategy.MISSING:
                    return cached
            if capacity is None:
                result = await strategy.invoke(once, *args, **kwargs)
            else:
                loop = id(asyncio.get_running_loop())
                semaphore = semaphores.setdefault(loop, asyncio.Semaphore(capacity))
                async with semaphore:
                    result = await strategy.invoke(once, *args, **kwargs)
            if cache_strategy is not None:
                cache_strategy.put(key, result)
            return result

        return wrapper

    return decorate
