"""Python functions over the rows of a batch: the run-time part of compiled expressions.

A ``RowwiseStage`` computes its arguments with Polars, calls the function per row (or per
batch for batched UDFs) ``ROW_CHUNK`` rows at a time, and attaches the result as a column;
a call that raises turns its cell into an error value.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import polars as pl

from reflow.engine.batch import ID
from reflow.engine.lazy_modules import imported_on_use
from reflow.engine.operator import RunContext
from reflow.engine.values import Pointer
from reflow.plan import dtypes as dt
from reflow.plan.error_columns import error_column

if TYPE_CHECKING:
    import numpy as np
else:
    np = imported_on_use("numpy", globals(), "np")


@dataclass
class Compiled:
    value: pl.Expr
    error: pl.Expr | None = None


def any_error(*errors: pl.Expr | None) -> pl.Expr | None:
    present = [e for e in errors if e is not None]
    if not present:
        return None
    result = present[0]
    for e in present[1:]:
        result = result | e
    return result


class RowFailure:
    """A batched function's result for one row whose computation raised ``exception``."""

    __slots__ = ("exception",)

    def __init__(self, exception: Exception) -> None:
        self.exception = exception


class _LazyIds:
    """Ids of the called rows of a frame, converted to Python only for the rows asked for.

    ``rows`` maps a called row to its row in ``frame`` (``None``: every row is called);
    ``start`` is the called row that position 0 stands for.
    """

    def __init__(self, frame: pl.DataFrame, rows: Any = None, start: int = 0) -> None:
        self.frame, self.rows, self.start = frame, rows, start

    def shifted(self, start: int) -> _LazyIds:
        return _LazyIds(self.frame, self.rows, self.start + start)

    def __getitem__(self, position: int) -> Any:
        if ID not in self.frame.columns:
            return None
        row = self.start + position
        return self.frame[ID][row if self.rows is None else int(self.rows[row])]


ROW_CHUNK = 8192  # rows converted and called at a time by ``RowwiseStage``


def is_numeric_array(values: Any) -> bool:
    """Whether ``values`` is a one-dimensional numpy array of numbers or booleans."""
    kind = getattr(getattr(values, "dtype", None), "kind", None)
    return kind in ("i", "u", "f", "b") and getattr(values, "ndim", 0) == 1


def _array_series(values: Any, dtype: dt.DType) -> pl.Series | None:
    """A column of type ``dtype`` straight from a numeric array, or ``None`` if it does not fit."""
    base = dtype.strip_optional()
    kind = values.dtype.kind
    if base == dt.FLOAT and kind in ("i", "u", "f"):
        return pl.Series(values).cast(pl.Float64)
    if base == dt.INT and kind in ("i", "u"):
        try:
            return pl.Series(values).cast(pl.Int64)
        except pl.exceptions.PolarsError:  # out of range: checked value by value instead
            return None
    if base == dt.BOOL and kind == "b":
        return pl.Series(values)
    return None


