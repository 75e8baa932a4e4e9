"""User-defined functions: ``pw.udf``, ``pw.UDF``, executors, caches and retry strategies.

How calls run:

- ``sync_executor()`` (the default for plain functions) calls the function row after row in a
  bare loop; with ``max_batch_size`` it is called once per chunk of at most that many rows and
  receives lists (a numeric numpy array it returns becomes the column without a copy).
- ``async_executor(capacity=, timeout=, retry_strategy=)`` (the default for ``async def``)
  runs a batch's calls on a background event loop, at most ``capacity`` at a time; ``timeout``
  (seconds) bounds each attempt and the retry strategy repeats failed attempts.
- ``fully_async_executor()`` does not wait: the row is emitted at once with ``Pending`` in the
  cell (column type ``Future(T)``) and the calls run in the background; each result arrives
  later as an update (the pending row retracted, the row with the result inserted). A
  retraction of the row retracts whatever was emitted last and drops a later result.
  ``Table.await_futures()`` keeps only rows with no pending cell, typed ``T``.
- An exception becomes an error value in the cell and a row of ``pw.global_error_log()``
  naming the function and the exception (fatal with ``terminate_on_error=True``).
- ``deterministic=False`` (the default): selects and filters calling the UDF remember the rows
  they produced and retract exactly those, without calling the function again.
- Caches (``InMemoryCache``, ``DiskCache``/``DefaultCache`` under ``REFLOW_UDF_CACHE_DIR``)
  keep successful results by function name and arguments.

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

from reflow.api.table import Table
from reflow.udfs.async_options import async_options
from reflow.udfs.async_transformer import AsyncTransformer
from reflow.udfs.caches import CacheStrategy, DefaultCache, DiskCache, InMemoryCache
from reflow.udfs.executors import (
    Executor,
    async_executor,
    auto_executor,
    fully_async_executor,
    sync_executor,
)
from reflow.udfs.futures import await_futures
from reflow.udfs.retries import (
    AsyncRetryStrategy,
    ExponentialBackoffRetryStrategy,
    FixedDelayRetryStrategy,
    NoRetryStrategy,
)
from reflow.udfs.udf import UDF, apply_async, udf

# ``t.await_futures()``: packages built on the Table add their methods themselves.
Table.await_futures = await_futures  # type: ignore[attr-defined]

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
    "async_options",
    "auto_executor",
    "fully_async_executor",
    "sync_executor",
    "udf",
]
