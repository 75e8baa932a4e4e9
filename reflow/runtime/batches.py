"""Building engine batches from Python rows (used by debug tables and connectors)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import polars as pl

from reflow.api import dtypes as dt
from reflow.engine.batch import DIFF, DIFF_DTYPE, ID, ID_DTYPE
from reflow.engine.values import Json, Pointer


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
    ids: Sequence[int],
    columns: dict[str, Sequence[Any]],
    diffs: Sequence[int],
) -> pl.DataFrame:
    """A delta batch from ids, per-column Python values and diffs."""
    series = [pl.Series(ID, list(ids), dtype=ID_DTYPE)]
    for name, dtype in dtypes.items():
        values = columns[name]
        if dtype.strip_optional() not in _STORED_AS_GIVEN:
            values = [to_cell(v, dtype) for v in values]
        series.append(column_series(name, values, dtype))
    series.append(pl.Series(DIFF, list(diffs), dtype=DIFF_DTYPE))
    return pl.DataFrame(series)