class RowwiseStage:
    """Calls a Python function on every row, before the vectorized part of a kernel runs."""

    def __init__(
        self,
        out: str,
        name: str,
        function: Callable[..., Any],
        args: list[Compiled],
        arg_types: list[dt.DType],
        kwarg_names: list[str],
        result_type: dt.DType,
        propagate_none: bool,
        guard: pl.Expr | None,
        where: str,
        batched: bool = False,
        vectorized: Callable[[pl.DataFrame], pl.Series] | None = None,
        none_is_error: bool = False,
    ) -> None:
        self.out = out
        # A function declared to return a non-optional type that returns None gives an
        # error value naming it, not a None the type says cannot be there.
        self.none_is_error = none_is_error and not (
            result_type.is_optional or result_type.strip_optional() in (dt.ANY, dt.JSON)
        )
        self.name = name
        self.function = function
        self.args = args
        self.arg_types = arg_types
        self.kwarg_names = kwarg_names
        self.result_type = result_type
        self.propagate_none = propagate_none
        self.guard = guard
        self.where = where
        self.batched = batched
        self.vectorized = vectorized

    def run(self, frame: pl.DataFrame, ctx: RunContext, operator: str) -> pl.DataFrame:
        """``frame`` with this stage's column and its error companion attached."""
        return StageGroup([self]).run(frame, ctx, operator)

    def input_columns(self, prefix: str) -> list[pl.Expr]:
        """What the stage needs from the frame, as columns named after ``prefix``: the
        arguments, whether an argument is an error (``err``), and which rows are not called
        (``skip``: errors, rows outside the guard and, with ``propagate_none``, a None)."""
        arg_error = any_error(*(a.error for a in self.args))
        err = pl.lit(False) if arg_error is None else arg_error.fill_null(False)
        skip = err
        if self.guard is not None:
            skip = skip | ~self.guard.fill_null(False)
        if self.propagate_none and self.args:
            skip = skip | pl.any_horizontal(a.value.is_null() for a in self.args)
        return [
            *(a.value.alias(f"{prefix}a{i}") for i, a in enumerate(self.args)),
            err.alias(f"{prefix}err"),
            skip.alias(f"{prefix}skip"),
        ]

    def compute(
        self, inputs: pl.DataFrame, prefix: str, frame: pl.DataFrame, ctx: RunContext,
        operator: str,
    ) -> tuple[pl.Series, pl.Series]:
        """The stage's values and error flags for ``frame``, from the columns of
        ``input_columns(prefix)`` in ``inputs``."""
        err = inputs[f"{prefix}err"]
        args = [inputs[f"{prefix}a{i}"] for i in range(len(self.args))]
        if self.vectorized is not None:
            values = self.vectorized(
                pl.DataFrame([inputs["row"], *(a.alias(f"a{i}") for i, a in enumerate(args))])
            )
            return values, err
        n_pos = len(self.args) - len(self.kwarg_names)
        skip = inputs[f"{prefix}skip"]
        rows = None  # positions of the rows the function is called on, when some are skipped
        if skip.any():
            rows = np.flatnonzero(~skip.to_numpy())
            args = [arg.gather(rows) for arg in args]
        count = frame.height if rows is None else len(rows)
        ids = _LazyIds(frame, rows)
        if self.batched:
            columns = self._arguments(args, n_pos)
            values, failed = self._result_column(
                *self._call_batched(columns, n_pos, count), ids, ctx, operator
            )
        else:
            values, failed = self._call_in_chunks(args, n_pos, count, ids, ctx, operator)
        if rows is not None:
            # Skipped rows get a null value; rows whose arguments were errors stay errors.
            position = pl.Series(np.full(frame.height, -1, dtype=np.int64))
            position[rows] = np.arange(count)
            position = position.set(position < 0, None)
            values = values.gather(position)
            if failed is not None:
                err = err | pl.Series(failed, dtype=pl.Boolean).gather(position).fill_null(
                    False
                )
            return values, err
        if failed is not None:
            err = pl.Series(failed, dtype=pl.Boolean)
        return values, err

    def _call_in_chunks(
        self,
        args: list[pl.Series],
        n_pos: int,
        count: int,
        ids: _LazyIds,
        ctx: RunContext,
        operator: str,
    ) -> tuple[pl.Series, list[bool] | None]:
        """Call the function row by row, converting arguments and results a chunk at a time.

        Chunks keep the Python objects of arguments and results small enough to stay in the
        CPU cache and to be freed and reused at once (measured: ~30% less time than converting
        a million-row column in one piece).
        """
        parts: list[pl.Series] = []
        failed: list[bool] | None = None
        for start in range(0, count, ROW_CHUNK):
            size = min(ROW_CHUNK, count - start)
            columns = self._arguments([arg.slice(start, size) for arg in args], n_pos)
            out, errors = self._call_rows(columns, n_pos, size)
            part, part_failed = self._result_column(out, errors, ids.shifted(start), ctx, operator)
            parts.append(part)
            if part_failed is not None:
                failed = failed or [False] * start
                failed.extend(part_failed)
            elif failed is not None:
                failed.extend([False] * size)
        if not parts:
            return pl.Series([], dtype=self.result_type.polars()), None
        return pl.concat(parts, rechunk=False) if len(parts) > 1 else parts[0], failed

    def _arguments(self, args: list[pl.Series], n_pos: int) -> list[Any]:
        """The argument columns as the function takes them: lists, or numpy arrays if asked."""
        wants_array = self._array_positions
        return [
            (to_numpy_values if i in wants_array else to_python_values)(arg, self.arg_types[i])
            for i, arg in enumerate(args)
        ]

    def _result_column(
        self,
        out: Any,
        errors: list[tuple[int, Exception]],
        ids: _LazyIds,
        ctx: RunContext,
        operator: str,
    ) -> tuple[pl.Series, list[bool] | None]:
        """The results as a column, and which rows failed (``None``: none did)."""
        if not errors and is_numeric_array(out):
            series = _array_series(out, self.result_type)
            if series is not None:
                return series, None
        if not isinstance(out, list):
            out = out.tolist()
        failed = None
        if errors:
            failed = [False] * len(out)
            for position, exc in errors:
                failed[position] = True
                ctx.report_error(
                    operator, self._message(exc), ids[position], exc,
                    fatal=not getattr(self.function, "failures_are_results", False),
                )
        if self.none_is_error and any(value is None for value in out):
            failed = failed or [False] * len(out)
            for position, value in enumerate(out):
                if value is None and not failed[position]:
                    failed[position] = True
                    ctx.report_error(
                        operator,
                        f"{self.name} returned None, but its result type {self.result_type!r} "
                        f"is not optional ({self.where})",
                        ids[position],
                        TypeError,
                    )
        return from_python_values(
            out, self.result_type, failed, self.name, ids, ctx, operator  # type: ignore[arg-type]
        )

    @functools.cached_property
    def _array_positions(self) -> set[int]:
        """Arguments (by position in ``self.args``) the function takes as numpy arrays; worked
        out once, not per chunk."""
        wanted = getattr(self.function, "array_parameters", None)
        if not wanted:
            return set()
        names = self.kwarg_names
        n_pos = len(self.args) - len(names)
        return {
            i for i in range(len(self.args)) if (i if i < n_pos else names[i - n_pos]) in wanted
        }

    def _call_rows(
        self, columns: list[list[Any]], n_pos: int, count: int
    ) -> tuple[list[Any], list[tuple[int, Exception]]]:
        """Call the function once per row; a raising row gives ``None`` and an error entry."""
        function: Callable[..., Any] = self.function
        if self.kwarg_names:
            names = self.kwarg_names
            user = function

            def with_keywords(*row: Any) -> Any:
                return user(*row[:n_pos], **dict(zip(names, row[n_pos:], strict=True)))

            function = with_keywords
        results: list[Any] = []
        errors: list[tuple[int, Exception]] = []
        iterators: list[Iterator[Any]]
        if columns:
            iterators = [iter(column) for column in columns]
        else:
            user_function = function
            iterators = [iter(range(count))]

            def without_arguments(_row: int) -> Any:
                return user_function()

            function = without_arguments

        while True:
            # ``extend`` keeps the results made before a call raises; the calls then resume
            # after the failing row, so the happy path is a single C-level loop.
            try:
                results.extend(map(function, *iterators))
                break
            except Exception as exc:  # noqa: BLE001 - any user exception is a cell error
                errors.append((len(results), exc))
                results.append(None)
        return results, errors

    def _call_batched(
        self, columns: list[list[Any]], n_pos: int, count: int
    ) -> tuple[list[Any], list[tuple[int, Exception]]]:
        """Call the function once with lists of arguments; it returns one result per row.

        A result that is a ``RowFailure`` marks that row alone as failed.
        """
        if count == 0:
            return [], []
        try:
            out = self.function(
                *columns[:n_pos], **dict(zip(self.kwarg_names, columns[n_pos:], strict=True))
            )
            if is_numeric_array(out) and len(out) == count:
                return out, []  # a whole numeric column: no per-row failures possible
            out = list(out)
            if len(out) != count:
                raise ValueError(f"returned {len(out)} results for {count} rows")
        except Exception as exc:  # noqa: BLE001
            return [None] * count, [(i, exc) for i in range(count)]
        errors = [(i, v.exception) for i, v in enumerate(out) if isinstance(v, RowFailure)]
        for i, _ in errors:
            out[i] = None
        return out, errors

    def _message(self, exc: Exception) -> str:
        return f"{self.name}: {type(exc).__name__}: {exc} ({self.where})"


