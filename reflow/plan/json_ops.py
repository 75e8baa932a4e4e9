"""Json value access: ``pw.this.data["key"].as_int()``.

``data["key"]`` and ``data.get("key", default)`` give Json values (a missing key is JSON
null); ``as_int``, ``as_float``, ``as_str`` and ``as_bool`` convert them to plain columns.
"""

from __future__ import annotations

from reflow.engine.values import Json
from reflow.plan import dtypes as dt
from reflow.plan import expr as ex

_CONVERTERS = {
    dt.INT: Json.as_int, dt.FLOAT: Json.as_float, dt.STR: Json.as_str, dt.BOOL: Json.as_bool,
}


def json_as(expr: ex.ColumnExpression, target: dt.DType) -> ex.ColumnExpression:
    """Convert a Json value to ``target``; JSON null gives None, a wrong kind gives an error.

    >>> import reflow as pw
    >>> t = pw.debug.table_from_rows(pw.schema_from_types(data=pw.Json),
    ...                              [({"n": 2, "x": 0.5, "s": "a", "b": True, "z": None},)])
    >>> pw.debug.compute_and_print(t.select(
    ...     n=pw.this.data["n"].as_int(), x=pw.this.data["x"].as_float(),
    ...     s=pw.this.data["s"].as_str(), b=pw.this.data["b"].as_bool(),
    ...     z=pw.this.data["z"].as_int(), m=pw.this.data.get("missing").as_str(),
    ... ), include_id=False)
    n | x   | s | b    | z | m
    2 | 0.5 | a | True |   |
    """
    method = _CONVERTERS[target]  # type: ignore[index]
    name = f"as_{target.typehint().__name__}"

    def convert(value: Json) -> object:
        if not isinstance(value, Json):
            raise TypeError(f"expected a Json value, got {value!r}")
        return method(value)

    # what the compiler fuses ``json["key"].as_...()`` by: the Python type of the result
    convert.json_type = target.typehint()  # type: ignore[attr-defined]

    def result_type(*types: dt.DType) -> dt.DType:
        if types[0].strip_optional() not in (dt.JSON, dt.ANY):
            raise TypeError(f"expected a Json column, got {types[0]!r}")
        return dt.Optional(target)

    return ex.RowwiseCall(name, convert, (expr,), result_type, propagate_none=True)
