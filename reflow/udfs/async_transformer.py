"""``pw.AsyncTransformer``: a whole-row asynchronous transformation with its own output schema."""

from __future__ import annotations

from typing import Any, ClassVar

from reflow.api.functions import apply_with_type, fill_error
from reflow.api.schema import Schema
from reflow.api.table import Table
from reflow.plan import dtypes as dt
from reflow.udfs.caches import CacheStrategy
from reflow.udfs.executors import async_executor
from reflow.udfs.retries import AsyncRetryStrategy
from reflow.udfs.udf import udf

STATUS_COLUMN = "_async_status"
SUCCESS = "-SUCCESS-"
FAILURE = "-FAILURE-"


class AsyncTransformer:
    """Subclass it with ``output_schema=...`` and an ``async def invoke(self, **row) -> dict``.

    ``invoke`` receives a row's columns as keyword arguments and returns a dict with the columns
    of ``output_schema``. The result keeps the input ids. ``successful`` holds the rows whose
    call succeeded, ``failed`` the others (with ``None`` values), ``finished`` both with an
    ``_async_status`` column, ``output_table`` the same as ``finished`` (reflow delivers every
    result within the logical time of its row, so no row is left pending).

    >>> import reflow as pw
    >>> class Out(pw.Schema):
    ...     total: int
    >>> class Adder(pw.AsyncTransformer, output_schema=Out):
    ...     async def invoke(self, a: int, b: int) -> dict:
    ...         if a < 0:
    ...             raise ValueError("negative")
    ...         return {"total": a + b}
    >>> t = pw.debug.table_from_markdown('''
    ... a  | b
    ... 1  | 2
    ... -1 | 5
    ... ''')
    >>> adder = Adder(input_table=t)
    >>> pw.debug.compute_and_print(adder.successful, include_id=False)
    total
    3
    >>> pw.debug.compute_and_print(adder.failed, include_id=False)
    total
    <BLANKLINE>
    """

    output_schema: ClassVar[type[Schema]]

    def __init_subclass__(cls, /, output_schema: type[Schema] | None = None, **kwargs: Any):
        super().__init_subclass__(**kwargs)
        if output_schema is not None:
            cls.output_schema = output_schema

    def __init__(
        self, input_table: Table, *, instance: Any = None, autocommit_duration_ms: int = 1500
    ) -> None:
        if not hasattr(type(self), "output_schema"):
            raise TypeError(
                f"{type(self).__name__} needs an output schema: "
                f"class {type(self).__name__}(pw.AsyncTransformer, output_schema=...)"
            )
        self._input_table = input_table
        self._capacity: int | None = None
        self._timeout: float | None = None
        self._retry_strategy: AsyncRetryStrategy | None = None
        self._cache_strategy: CacheStrategy | None = None
        self._finished: Table | None = None

    def with_options(
        self,
        capacity: int | None = None,
        timeout: float | None = None,
        retry_strategy: AsyncRetryStrategy | None = None,
        cache_strategy: CacheStrategy | None = None,
    ) -> AsyncTransformer:
        """Set the concurrency, per-call timeout (seconds), retries and cache; returns self."""
        self._capacity = capacity
        self._timeout = timeout
        self._retry_strategy = retry_strategy
        self._cache_strategy = cache_strategy
        self._finished = None
        return self

    def open(self) -> None:
        """Called once before the first ``invoke``; override to set up resources."""

    def close(self) -> None:
        """Override to release what ``open`` acquired."""

    async def invoke(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        raise NotImplementedError(f"{type(self).__name__} must implement invoke")

    # --- results -------------------------------------------------------------------------------
    def _build(self) -> Table:
        if self._finished is not None:
            return self._finished
        opened: list[Any] = []

        async def call(**row: Any) -> Any:
            if not opened:
                opened.append(True)
                self.open()
            result = await self.invoke(**row)
            if not isinstance(result, dict):
                raise TypeError(f"invoke must return a dict, got {type(result).__name__}")
            return result

        call.__name__ = f"{type(self).__name__}.invoke"
        call.failures_are_results = True  # type: ignore[attr-defined]  # never fatal
        executor = async_executor(
            capacity=self._capacity, timeout=self._timeout, retry_strategy=self._retry_strategy
        )
        function = udf(
            call, return_type=Any, executor=executor, cache_strategy=self._cache_strategy
        )
        table = self._input_table
        # One select calls ``invoke`` once per row; the next one unpacks the returned dicts.
        called = table.select(_result=function(**{n: table[n] for n in table.column_names()}))
        result = called["_result"]
        # The status comes first, as in Pathway.
        status = apply_with_type(lambda r: SUCCESS, dt.STR, result)
        outputs: dict[str, Any] = {STATUS_COLUMN: fill_error(status, FAILURE)}
        for name, dtype in self.output_schema.dtypes().items():
            value = apply_with_type(_getter(name), dtype, result)
            outputs[name] = fill_error(value, None)
        self._finished = called.select(**outputs)
        return self._finished

    @property
    def output_table(self) -> Table:
        """Every row's result with its ``_async_status``."""
        return self._build()

    @property
    def finished(self) -> Table:
        """Rows whose call finished (succeeded or failed), with ``_async_status``."""
        return self._build()

    @property
    def successful(self) -> Table:
        """The results of the calls that succeeded."""
        finished = self._build()
        ok = finished.filter(finished[STATUS_COLUMN] == SUCCESS).without(STATUS_COLUMN)
        return ok.update_types(**self.output_schema.typehints())

    @property
    def failed(self) -> Table:
        """The rows whose call failed, with ``None`` in every output column."""
        finished = self._build()
        return finished.filter(finished[STATUS_COLUMN] == FAILURE).without(STATUS_COLUMN)


def _getter(name: str):
    def get(result: dict[str, Any]) -> Any:
        return result[name]

    get.__name__ = f"get {name!r}"
    return get
