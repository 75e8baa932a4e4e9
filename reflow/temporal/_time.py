"""Time values in physical form.

Event times may be ``int``, ``float``, ``DateTimeNaive`` or ``DateTimeUtc``; durations are
``int``/``float`` or ``timedelta`` respectively. Operators compute on a *physical* form: the
number itself for numbers, nanoseconds since the epoch (Int64) for datetimes.
"""

from __future__ import annotations

import datetime
from typing import Any

import polars as pl

from reflow.plan import dtypes as dt

TIME_TYPES = (dt.INT, dt.FLOAT, dt.DATE_TIME_NAIVE, dt.DATE_TIME_UTC)


def check_time_type(dtype: dt.DType, what: str) -> dt.DType:
    base = dtype.strip_optional()
    if base not in TIME_TYPES:
        raise TypeError(
            f"{what} must be int, float, DateTimeNaive or DateTimeUtc, got {dtype!r}"
        )
    return base


def is_datetime(dtype: dt.DType) -> bool:
    return dtype.strip_optional() in (dt.DATE_TIME_NAIVE, dt.DATE_TIME_UTC)


def physical_storage(dtype: dt.DType) -> pl.DataType:
    return pl.Float64() if dtype.strip_optional() == dt.FLOAT else pl.Int64()


def to_physical(expr: pl.Expr, dtype: dt.DType) -> pl.Expr:
    """A Polars expression giving the physical form of a time column of type ``dtype``."""
    if is_datetime(dtype):
        return expr.dt.epoch("ns")
    if dtype.strip_optional() == dt.FLOAT:
        return expr.cast(pl.Float64)
    return expr.cast(pl.Int64)


def from_physical(expr: pl.Expr, dtype: dt.DType) -> pl.Expr:
    """The inverse of ``to_physical``."""
    base = dtype.strip_optional()
    if base == dt.DATE_TIME_NAIVE:
        return expr.cast(pl.Int64).cast(pl.Datetime("ns"))
    if base == dt.DATE_TIME_UTC:
        return expr.cast(pl.Int64).cast(pl.Datetime("ns", "UTC"))
    if base == dt.FLOAT:
        return expr.cast(pl.Float64)
    return expr.cast(pl.Int64)


def duration_value(value: Any, dtype: dt.DType, what: str) -> int | float:
    """A duration in the physical unit of times of type ``dtype``."""
    if is_datetime(dtype):
        nanos = getattr(value, "value", None)  # pandas.Timedelta
        if isinstance(nanos, int) and not isinstance(value, int):
            return nanos
        if isinstance(value, datetime.timedelta):
            return (
                (value.days * 86_400 + value.seconds) * 1_000_000_000
                + value.microseconds * 1_000
            )
        raise TypeError(f"{what} must be a timedelta for datetime times, got {value!r}")
    if isinstance(value, datetime.timedelta) or isinstance(value, bool):
        raise TypeError(f"{what} must be a number for {dtype!r} times, got {value!r}")
    if isinstance(value, (int, float)):
        return value
    raise TypeError(f"{what} must be a number, got {value!r}")


def instant_value(value: Any, dtype: dt.DType, what: str) -> int | float:
    """A point in time (such as a window origin) in physical form."""
    if is_datetime(dtype):
        nanos = getattr(value, "value", None)  # pandas.Timestamp
        if isinstance(value, datetime.datetime):
            if isinstance(nanos, int):
                return nanos
            if value.tzinfo is None:
                value = value.replace(tzinfo=datetime.UTC)
            delta = value - datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
            return duration_value(delta, dtype, what)
        raise TypeError(f"{what} must be a datetime for datetime times, got {value!r}")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    raise TypeError(f"{what} must be a number, got {value!r}")


def physical_literal(value: int | float, dtype: dt.DType) -> pl.Expr:
    return pl.lit(value, dtype=physical_storage(dtype))
