"""Cells to JSON and request fields to typed cells, for the HTTP connectors."""

from __future__ import annotations

import base64
import datetime
import json
from typing import Any

import numpy as np

from reflow.engine.values import ERROR, Json, Pointer
from reflow.io._values import BadValue, coerce
from reflow.plan import dtypes as dt


class BadRequestField(ValueError):
    """A request field that is missing or does not fit its column: ``field`` names it."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"field {field!r}: {reason}")
        self.field = field
        self.reason = reason


def jsonable(value: Any) -> Any:
    """A cell as a value ``json.dumps`` accepts (an error value becomes null).

    >>> jsonable((1, Json({"a": 2}), b"hi"))
    [1, {'a': 2}, 'aGk=']
    """
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if value is ERROR:
        return None
    if isinstance(value, Json):
        return value.value
    if isinstance(value, Pointer):
        return str(value)
    if isinstance(value, (tuple, list)):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, (datetime.datetime, datetime.date)):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return str(value)


def dumps(value: Any) -> bytes:
    """``value`` as compact JSON bytes."""
    return json.dumps(jsonable(value), separators=(",", ":")).encode()


def typed_row(
    payload: dict[str, Any],
    dtypes: dict[str, dt.DType],
    defaults: dict[str, Any],
    from_text: bool,
) -> dict[str, Any]:
    """The row a request asks for, checked against the schema.

    ``from_text`` says the values came as text (GET query parameters): numbers, booleans and
    JSON are then parsed from it. Fields outside the schema are ignored.

    >>> typed_row({"n": "3"}, {"n": dt.INT}, {}, from_text=True)
    {'n': 3}
    >>> typed_row({}, {"n": dt.INT}, {}, from_text=False)
    Traceback (most recent call last):
    ...
    reflow.io.http._values.BadRequestField: field 'n': required
    """
    row = {}
    for name, dtype in dtypes.items():
        if name not in payload:
            if name in defaults:
                row[name] = defaults[name]
                continue
            if dtype.is_optional:
                row[name] = None
                continue
            raise BadRequestField(name, "required")
        value = payload[name]
        if from_text and isinstance(value, str):
            value = _from_text(value, dtype)
        try:
            row[name] = coerce(value, dtype, name)
        except BadValue as exc:
            reason = str(exc).removeprefix(f"column {name!r}: ")
            raise BadRequestField(name, reason) from None
    return row


def _from_text(text: str, dtype: dt.DType) -> Any:
    base = dtype.strip_optional()
    if base == dt.STR:
        return text
    if base == dt.JSON:
        try:
            return Json(json.loads(text))
        except ValueError:
            return Json(text)
    if base == dt.BOOL and text.lower() in ("true", "false"):
        return text.lower() == "true"
    try:
        return json.loads(text)
    except ValueError:
        return text


def json_schema(dtype: dt.DType) -> dict[str, Any]:
    """The JSON Schema of a column type (for the OpenAPI description)."""
    base = dtype.strip_optional()
    simple: dict[dt.DType, str] = {
        dt.INT: "integer",
        dt.FLOAT: "number",
        dt.STR: "string",
        dt.BOOL: "boolean",
    }
    schema: dict[str, Any] = {"type": simple[base]} if base in simple else {}
    if dtype.is_optional and schema:
        schema = {"anyOf": [schema, {"type": "null"}]}
    return schema
