"""Inferring column types from Python values and parsing markdown cells."""

from __future__ import annotations

import datetime
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from reflow.engine.lazy_modules import imported_on_use
from reflow.engine.values import Json, Pointer
from reflow.plan import dtypes as dt

if TYPE_CHECKING:
    import numpy as np
else:
    np = imported_on_use("numpy", globals(), "np")


def infer_column_dtype(values: Sequence[Any]) -> dt.DType:
    """The narrowest type holding all ``values`` (``None`` makes it Optional)."""
    result: dt.DType | None = None
    has_none = False
    for value in values:
        if value is None:
            has_none = True
            continue
        value_type = _python_value_type(value)
        result = value_type if result is None else dt.unify(result, value_type)
    if result is None:
        return dt.Optional(dt.ANY) if has_none else dt.ANY
    return dt.Optional(result) if has_none else result


def _python_value_type(value: Any) -> dt.DType:
    if isinstance(value, (np.bool_,)):
        return dt.BOOL
    if isinstance(value, np.integer):
        return dt.INT
    if isinstance(value, np.floating):
        return dt.FLOAT
    if isinstance(value, (list, tuple)):
        return dt.List(dt.ANY) if isinstance(value, list) else dt.of_value(tuple(value))
    if isinstance(value, dict):
        return dt.JSON
    if hasattr(value, "to_pydatetime"):
        return dt.DATE_TIME_UTC if value.tzinfo is not None else dt.DATE_TIME_NAIVE
    if hasattr(value, "to_pytimedelta"):
        return dt.DURATION
    return dt.of_value(value)


def python_value(value: Any) -> Any:
    """A numpy/pandas scalar as a plain Python value (pandas' missing markers become ``None``)."""
    if type(value).__name__ in ("NAType", "NaTType"):  # pd.NA, pd.NaT
        return None
    if isinstance(value, np.generic):
        return value.item()
    if hasattr(value, "to_pydatetime"):
        return value.to_pydatetime()
    if hasattr(value, "to_pytimedelta"):
        return value.to_pytimedelta()
    return value


def parse_markdown_cell(text: str) -> Any:
    """A markdown cell as a Python value: int, float, bool, None (``None`` or an empty cell)
    or str."""
    if text in ("None", ""):
        return None
    if text in ("True", "False", "true", "false"):
        return text in ("True", "true")
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        pass
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        return text[1:-1]
    return text


def parse_typed_cell(text: str, dtype: dt.DType) -> Any:
    """A markdown cell parsed as ``dtype``."""
    base = dtype.strip_optional()
    if text in ("None", "") and (dtype.is_optional or base in (dt.ANY, dt.JSON, dt.NONE)):
        return None if base != dt.JSON else Json(None)
    if base == dt.INT:
        return int(text)
    if base == dt.FLOAT:
        return float(text)
    if base == dt.BOOL:
        if text not in ("True", "False", "true", "false"):
            raise ValueError(f"{text!r} is not a bool")
        return text.lower() == "true"
    if base == dt.STR:
        if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
            return text[1:-1]
        return text
    if base == dt.BYTES:
        return text.encode()
    if base == dt.JSON:
        return Json(json.loads(text))
    if base == dt.POINTER:
        return Pointer(int(text))
    if base == dt.DATE_TIME_NAIVE:
        return datetime.datetime.fromisoformat(text)
    if base == dt.DATE_TIME_UTC:
        value = datetime.datetime.fromisoformat(text)
        if value.tzinfo is None:
            raise ValueError(f"{text!r} has no time zone")
        return value.astimezone(datetime.UTC)
    if base == dt.DURATION:
        return _parse_duration(text)
    return parse_markdown_cell(text)


def _parse_duration(text: str) -> datetime.timedelta:
    try:
        return datetime.timedelta(seconds=float(text))
    except ValueError:
        import pandas as pd

        return pd.Timedelta(text).to_pytimedelta()
