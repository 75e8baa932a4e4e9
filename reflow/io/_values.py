"""Turning raw input values (text cells, JSON values, Python objects) into typed columns.

Text columns are converted with vectorized Polars casts; only the rows that fail are looked at
one by one, to say why. Python values (JSON documents, ``ConnectorSubject.next``) are checked
per value, because they arrive one row at a time anyway.
"""

from __future__ import annotations

import datetime
import json
import re
from typing import Any

import polars as pl

from reflow.engine.values import Json, Pointer
from reflow.plan import dtypes as dt

_TRUE = ("true", "yes", "on", "1", "t", "y")
_FALSE = ("false", "no", "off", "0", "f", "n")


_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_INTEGER_TEXT = re.compile(r"\s*[+-]?\d+\s*")


class BadValue(ValueError):
    """A value that does not fit its column's type."""


def cast_text_columns(
    raw: pl.DataFrame, dtypes: dict[str, dt.DType]
) -> tuple[pl.DataFrame, pl.Series | None, list[str]]:
    """Cast the text columns of ``raw`` to ``dtypes``.

    Returns the typed frame, a boolean mask of the rows that could not be converted (``None``
    when all could) and, for each bad row in order, the reason.

    >>> frame = pl.DataFrame({"n": ["1", "x", None]})
    >>> typed, bad, reasons = cast_text_columns(frame, {"n": dt.INT})
    >>> typed["n"].to_list(), bad.to_list(), reasons
    ([1, None, None], [False, True, True], ["column 'n': cannot parse 'x' as INT", \
"column 'n': missing value for INT"])
    """
    exprs = []
    checked = False
    for name, dtype in dtypes.items():
        expr, needs_check = _text_cast(pl.col(name), dtype)
        exprs.append(expr.alias(name))
        checked = checked or needs_check
    converted = raw.select(exprs)
    if not checked:
        return converted, None, []
    okays = raw.select(*[_ok_expr(pl.col(n), dtypes[n], converted[n]) for n in dtypes])
    bad = ~okays.select(pl.all_horizontal(pl.all())).to_series()
    if not bad.any():
        return converted, None, []
    reasons = []
    bad_rows = raw.filter(bad)
    bad_oks = okays.filter(bad)
    for i in range(bad_rows.height):
        for name, dtype in dtypes.items():
            if not bad_oks[name][i]:
                value = bad_rows[name][i]
                if value is None:
                    reasons.append(f"column {name!r}: missing value for {dtype!r}")
                elif dtype.strip_optional() == dt.INT and _INTEGER_TEXT.fullmatch(value):
                    reasons.append(
                        f"column {name!r}: {value.strip()} does not fit in a 64-bit INT"
                    )
                else:
                    reasons.append(
                        f"column {name!r}: cannot parse {_shown(value)} as {dtype!r}"
                    )
                break
    return converted, bad, reasons


def _shown(value: Any, limit: int = 80) -> str:
    """``repr(value)``, shortened for a message."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} characters)"


def _text_cast(col: pl.Expr, dtype: dt.DType) -> tuple[pl.Expr, bool]:
    base = dtype.strip_optional()
    if base == dt.STR:
        return (col if dtype.is_optional else col.fill_null("")), False
    if base == dt.ANY:
        return col, False
    if base == dt.INT:
        return col.str.strip_chars().cast(pl.Int64, strict=False), True
    if base == dt.FLOAT:
        return col.str.strip_chars().cast(pl.Float64, strict=False), True
    if base == dt.BOOL:
        low = col.str.strip_chars().str.to_lowercase()
        return (
            pl.when(low.is_in(_TRUE)).then(True).when(low.is_in(_FALSE)).then(False)
            .otherwise(None).cast(pl.Boolean),
            True,
        )
    if base == dt.BYTES:
        return col.cast(pl.Binary), False
    if base in (dt.DATE_TIME_NAIVE, dt.DATE_TIME_UTC):
        zone = "UTC" if base == dt.DATE_TIME_UTC else None
        text = col.str.strip_chars()
        return text.str.to_datetime(strict=False, time_unit="ns", time_zone=zone), True
    if base == dt.JSON:
        return col.map_elements(_parse_json_or_none, return_dtype=pl.Object), True
    raise TypeError(f"columns of type {dtype!r} cannot be read from text")


def _parse_json_or_none(text: str) -> Any:
    try:
        return Json(json.loads(text))
    except (ValueError, RecursionError):  # a RecursionError: nested too deeply
        return None


def _ok_expr(raw: pl.Expr, dtype: dt.DType, converted: pl.Series) -> pl.Expr:
    """True where the cell converted well: a null result only for a null input of an
    optional column."""
    name = converted.name
    base = dtype.strip_optional()
    if base in (dt.STR, dt.ANY, dt.BYTES):
        return pl.lit(True).alias(name)
    if converted.dtype == pl.Object:
        result_null = pl.lit(pl.Series(name, [v is None for v in converted.to_list()]))
    else:
        result_null = pl.lit(converted.is_null())
    if dtype.is_optional:
        return (~(result_null & raw.is_not_null())).alias(name)
    return (~result_null).alias(name)


def coerce(value: Any, dtype: dt.DType, column: str) -> Any:
    """``value`` as stored in a column of type ``dtype``; ``BadValue`` names the problem.

    >>> coerce(3, dt.FLOAT, "x")
    3.0
    >>> coerce("3", dt.INT, "x")
    Traceback (most recent call last):
    ...
    reflow.io._values.BadValue: column 'x': expected INT, got str '3'
    """
    if value is None:
        if dtype.is_optional or dtype == dt.ANY or dtype.strip_optional() == dt.JSON:
            return Json(None) if dtype == dt.JSON else None
        raise BadValue(f"column {column!r}: missing value for {dtype!r}")
    base = dtype.strip_optional()
    if base == dt.ANY:
        return value
    if base == dt.JSON:
        return value if isinstance(value, Json) else Json(value)
    if isinstance(value, Json):
        value = value.value
    ok = False
    if base == dt.INT:
        ok = isinstance(value, int) and not isinstance(value, bool)
        if ok and not _INT64_MIN <= value <= _INT64_MAX:
            raise BadValue(f"column {column!r}: {value} does not fit in a 64-bit INT")
    elif base == dt.FLOAT:
        if isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        ok = isinstance(value, float)
    elif base == dt.STR:
        ok = isinstance(value, str)
    elif base == dt.BOOL:
        ok = isinstance(value, bool)
    elif base == dt.BYTES:
        ok = isinstance(value, bytes)
    elif base == dt.POINTER:
        if isinstance(value, Pointer):
            return value.value
        ok = isinstance(value, int)
    elif base in (dt.DATE_TIME_NAIVE, dt.DATE_TIME_UTC):
        if isinstance(value, str):
            try:
                value = datetime.datetime.fromisoformat(value)
            except ValueError:
                raise BadValue(
                    f"column {column!r}: cannot parse {_shown(value)} as {dtype!r}"
                ) from None
        ok = isinstance(value, datetime.datetime) and (
            (value.tzinfo is None) == (base == dt.DATE_TIME_NAIVE)
        )
    elif base == dt.DURATION:
        ok = isinstance(value, datetime.timedelta)
    elif isinstance(base, (dt.Tuple, dt.List)):
        if isinstance(value, list):
            return tuple(value)
        ok = isinstance(value, tuple)
    else:
        return value
    if not ok:
        raise BadValue(
            f"column {column!r}: expected {dtype!r}, got {type(value).__name__} "
            f"{_shown(value)}"
        )
    return value
