"""``pw.udf`` and ``pw.UDF``: user Python functions called from table expressions.

A UDF call is a column expression. Its calls run in the engine's rowwise stages: one call per
row with the synchronous executor, or the whole batch of rows at once (concurrently for
``async def`` functions, in chunks of ``max_batch_size`` for batched functions). Non-
deterministic UDFs (the default) are never called again to retract a row: the plan remembers
the value they returned (``reflow.plan.udf_nodes``).
"""

from __future__ import annotations

import asyncio
import inspect
import typing
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from reflow.api.functions import return_annotation
from reflow.engine.operators.future_map import PendingCall
from reflow.plan import dtypes as dt
from reflow.plan import expr as ex
from reflow.plan.rowwise import RowFailure, is_numeric_array
from reflow.udfs._loop import run_coroutine
from reflow.udfs.caches import CacheStrategy, cache_key
from reflow.udfs.executors import (
    AsyncExecutor,
    AutoExecutor,
    Executor,
    FullyAsyncExecutor,
    SyncExecutor,
    async_executor,
    auto_executor,
)
from reflow.udfs.future_calls import start_calls
from reflow.udfs.retries import NoRetryStrategy

_ROW_COUNT = "\x00rows"  # hidden argument that tells a batched call how many rows it has


class UDFCall(ex.RowwiseCall):
    """The expression a UDF call builds: a rowwise call that knows whether it may be repeated."""

    def __init__(
        self,
        name: str,
        function: Callable[..., Any],
        args: Sequence[Any],
        return_type: dt.DType,
        kwargs: dict[str, Any],
        propagate_none: bool,
        batched: bool,
        deterministic: bool,
        fully_async: bool = False,
    ) -> None:
        super().__init__(name, function, args, return_type, kwargs, propagate_none, batched)
        self.deterministic = deterministic
        self.fully_async = fully_async


