"""User-defined functions: ``pw.udf``, ``pw.UDF``, executors, caches and retry strategies.

>>> import reflow as pw
>>> @pw.udf(deterministic=True)
... def square(x: int) -> int:
...     return x * x
>>> t = pw.debug.table_from_markdown('''
... x
... 3
... ''')
>>> pw.debug.compute_and_print(t.select(y=square(pw.this.x)), include_id=False)
y
9
"""

from reflow.udfs.async_transformer import AsyncTransformer
from reflow.udfs.caches import CacheStrategy, DefaultCache, DiskCache, InMemoryCache
from reflow.udfs.executors import (
    Executor,
    async_executor,
    auto_executor,
    fully_async_executor,
    sync_executor,
)
from reflow.udfs.retries import (
    AsyncRetryStrategy,
    ExponentialBackoffRetryStrategy,
    FixedDelayRetryStrategy,
    NoRetryStrategy,
)
from reflow.udfs.udf import UDF, apply_async, udf

__all__ = [
    "UDF",
    "AsyncRetryStrategy",
    "AsyncTransformer",
    "CacheStrategy",
    "DefaultCache",
    "DiskCache",
    "Executor",
    "ExponentialBackoffRetryStrategy",
    "FixedDelayRetryStrategy",
    "InMemoryCache",
    "NoRetryStrategy",
    "apply_async",
    "async_executor",
    "auto_executor",
    "fully_async_executor",
    "sync_executor",
    "udf",
]