def series_values(series: pl.Series) -> list[Any]:
    """``series.to_list()``, except that a date-time or duration with a part below a
    microsecond comes as a ``pandas.Timestamp``/``Timedelta`` (subclasses of Python's types,
    which stop at microseconds), so no nanosecond is lost.

    >>> import datetime
    >>> series_values(pl.Series([1_000, 1_001], dtype=pl.Int64).cast(pl.Duration("ns")))
    [datetime.timedelta(microseconds=1), Timedelta('0 days 00:00:00.000001001')]
    """
    values = series.to_list()
    kind = series.dtype
    if not isinstance(kind, (pl.Datetime, pl.Duration)) or kind.time_unit != "ns":
        return values
    nanoseconds = series.to_physical()
    finer = (nanoseconds % 1000 != 0).fill_null(False)
    if finer.any():
        import pandas as pd

        for i in finer.arg_true().to_list():
            if isinstance(kind, pl.Duration):
                values[i] = pd.Timedelta(nanoseconds[i], unit="ns")
            else:
                values[i] = pd.Timestamp(nanoseconds[i], unit="ns", tz=kind.time_zone)
    return values


def to_python_values(series: pl.Series, dtype: dt.DType) -> list[Any]:
    """Cells of ``series`` as the Python values user functions receive: date-times and
    durations as ``pandas.Timestamp``/``Timedelta``, as in Pathway.

    >>> to_python_values(pl.Series([86_400_000_000], dtype=pl.Duration("us")), dt.DURATION)
    [Timedelta('1 days 00:00:00')]
    """
    if isinstance(series.dtype, (pl.Datetime, pl.Duration)):
        return _pandas_values(series)
    values = series_values(series)
    base = dtype.strip_optional()
    if base == dt.POINTER:
        return [None if v is None else Pointer(v) for v in values]
    return values