class UDF:
    """Base class of user-defined functions; subclasses implement ``__wrapped__``.

    Calling a UDF with columns gives a column expression. ``return_type`` defaults to the
    return annotation of ``__wrapped__`` (for ``max_batch_size`` UDFs, the element type of its
    ``list[...]`` annotation). ``deterministic=False`` (the default) promises nothing about
    repeated calls, so a row is never recomputed to be retracted. ``propagate_none`` skips the
    call and gives ``None`` when an argument is ``None``.

    >>> import reflow as pw
    >>> class Greet(pw.UDF):
    ...     def __init__(self, greeting: str) -> None:
    ...         super().__init__(deterministic=True)
    ...         self.greeting = greeting
    ...     def __wrapped__(self, name: str) -> str:
    ...         return f"{self.greeting}, {name}"
    >>> t = pw.debug.table_from_markdown('''
    ... name
    ... Ada
    ... ''')
    >>> pw.debug.compute_and_print(t.select(g=Greet("Hi")(pw.this.name)), include_id=False)
    g
    Hi, Ada
    """

    def __init__(
        self,
        *,
        return_type: Any = ...,
        deterministic: bool = False,
        propagate_none: bool = False,
        executor: Executor | None = None,
        cache_strategy: CacheStrategy | None = None,
        max_batch_size: int | None = None,
    ) -> None:
        if max_batch_size is not None and max_batch_size < 1:
            raise ValueError(f"max_batch_size must be at least 1, got {max_batch_size}")
        self.return_type = return_type
        self.deterministic = deterministic
        self.propagate_none = propagate_none
        self.executor = executor if executor is not None else auto_executor()
        self.cache_strategy = cache_strategy
        self.max_batch_size = max_batch_size

    def __wrapped__(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must implement __wrapped__")

    @property
    def func(self) -> Callable[..., Any]:
        """The Python function this UDF calls."""
        return self.__wrapped__

    @property
    def name(self) -> str:
        return getattr(self.func, "__name__", type(self).__name__)

    def __call__(self, *args: Any, **kwargs: Any) -> ex.ColumnExpression:
        function, batched = self._call_plan()
        if batched and not args and not kwargs:
            kwargs = {_ROW_COUNT: 0}
        fully_async = isinstance(self._executor(), FullyAsyncExecutor)
        return_type = self._result_dtype()
        return UDFCall(
            self.name,
            function,
            args,
            dt.Future(return_type) if fully_async else return_type,
            kwargs,
            self.propagate_none,
            batched,
            self.deterministic,
            fully_async,
        )

    # --- planning ----------------------------------------------------------------------------
    def _result_dtype(self) -> dt.DType:
        if self.return_type is not ... and self.return_type is not None:
            return dt.wrap(self.return_type)
        annotation = return_annotation(self.func)
        if self.max_batch_size is not None:
            if typing.get_origin(annotation) in (list, Sequence, typing.Sequence):
                (annotation,) = typing.get_args(annotation) or (Any,)
            else:
                annotation = _array_element_type(annotation)
        return dt.wrap(annotation)

    def _is_async(self) -> bool:
        func = self.func
        return inspect.iscoroutinefunction(func) or inspect.iscoroutinefunction(
            type(func).__call__ if not inspect.isroutine(func) else None
        )

    def _executor(self) -> Executor:
        executor = self.executor
        if isinstance(executor, AutoExecutor):
            return async_executor() if self._is_async() else SyncExecutor()
        if isinstance(executor, SyncExecutor) and self._is_async():
            return async_executor(capacity=1)
        return executor

    def _cache(self) -> CacheStrategy | None:
        if self.cache_strategy is None:
            return None
        func = self.func
        qualified = f"{getattr(func, '__module__', '')}.{getattr(func, '__qualname__', self.name)}"
        return self.cache_strategy.for_function(qualified)

    def _call_plan(self) -> tuple[Callable[..., Any], bool]:
        """The function the rowwise stage calls, and whether it takes whole columns."""
        executor = self._executor()
        cache = self._cache()
        if isinstance(executor, SyncExecutor):
            if self.max_batch_size is None:
                if cache is None:
                    return self.func, False
                return _cached_rows(self.func, self.name, cache), False
            return _SyncBatches(self.func, self.name, self.max_batch_size, cache), True
        assert isinstance(executor, AsyncExecutor)
        if isinstance(executor, FullyAsyncExecutor):
            return _FullyAsyncBatches(
                self.func, self.name, self.max_batch_size, cache, executor, self._is_async()
            ), True
        return _AsyncBatches(
            self.func, self.name, self.max_batch_size, cache, executor, self._is_async()
        ), True


def _array_element_type(annotation: Any) -> Any:
    """The Python type of the cells of a ``numpy.typing.NDArray[...]`` annotation, else Any."""
    if typing.get_origin(annotation) is not np.ndarray:
        return Any
    dtype_argument = typing.get_args(annotation)[-1]
    (scalar,) = typing.get_args(dtype_argument) or (None,)
    if isinstance(scalar, type):
        for numpy_type, python_type in ((np.bool_, bool), (np.integer, int), (np.floating, float)):
            if issubclass(scalar, numpy_type):
                return python_type
    return Any


class _FunctionUDF(UDF):
    def __init__(self, function: Callable[..., Any], **options: Any) -> None:
        super().__init__(**options)
        self.__wrapped__ = function  # type: ignore[method-assign]
        self.__doc__ = getattr(function, "__doc__", None)

    def __repr__(self) -> str:
        return f"<reflow UDF {self.name}>"


def udf(
    fun: Callable[..., Any] | None = None,
    /,
    *,
    return_type: Any = ...,
    deterministic: bool = False,
    propagate_none: bool = False,
    executor: Executor | None = None,
    cache_strategy: CacheStrategy | None = None,
    max_batch_size: int | None = None,
) -> Any:
    """Turn a Python function (plain or ``async def``) into a UDF usable on columns.

    Use it bare (``@pw.udf``) or with options (``@pw.udf(max_batch_size=100)``). An exception
    in the function makes that cell an error value and adds a row to ``pw.global_error_log()``.

    With ``max_batch_size`` the function is called once per batch of at most that many rows
    and receives one list per argument. A parameter annotated ``np.ndarray`` (or
    ``numpy.typing.NDArray[...]``) receives a numpy array instead, with no Python object made
    per value: numbers and booleans come as a plain (writable) copy of the column's memory,
    and a null number arrives as NaN
    (``propagate_none=True`` skips such rows). Returning a numeric numpy array is the fast
    way back; an ``NDArray[np.float64]`` return annotation gives a ``float`` column.

    >>> import reflow as pw
    >>> @pw.udf
    ... def concat(a: str, b: str) -> str:
    ...     return a + "-" + b
    >>> @pw.udf(max_batch_size=2, deterministic=True)
    ... def lengths(words: list[str]) -> list[int]:
    ...     return [len(w) for w in words]
    >>> t = pw.debug.table_from_markdown('''
    ... a  | b
    ... x  | yz
    ... uv | w
    ... ''')
    >>> pw.debug.compute_and_print(
    ...     t.select(c=concat(pw.this.a, pw.this.b), n=lengths(pw.this.b)), include_id=False
    ... )
    c    | n
    uv-w | 1
    x-yz | 2

    >>> import numpy as np
    >>> @pw.udf(max_batch_size=10_000)
    ... def squash(xs: np.ndarray) -> np.ndarray:
    ...     return np.tanh(xs / 10)
    >>> t = pw.debug.table_from_markdown('''
    ... x
    ... 0
    ... 5
    ... ''')
    >>> pw.debug.compute_and_print(t.select(y=squash(pw.this.x)), include_id=False)
    y
    0.0
    0.46211715726000974
    """
    options = {
        "return_type": return_type,
        "deterministic": deterministic,
        "propagate_none": propagate_none,
        "executor": executor,
        "cache_strategy": cache_strategy,
        "max_batch_size": max_batch_size,
    }
    if fun is None:
        return lambda f: _FunctionUDF(f, **options)
    return _FunctionUDF(fun, **options)


def apply_async(fun: Callable[..., Any], *args: Any, **kwargs: Any) -> ex.ColumnExpression:
    """Call ``fun`` (usually ``async def``) on each row, running the calls concurrently.

    >>> import asyncio
    >>> import reflow as pw
    >>> async def double(x: int) -> int:
    ...     await asyncio.sleep(0)
    ...     return 2 * x
    >>> t = pw.debug.table_from_markdown('''
    ... x
    ... 3
    ... ''')
    >>> pw.debug.compute_and_print(t.select(y=pw.apply_async(double, pw.this.x)), include_id=False)
    y
    6
    """
    return udf(fun, executor=async_executor())(*args, **kwargs)


# --- what the rowwise stage calls ----------------------------------------------------------------
def _cached_rows(func: Callable[..., Any], name: str, cache: CacheStrategy) -> Callable[..., Any]:
    missing = CacheStrategy.MISSING

    def cached(*args: Any, **kwargs: Any) -> Any:
        key = cache_key(name, args, kwargs)
        value = cache.get(key)
        if value is missing:
            value = func(*args, **kwargs)
            cache.put(key, value)
        return value

    cached.__name__ = name
    return cached


def _rows(columns: tuple[list[Any], ...], kw_columns: dict[str, list[Any]]):
    """Per-row ``(args, kwargs)`` from per-argument columns."""
    count = len(columns[0]) if columns else len(next(iter(kw_columns.values())))
    kw_columns = {k: v for k, v in kw_columns.items() if k != _ROW_COUNT}
    names = list(kw_columns)
    if not names:
        return count, [(row, {}) for row in zip(*columns)] if columns else [((), {})] * count
    kw_rows = zip(*kw_columns.values())
    if columns:
        return count, [
            (row, dict(zip(names, kw, strict=True)))
            for row, kw in zip(zip(*columns), kw_rows, strict=True)
        ]
    return count, [((), dict(zip(names, kw, strict=True))) for kw in kw_rows]


def _as_list(result: Any, expected: int) -> list[Any]:
    values = result.tolist() if hasattr(result, "tolist") else list(result)
    if len(values) != expected:
        raise ValueError(f"returned {len(values)} results for a batch of {expected} rows")
    return values


class _SyncBatches:
    """Calls a batched function on chunks of at most ``size`` rows, one chunk at a time."""

    def __init__(self, func, name: str, size: int, cache: CacheStrategy | None) -> None:
        self.func, self.name, self.size, self.cache = func, name, size, cache
        # Read by the rowwise stage: these arguments come as numpy arrays, not lists.
        self.array_parameters = array_parameters(func)

    def __call__(self, *columns: Any, **kw_columns: Any) -> Any:
        if self.cache is None:
            return self._uncached(columns, kw_columns)
        # Cache keys are made from Python values, whether the function takes arrays or lists.
        count, rows = _rows(_as_lists(columns), _as_lists(kw_columns))
        results: list[Any] = [None] * count
        todo, keys = _lookup(self.cache, self.name, rows, results)
        for start in range(0, len(todo), self.size):
            chunk = todo[start : start + self.size]
            try:
                chunk_columns, chunk_kw = _chunk_columns(columns, kw_columns, chunk)
                values = _as_list(self.func(*chunk_columns, **chunk_kw), len(chunk))
            except Exception as exc:  # noqa: BLE001 - the chunk's rows become errors
                for i in chunk:
                    results[i] = RowFailure(exc)
                continue
            for i, value in zip(chunk, values, strict=True):
                results[i] = value
                if self.cache is not None:
                    self.cache.put(keys[i], value)
        return results

    def _uncached(self, columns, kw_columns) -> Any:
        count = len(columns[0]) if columns else len(next(iter(kw_columns.values())))
        kw_columns = {k: v for k, v in kw_columns.items() if k != _ROW_COUNT}
        parts: list[Any] = []
        for start in range(0, count, self.size):
            end = min(start + self.size, count)
            try:
                out = self.func(
                    *(c[start:end] for c in columns),
                    **{k: v[start:end] for k, v in kw_columns.items()},
                )
                if not is_numeric_array(out) or len(out) != end - start:
                    out = _as_list(out, end - start)
            except Exception as exc:  # noqa: BLE001 - the chunk's rows become errors
                out = [RowFailure(exc)] * (end - start)
            parts.append(out)
        if parts and all(is_numeric_array(p) for p in parts):
            # Numeric arrays go to the column without a detour through Python objects.
            return parts[0] if len(parts) == 1 else np.concatenate(parts)
        results: list[Any] = []
        for part in parts:
            results.extend(part.tolist() if is_numeric_array(part) else part)
        return results


def _as_lists(columns: Any) -> Any:
    """``columns`` (a tuple, or a dict by name) with numpy arrays turned into lists."""
    if isinstance(columns, dict):
        return {k: v.tolist() if isinstance(v, np.ndarray) else v for k, v in columns.items()}
    return tuple(c.tolist() if isinstance(c, np.ndarray) else c for c in columns)


def _take(column: Any, rows: list[int]) -> Any:
    """The cells ``rows`` of a list or numpy array column, of the same kind."""
    if isinstance(column, np.ndarray):
        return column[np.asarray(rows, dtype=np.int64)]
    return [column[i] for i in rows]


def array_parameters(func: Callable[..., Any]) -> frozenset[int | str]:
    """Parameters of a batched ``func`` annotated as numpy arrays, by position and by name.

    Such a parameter receives each batch as a numpy array instead of a list, with no
    conversion to Python objects.

    >>> import numpy as np
    >>> def f(xs: np.ndarray, names: list[str], *, ws: np.ndarray) -> list[float]: ...
    >>> sorted(array_parameters(f), key=str)
    [0, 'ws', 'xs']
    """
    try:
        parameters = inspect.signature(func).parameters
    except (TypeError, ValueError):
        return frozenset()
    try:
        hints = typing.get_type_hints(func)
    except Exception:  # noqa: BLE001 - unresolvable annotations: use them as written
        hints = {}
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    found: set[int | str] = set()
    for position, (name, parameter) in enumerate(parameters.items()):
        annotation = hints.get(name, parameter.annotation)
        if annotation is np.ndarray or typing.get_origin(annotation) is np.ndarray:
            found.add(name)
            if parameter.kind in positional:
                found.add(position)
    return frozenset(found)


def _lookup(cache, name, rows, results) -> tuple[list[int], list[str]]:
    """Fill ``results`` from the cache; returns the rows still to compute and their keys."""
    if cache is None:
        return list(range(len(rows))), []
    todo: list[int] = []
    keys: list[str] = []
    for i, (args, kwargs) in enumerate(rows):
        key = cache_key(name, args, kwargs)
        keys.append(key)
        value = cache.get(key)
        if value is CacheStrategy.MISSING:
            todo.append(i)
        else:
            results[i] = value
    return todo, keys


class _AsyncBatches:
    """Runs the calls of a batch concurrently on the background event loop."""

    def __init__(self, func, name, size, cache, executor: AsyncExecutor, is_async) -> None:
        self.func, self.name, self.size, self.cache = func, name, size, cache
        self.capacity = executor.capacity
        self.timeout = executor.timeout
        self.retry = executor.retry_strategy or NoRetryStrategy()
        self.is_async = is_async
        # Read by the rowwise stage: failures of this function never stop a run.
        self.failures_are_results = getattr(func, "failures_are_results", False)
        if size is not None:  # read by the rowwise stage, as for synchronous batches
            self.array_parameters = array_parameters(func)

    def __call__(self, *columns: Any, **kw_columns: Any) -> list[Any]:
        count, rows = _rows(_as_lists(columns), _as_lists(kw_columns))
        results: list[Any] = [None] * count
        todo, keys = _lookup(self.cache, self.name, rows, results)
        if todo:
            run_coroutine(self._run(rows, todo, keys, results, (columns, kw_columns)))
        return results

    async def _attempt(self, *args: Any, **kwargs: Any) -> Any:
        if not self.is_async:
            result = self.func(*args, **kwargs)
            return await result if inspect.isawaitable(result) else result
        if self.timeout is None:
            return await self.func(*args, **kwargs)
        return await asyncio.wait_for(self.func(*args, **kwargs), self.timeout)

    async def _run(self, rows, todo, keys, results, columns) -> None:
        """Compute rows ``todo`` (``rows``: per-row arguments; ``columns``: the argument
        columns as given, for batches) into ``results``."""
        if self.size is None:
            groups = [[i] for i in todo]
            jobs = [rows[i] for i in todo]
        else:
            groups = [todo[s : s + self.size] for s in range(0, len(todo), self.size)]
            positional, keywords = columns
            jobs = [_chunk_columns(positional, keywords, g) for g in groups]
        outcomes: list[Any] = [None] * len(jobs)
        attempt = self._attempt
        invoke = None if isinstance(self.retry, NoRetryStrategy) else self.retry.invoke
        pending = iter(enumerate(jobs))

        async def worker() -> None:
            # ``capacity`` workers share one iterator of jobs: at most that many calls run at
            # a time, and no task is created per row.
            for k, (args, kwargs) in pending:
                try:
                    if invoke is None:
                        outcomes[k] = await attempt(*args, **kwargs)
                    else:
                        outcomes[k] = await invoke(attempt, *args, **kwargs)
                except Exception as exc:  # noqa: BLE001 - the row (or chunk) becomes an error
                    outcomes[k] = RowFailure(exc)

        workers = len(jobs) if self.capacity is None else min(self.capacity, len(jobs))
        await asyncio.gather(*(worker() for _ in range(workers)))
        for group, outcome in zip(groups, outcomes, strict=True):
            if isinstance(outcome, RowFailure):
                for i in group:
                    results[i] = outcome
                continue
            if self.size is None:
                values = [outcome]
            else:
                try:
                    values = _as_list(outcome, len(group))
                except Exception as exc:  # noqa: BLE001
                    for i in group:
                        results[i] = RowFailure(exc)
                    continue
            for i, value in zip(group, values, strict=True):
                results[i] = value
                if self.cache is not None:
                    self.cache.put(keys[i], value)


class _FullyAsyncBatches(_AsyncBatches):
    """Answers every row with a pending token at once; results are delivered later."""

    def __call__(self, *columns: Any, **kw_columns: Any) -> list[Any]:
        count, rows = _rows(_as_lists(columns), _as_lists(kw_columns))
        results: list[Any] = [None] * count
        todo, keys = _lookup(self.cache, self.name, rows, results)
        if todo:
            tokens: list[Any] = [None] * count
            for i in todo:
                tokens[i] = results[i] = PendingCall()
            start_calls(self, rows, todo, keys, tokens, (columns, kw_columns))
        return results


def _chunk_columns(
    columns: tuple[Any, ...], kw_columns: dict[str, Any], group: list[int]
) -> tuple[list[Any], dict[str, Any]]:
    """Positional and keyword argument columns of the rows ``group`` (lists or arrays)."""
    return [_take(c, group) for c in columns], {
        k: _take(v, group) for k, v in kw_columns.items() if k != _ROW_COUNT
    }
