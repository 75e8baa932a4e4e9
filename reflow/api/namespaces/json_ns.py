"""Json value access: ``pw.this.data["key"].as_int()``."""

from __future__ import annotations

from reflow.api import dtypes as dt
from reflow.api import expression as ex
from reflow.engine.values import Json


def json_as(expr: ex.ColumnExpression, target: dt.DType) -> ex.ColumnExpression:
    """Convert a Json value to ``target``; JSON null gives None, a wrong kind gives an error."""
    method = {
        dt.INT: Json.as_int, dt.FLOAT: Json.as_float, dt.STR: Json.as_str, dt.BOOL: Json.as_bool,
    }[target]

    def convert(value: Json) -> object:
        if not isinstance(value, Json):
            raise TypeError(f"expected a Json value, got {value!r}")
        return method(value)

    return ex.RowwiseCall(f"as_{target.typehint().__name__}", convert, (expr,),
                          dt.Optional(target), propagate_none=True)
