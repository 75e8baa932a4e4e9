"""Building engine batches from Python rows (used by debug tables and connectors)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl

from reflow.engine.batch import DIFF, DIFF_DTYPE, ID, ID_DTYPE
from reflow.engine.values import ERROR, Json, Pointer
from reflow.plan import dtypes as dt
from reflow.plan.error_columns import error_column
from reflow.plan.rowwise import series_values


def to_cell(value: Any, dtype: dt.DType) -> Any:
    """A Python value as it is stored in a column of type ``dtype``."""
    if value is None:
        return None
    base = dtype.strip_optional()
    if base == dt.JSON and not isinstance(value, Json):
        return Json(value)
    if base == dt.POINTER and isinstance(value, Pointer):
        return value.value
    if isinstance(base, (dt.Tuple, dt.List)) and isinstance(value, list):
        return tuple(value)
    if base == dt.FLOAT and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def column_series(name: str, values: Sequence[Any], dtype: dt.DType) -> pl.Series:
    """A Polars column of type ``dtype`` holding ``values`` (already converted by ``to_cell``)."""
    storage = dtype.polars()
    if storage == pl.Object:
        return pl.Series(name, list(values), dtype=pl.Object)
    return pl.Series(name, list(values), dtype=storage, strict=False)


# Types whose Python values ``to_cell`` returns unchanged.
_STORED_AS_GIVEN = (dt.INT, dt.STR, dt.BOOL, dt.BYTES)


def make_batch(
    dtypes: dict[str, dt.DType],
    ids: Sequence[int] | pl.Series,
    columns: Mapping[str, Sequence[Any] | pl.Series],
    diffs: Sequence[int],
) -> pl.DataFrame:
    """A delta batch from ids, per-column Python values (or Polars columns already of the
    column's storage type) and diffs."""
    if isinstance(ids, pl.Series):
        series = [ids.rename(ID).cast(ID_DTYPE)]
    else:
        series = [pl.Series(ID, list(ids), dtype=ID_DTYPE)]
    for name, dtype in dtypes.items():
        values = columns[name]
        if isinstance(values, pl.Series):
            if values.dtype == dtype.polars():
                series.append(values.alias(name))  # already typed: no trip through Python
                continue
            values = values.to_list()
        if dtype.strip_optional() not in _STORED_AS_GIVEN:
            values = [to_cell(v, dtype) for v in values]
        series.append(column_series(name, values, dtype))
    series.append(pl.Series(DIFF, list(diffs), dtype=DIFF_DTYPE))
    return pl.DataFrame(series)


def rows_of(columns: dict, delta: pl.DataFrame):
    """``(id, {column: value}, diff)`` for every row of a batch, errors shown as ``Error``."""
    ids = [Pointer(v) for v in delta[ID].to_list()]
    diffs = delta[DIFF].to_list()
    values: dict[str, list[Any]] = {}
    for name, info in columns.items():
        cells = series_values(delta[name])
        if info.dtype.strip_optional() == dt.POINTER:
            cells = [None if v is None else Pointer(v) for v in cells]
        if info.fallible:
            errors = delta[error_column(name)].to_list()
            cells = [ERROR if e else v for v, e in zip(cells, errors, strict=True)]
        values[name] = cells
    for i, row_id in enumerate(ids):
        yield row_id, {name: values[name][i] for name in columns}, diffs[i]