def _pandas_values(series: pl.Series) -> list[Any]:
    """A date-time or duration column as pandas values (None for nulls)."""
    import pandas as pd

    kind = series.dtype
    assert isinstance(kind, (pl.Datetime, pl.Duration))
    unit = kind.time_unit
    counts = series.to_physical().to_list()
    if isinstance(kind, pl.Duration):
        return [None if n is None else pd.Timedelta(n, unit=unit) for n in counts]
    zone = kind.time_zone
    return [None if n is None else pd.Timestamp(n, unit=unit, tz=zone) for n in counts]


def to_numpy_values(series: pl.Series, dtype: dt.DType) -> np.ndarray:
    """Cells of ``series`` as one numpy array, for functions that take whole columns as arrays.

    Numbers and booleans come as one copy of the column's memory, writable so that a function
    may work in place (a null integer or float becomes NaN); other types come as an object
    array of the values a function receives.
    """
    if (series.dtype.is_numeric() and series.dtype != pl.UInt128) or series.dtype == pl.Boolean:
        return series.to_numpy(writable=True)
    values = to_python_values(series, dtype)
    return np.fromiter(values, dtype=object, count=len(values))


def from_python_values(
    values: list[Any],
    dtype: dt.DType,
    failed: list[bool] | None,
    name: str,
    ids: Sequence[Any],
    ctx: RunContext,
    operator: str,
) -> tuple[pl.Series, list[bool] | None]:
    """A column of type ``dtype`` from Python values; values of the wrong type become errors.

    ``failed`` marks the rows already failed (``None``: none); it is returned with the rows
    whose value did not fit added (still ``None`` when no row failed).
    """
    base = dtype.strip_optional()
    storage = dtype.polars()
    if base == dt.POINTER:
        values = [int(v) if isinstance(v, Pointer) else v for v in values]
    if storage == pl.Object:
        if base == dt.JSON:
            from reflow.engine.values import Json

            values = [v if v is None or isinstance(v, Json) else Json(v) for v in values]
        if isinstance(base, (dt.Tuple, dt.List)):
            values = [tuple(v) if isinstance(v, list) else v for v in values]
        return pl.Series(values, dtype=pl.Object), failed
    try:
        return pl.Series(values, dtype=storage, strict=True), failed
    except (TypeError, ValueError, OverflowError, pl.exceptions.PolarsError):
        pass
    if failed is None:
        failed = [False] * len(values)
    checked = []
    for i, value in enumerate(values):
        try:
            checked.append(pl.Series([value], dtype=storage, strict=True)[0])
        except (TypeError, ValueError, OverflowError, pl.exceptions.PolarsError):
            checked.append(None)
            if not failed[i]:
                failed[i] = True
                ctx.report_error(
                    operator,
                    f"{name}: returned {value!r}, which is not of type {dtype!r}",
                    ids[i],
                    TypeError,
                )
    return pl.Series(checked, dtype=storage), failed


class StageGroup:
    """Stages none of which reads another's column, run together: the arguments of every
    stage come from one Polars query and the results are attached at once (each query costs
    a fixed ~0.1 ms or more, several times what a few hundred Json field reads cost)."""

    def __init__(self, stages: Sequence[RowwiseStage]) -> None:
        self.stages = list(stages)
        # the query, built once
        self.columns = [
            pl.int_range(pl.len()).alias("row"),
            *(c for i, stage in enumerate(self.stages) for c in stage.input_columns(f"s{i}.")),
        ]

    def run(self, frame: pl.DataFrame, ctx: RunContext, operator: str) -> pl.DataFrame:
        """``frame`` with the columns of the stages (and their error companions) attached."""
        inputs = frame.select(self.columns)
        added: list[pl.Series] = []
        for i, stage in enumerate(self.stages):
            values, errors = stage.compute(inputs, f"s{i}.", frame, ctx, operator)
            added += [values.alias(stage.out), errors.alias(error_column(stage.out))]
        if any(column.name in frame.columns for column in added):
            return frame.with_columns(added)
        return frame.hstack(added)


def stage_levels(stages: Sequence[RowwiseStage]) -> list[StageGroup]:
    """``stages`` (each after the stages it reads) as groups in which no stage reads a column
    of its own group; the groups run in order."""
    level_of: dict[str, int] = {}
    levels: list[list[RowwiseStage]] = []
    for stage in stages:
        exprs = [e for a in stage.args for e in (a.value, a.error) if e is not None]
        if stage.guard is not None:
            exprs.append(stage.guard)
        read = {name for e in exprs for name in e.meta.root_names()}
        level = max((level_of[name] + 1 for name in read if name in level_of), default=0)
        level_of[stage.out] = level_of[error_column(stage.out)] = level
        if level == len(levels):
            levels.append([])
        levels[level].append(stage)
    return [StageGroup(level) for level in levels]
