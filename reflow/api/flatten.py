"""``Table.flatten``: one row per element of a list-like column."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import polars as pl

from reflow.api.resolve import Scope, resolve
from reflow.engine.values import Json
from reflow.plan import dtypes as dt
from reflow.plan import expr as ex
from reflow.plan.errors import BuildTypeError
from reflow.plan.nodes import ColumnInfo, FlattenNode

if TYPE_CHECKING:
    from reflow.api.table import Table


def _element_type(dtype: dt.DType) -> dt.DType:
    base = dtype.strip_optional()
    if isinstance(base, dt.List):
        return base.wrapped
    if isinstance(base, dt.Tuple):
        result = base.args[0] if base.args else dt.ANY
        for arg in base.args[1:]:
            result = dt.unify(result, arg)
        return result
    if base in (dt.JSON, dt.ANY, dt.STR) or isinstance(base, dt.Array):
        return dt.STR if base == dt.STR else (dt.JSON if base == dt.JSON else dt.ANY)
    raise TypeError(f"cannot flatten a column of type {dtype!r}")


def _elements_of(value: Any) -> list[Any] | None:
    if value is None:
        return None
    if isinstance(value, Json):
        inner = value.value
        if not isinstance(inner, list):
            raise ValueError(f"cannot flatten Json value {value}")
        return [Json(v) for v in inner]
    return list(value)


def flatten(table: Table, to_flatten: Any, *, origin_id: str | None, where: str) -> Table:
    from reflow.api.table import Table

    column = resolve(ex.wrap_arg(to_flatten), Scope.single(table))
    if not isinstance(column, ex.InputColumn) or column.name == "id":
        raise BuildTypeError("flatten needs a column of the table", where)
    try:
        element = _element_type(column.dtype)
    except TypeError as exc:
        raise BuildTypeError(f"column {column.name!r}: {exc}", where) from None
    columns = dict(table._node.columns)
    columns[column.name] = ColumnInfo(element, columns[column.name].fallible)
    if origin_id is not None:
        columns[origin_id] = ColumnInfo(dt.POINTER)
    storage = element.polars()
    source_storage = column.dtype.polars()

    def explode(series: pl.Series) -> tuple[pl.Series, pl.Series, pl.Series]:
        if source_storage == pl.String:
            series = series.str.split("").list.eval(pl.element().filter(pl.element() != ""))
        if isinstance(series.dtype, pl.List):
            frame = pl.DataFrame({"v": series}).with_row_index("row").with_columns(
                pl.int_ranges(0, pl.col("v").list.len()).alias("pos")
            ).explode(["v", "pos"]).drop_nulls("pos")
            return frame["row"], frame["pos"].cast(pl.Int64), frame["v"]
        rows: list[int] = []
        positions: list[int] = []
        values: list[Any] = []
        for row, value in enumerate(series.to_list()):
            for position, item in enumerate(_elements_of(value) or ()):
                rows.append(row)
                positions.append(position)
                values.append(item)
        return (
            pl.Series(rows, dtype=pl.UInt32),
            pl.Series(positions, dtype=pl.Int64),
            pl.Series(values, dtype=storage) if storage != pl.Object
            else pl.Series(values, dtype=pl.Object),
        )

    flat = Table(FlattenNode(table._node, column.name, columns, explode, origin_id, where))
    names = list(columns)
    if names[0] == column.name:
        return flat
    # The flattened column comes first, as in Pathway.
    order = [column.name, *(n for n in names if n != column.name)]
    return flat.select(*(ex.ThisReference("this", n) for n in order))
