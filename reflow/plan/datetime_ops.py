"""The date-time functions of expressions (behind ``.dt``): result types and Polars kernels.

The API's namespace (``reflow.api.namespaces.datetimes``) names them; each builds a plan
expression node.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable
from typing import Any

import polars as pl

from reflow.plan import dtypes as dt
from reflow.plan import expr as ex
from reflow.plan.expr import TypedPolarsCall

_TIMES = (dt.DATE_TIME_NAIVE, dt.DATE_TIME_UTC)
_UNITS = {"s": 1_000_000_000, "ms": 1_000_000, "us": 1_000, "ns": 1}
_NAIVE = pl.Datetime("ns")
_UTC = pl.Datetime("ns", "UTC")


def _optional_like(source: dt.DType, result: dt.DType) -> dt.DType:
    return dt.Optional(result) if source.is_optional else result


def _check_column(column: dt.DType, kinds: tuple[dt.DType, ...], what: str) -> None:
    if column.strip_optional() not in kinds:
        raise TypeError(f"expected {what} column, got {column!r}")


def _column_to(
    kinds: tuple[dt.DType, ...], what: str, result: dt.DType
) -> Callable[..., dt.DType]:
    """Result-type helper: the column must be one of ``kinds`` (``what`` in the message); the
    result is ``result``, Optional when the column is."""

    def result_type(*types: dt.DType) -> dt.DType:
        _check_column(types[0], kinds, what)
        return _optional_like(types[0], result)

    return result_type


def _column_and_duration(kinds: tuple[dt.DType, ...], what: str) -> Callable[..., dt.DType]:
    """Result-type helper for a column of ``kinds`` and a Duration argument: the column type,
    Optional when the duration is."""

    def result_type(*types: dt.DType) -> dt.DType:
        _check_column(types[0], kinds, what)
        if types[1].strip_optional() != dt.DURATION:
            raise TypeError(f"expected a Duration, got {types[1]!r}")
        return dt.Optional(types[0]) if types[1].is_optional else types[0]

    return result_type


_int_field = _column_to(_TIMES, "a datetime", dt.INT)
_duration_field = _column_to((dt.DURATION,), "a Duration", dt.INT)


def _chrono_format(fmt: str, parsing: bool) -> str:
    """Translate Python's ``%f`` (microseconds) into the chrono format Polars uses."""
    out: list[str] = []
    i = 0
    while i < len(fmt):
        if fmt[i] == "%" and i + 1 < len(fmt):
            code = fmt[i + 1]
            if code == "f":
                if parsing and out and out[-1] == ".":
                    out[-1] = "%.f"
                else:
                    out.append("%6f")
            else:
                out.append(fmt[i:i + 2])
            i += 2
        else:
            out.append(fmt[i])
            i += 1
    return "".join(out)


def _static_str(value: Any, what: str, node: ex.ColumnExpression) -> str:
    if not isinstance(value, str):
        raise ex.type_error(f"{what} must be a str, got {value!r}", node)
    return value


def _as_duration(value: Any, node: ex.ColumnExpression) -> Any:
    """A duration argument: an expression, a ``timedelta`` or a string such as ``"1h"``."""
    if isinstance(value, ex.ColumnExpression | datetime.timedelta):
        return value
    if isinstance(value, str):
        parsed = _parse_duration(value)
        if parsed is None:
            raise ex.type_error(
                f"cannot read duration {value!r}; write e.g. '15min', '1h30min', '2d' or "
                "'500ms'", node,
            )
        return parsed
    raise ex.type_error(f"expected a duration, got {value!r}", node)


_DURATION_UNITS = {
    "w": 7 * 86_400_000_000, "d": 86_400_000_000, "h": 3_600_000_000, "min": 60_000_000,
    "m": 60_000_000, "s": 1_000_000, "ms": 1_000, "us": 1, "ns": 0,
}
_DURATION_PART = re.compile(r"\s*(-?\d+(?:\.\d+)?)\s*(min|ms|us|ns|w|d|h|m|s)", re.IGNORECASE)


def _parse_duration(text: str) -> datetime.timedelta | None:
    """Durations such as ``"15min"``, ``"1h30min"``, ``"2d"`` or ``"500ms"``."""
    position = 0
    total_us = 0.0
    while position < len(text.rstrip()):
        match = _DURATION_PART.match(text, position)
        if match is None:
            return _pandas_frequency(text) if position == 0 else None
        number, unit = float(match.group(1)), match.group(2).lower()
        total_us += number * _DURATION_UNITS[unit] if unit != "ns" else number / 1000
        position = match.end()
    if position == 0:
        return _pandas_frequency(text)
    return datetime.timedelta(microseconds=total_us)


# Frequency aliases older pandas versions (and so Pathway) accept, newer ones spell otherwise.
_OLD_ALIASES = {"H": "h", "T": "min", "S": "s", "L": "ms", "U": "us", "N": "ns"}


def _pandas_frequency(text: str) -> datetime.timedelta | None:
    """A fixed pandas frequency such as ``"D"``, ``"h"``, ``"min"`` or ``"2D"`` (as Pathway
    accepts in ``round``/``floor``), or None."""
    from pandas.tseries.frequencies import to_offset

    match = re.fullmatch(r"\s*(\d*)\s*([A-Za-z]+)\s*", text)
    if match is not None and match.group(2) in _OLD_ALIASES:
        text = match.group(1) + _OLD_ALIASES[match.group(2)]
    try:
        nanos = to_offset(text).nanos
    except (ValueError, TypeError):
        return None
    return datetime.timedelta(microseconds=nanos / 1000)


def _unit_factor(unit: str, node: ex.ColumnExpression) -> int:
    if unit not in _UNITS:
        raise ex.type_error(f"unit must be one of {sorted(_UNITS)}, got {unit!r}", node)
    return _UNITS[unit]


def _naive_to_utc(t: pl.Expr, timezone: str) -> pl.Expr:
    local = t.dt.replace_time_zone(timezone, ambiguous="earliest", non_existent="null")
    return local.dt.convert_time_zone("UTC")


def _utc_to_naive(t: pl.Expr, timezone: str) -> pl.Expr:
    return t.dt.convert_time_zone(timezone).dt.replace_time_zone(None)


def _no_local_time(t: pl.Expr, timezone: str) -> pl.Expr:
    """Where the naive local time ``t`` does not exist in ``timezone`` (skipped by DST)."""
    return t.is_not_null() & _naive_to_utc(t, timezone).is_null()


def _check_timezone(timezone: Any, what: str, node: ex.ColumnExpression) -> str:
    """The time zone name ``timezone``; fails at build time for a value that is not a str
    (``what`` names the argument) or a name the engine's time zone database lacks."""
    timezone = _static_str(timezone, what, node)
    try:
        pl.Series([datetime.datetime(2000, 1, 1)]).dt.replace_time_zone(timezone)
    except pl.exceptions.PolarsError:
        raise ex.type_error(f"unknown time zone {timezone!r}", node) from None
    return timezone


class DateTimeOps:
    """The plan operations behind ``.dt``: each method builds the expression node of one
    date-time function of the column ``expr``."""

    def __init__(self, expr: ex.ColumnExpression) -> None:
        self._expr = expr

    # --- parsing and formatting ---------------------------------------------------------------
    def strptime(self, fmt: str, contains_timezone: bool | None = None) -> ex.ColumnExpression:
        """Parse strings with the Python format ``fmt``; a string that does not match is an
        error."""
        fmt = _static_str(fmt, "dt.strptime: fmt", self._expr)
        aware = contains_timezone if contains_timezone is not None else "%z" in fmt
        storage = _UTC if aware else _NAIVE
        has_date = re.search(r"%[YymdjbBhGUWV]", fmt) is not None
        # Without a date in the format, the date is 1900-01-01, as in Python and Pathway.
        chrono = _chrono_format(fmt if has_date else "%Y-%m-%d " + fmt, parsing=True)

        def parse(s: pl.Expr) -> pl.Expr:
            if not has_date:
                s = pl.concat_str(pl.lit("1900-01-01 "), s)
            return s.str.strptime(storage, chrono, strict=False)

        return ex.PolarsCall(
            "dt.strptime", [self._expr], parse,
            _column_to((dt.STR,), "a str", dt.DATE_TIME_UTC if aware else dt.DATE_TIME_NAIVE),
            error_when=lambda s: s.is_not_null() & parse(s).is_null(),
            error_message=f"the string does not match the format {fmt!r}",
        )

    def strftime(self, fmt: str) -> ex.ColumnExpression:
        """Format date-times as strings with the Python format ``fmt`` (which may be a
        column)."""
        if isinstance(fmt, ex.ColumnExpression):
            # a format per row: Python's strftime, row by row
            def format_row(t: datetime.datetime, row_fmt: str) -> str:
                return t.strftime(row_fmt)

            return ex.RowwiseCall(
                "dt.strftime", format_row, (self._expr, fmt), dt.STR, propagate_none=True
            )
        fmt = _static_str(fmt, "dt.strftime: fmt", self._expr)
        chrono = _chrono_format(fmt, parsing=False)
        naive_chrono = re.sub(r"(?<!%)((?:%%)*)%[zZ]", r"\1", chrono)
        sample = pl.Series([datetime.datetime(2000, 1, 1)], dtype=_UTC)
        try:
            sample.dt.strftime(chrono)
        except pl.exceptions.PolarsError:
            raise ex.type_error(f"dt.strftime: invalid format {fmt!r}", self._expr) from None

        def kernel(types: list[dt.DType], t: pl.Expr) -> pl.Expr:
            naive = types[0].strip_optional() == dt.DATE_TIME_NAIVE
            return t.dt.strftime(naive_chrono if naive else chrono)

        return TypedPolarsCall(
            "dt.strftime", [self._expr], kernel, _column_to(_TIMES, "a datetime", dt.STR)
        )

    # --- time zones -----------------------------------------------------------------------
    def to_utc(self, from_timezone: str) -> ex.ColumnExpression:
        """Read naive date-times as local times in ``from_timezone`` and convert them to UTC."""
        timezone = _check_timezone(from_timezone, "dt.to_utc: from_timezone", self._expr)
        return ex.PolarsCall(
            "dt.to_utc", [self._expr], lambda t: _naive_to_utc(t, timezone),
            _column_to((dt.DATE_TIME_NAIVE,), "a DateTimeNaive", dt.DATE_TIME_UTC),
            error_when=lambda t: _no_local_time(t, timezone),
            error_message=f"the local time does not exist in {timezone}",
        )

    def to_naive_in_timezone(self, timezone: str) -> ex.ColumnExpression:
        """The local (naive) time in ``timezone`` of UTC date-times."""
        timezone = _check_timezone(timezone, "dt.to_naive_in_timezone: timezone", self._expr)
        return ex.PolarsCall(
            "dt.to_naive_in_timezone", [self._expr], lambda t: _utc_to_naive(t, timezone),
            _column_to((dt.DATE_TIME_UTC,), "a DateTimeUtc", dt.DATE_TIME_NAIVE),
        )

    def add_duration_in_timezone(self, duration: Any, timezone: str) -> ex.ColumnExpression:
        """Add ``duration`` to naive local times of ``timezone``, across DST changes."""
        return self._shift_in_timezone("add_duration_in_timezone", duration, timezone, 1)

    def subtract_duration_in_timezone(
        self, duration: Any, timezone: str
    ) -> ex.ColumnExpression:
        """Subtract ``duration`` from naive local times of ``timezone``, across DST changes."""
        return self._shift_in_timezone("subtract_duration_in_timezone", duration, timezone, -1)

    def _shift_in_timezone(
        self, name: str, duration: Any, timezone: str, sign: int
    ) -> ex.ColumnExpression:
        timezone = _check_timezone(timezone, f"dt.{name}: timezone", self._expr)
        duration = _as_duration(duration, self._expr)

        def kernel(t: pl.Expr, d: pl.Expr) -> pl.Expr:
            d = d.cast(pl.Duration("ns"))
            utc = _naive_to_utc(t, timezone)
            return _utc_to_naive(utc + d if sign > 0 else utc - d, timezone)

        return ex.PolarsCall(
            f"dt.{name}", [self._expr, duration], kernel,
            _column_and_duration((dt.DATE_TIME_NAIVE,), "a DateTimeNaive"),
            error_when=lambda t, d: _no_local_time(t, timezone),
            error_message=f"the local time does not exist in {timezone}",
        )

    def subtract_date_time_in_timezone(
        self, date_time: Any, timezone: str
    ) -> ex.ColumnExpression:
        """The duration between two naive local times of ``timezone``, across DST changes."""
        timezone = _check_timezone(
            timezone, "dt.subtract_date_time_in_timezone: timezone", self._expr
        )

        def result_type(*types: dt.DType) -> dt.DType:
            for t in types:
                if t.strip_optional() != dt.DATE_TIME_NAIVE:
                    raise TypeError(f"expected DateTimeNaive values, got {t!r}")
            return dt.Optional(dt.DURATION) if any(t.is_optional for t in types) else dt.DURATION

        return ex.PolarsCall(
            "dt.subtract_date_time_in_timezone", [self._expr, date_time],
            lambda a, b: _naive_to_utc(a, timezone) - _naive_to_utc(b.cast(_NAIVE), timezone),
            result_type,
            error_when=lambda a, b: _no_local_time(a, timezone) | _no_local_time(b, timezone),
            error_message=f"the local time does not exist in {timezone}",
        )

    # --- timestamps -------------------------------------------------------------------------
    def timestamp(self, unit: str | None = None) -> ex.ColumnExpression:
        """Time since the Unix epoch (naive date-times are read as UTC)."""
        factor = None if unit is None else _unit_factor(unit, self._expr)

        def kernel(t: pl.Expr) -> pl.Expr:
            ns = t.dt.epoch("ns")
            if factor is None:
                return ns
            # whole units and the remainder separately: exact for the whole part
            return (ns // factor).cast(pl.Float64) + (ns % factor).cast(pl.Float64) / factor

        result_type = _column_to(_TIMES, "a datetime", dt.INT if factor is None else dt.FLOAT)
        return ex.PolarsCall("dt.timestamp", [self._expr], kernel, result_type)

    def from_timestamp(self, unit: str) -> ex.ColumnExpression:
        """Naive date-times from numbers of ``unit`` (``"s"``, ``"ms"``, ``"us"``, ``"ns"``) since
        the Unix epoch."""
        return self._from_number("from_timestamp", unit, dt.DATE_TIME_NAIVE, _NAIVE)

    def utc_from_timestamp(self, unit: str) -> ex.ColumnExpression:
        """UTC date-times from numbers of ``unit`` since the Unix epoch."""
        return self._from_number("utc_from_timestamp", unit, dt.DATE_TIME_UTC, _UTC)

    def to_duration(self, unit: str) -> ex.ColumnExpression:
        """Durations from numbers of ``unit`` (``"s"``, ``"ms"``, ``"us"``, ``"ns"``)."""
        return self._from_number("to_duration", unit, dt.DURATION, pl.Duration("ns"))

    def _from_number(
        self, name: str, unit: str, result: dt.DType, storage: pl.DataType
    ) -> ex.ColumnExpression:
        factor = _unit_factor(unit, self._expr)

        def result_type(*types: dt.DType) -> dt.DType:
            if not dt.is_numeric(types[0]):
                raise TypeError(f"expected an int or float column, got {types[0]!r}")
            return _optional_like(types[0], result)

        def kernel(types: list[dt.DType], x: pl.Expr) -> pl.Expr:
            if types[0].strip_optional() == dt.INT:
                return (x * factor).cast(storage)
            # Like Python's ``fromtimestamp``, floats are rounded to whole microseconds (their
            # precision at today's timestamps is coarser than a nanosecond anyway).
            scale = max(factor // 1000, 1)
            whole = (x * scale).round(0, mode="half_to_even")
            whole = pl.when(whole.is_finite()).then(whole).otherwise(None).cast(pl.Int64)
            return (whole * (factor // scale)).cast(storage)

        def failed(types: list[dt.DType], x: pl.Expr) -> pl.Expr:
            if types[0].strip_optional() == dt.INT:
                return pl.lit(False)
            return x.is_not_null() & ~(x * factor).is_finite()

        return TypedPolarsCall(
            f"dt.{name}", [self._expr], kernel, result_type, error_when=failed,
            error_message="the number is not finite",
        )

    # --- rounding ---------------------------------------------------------------------------
    def floor(self, duration: Any) -> ex.ColumnExpression:
        """Round date-times down to a multiple of ``duration`` (a ``timedelta``, a Duration
        expression or a string such as ``"15min"``)."""
        return self._round_to("floor", duration, half=False)

    def round(self, duration: Any) -> ex.ColumnExpression:
        """Round date-times to the nearest multiple of ``duration`` (halves round up)."""
        return self._round_to("round", duration, half=True)

    def _round_to(self, name: str, duration: Any, half: bool) -> ex.ColumnExpression:
        duration = _as_duration(duration, self._expr)

        def kernel(types: list[dt.DType], t: pl.Expr, d: pl.Expr) -> pl.Expr:
            step = d.cast(pl.Duration("ns")).dt.total_nanoseconds()
            step = pl.when(step > 0).then(step).otherwise(None)
            ns = t.dt.epoch("ns")
            if half:
                ns = ns + step // 2
            floored = (ns // step) * step
            storage = _UTC if types[0].strip_optional() == dt.DATE_TIME_UTC else _NAIVE
            return floored.cast(storage)

        return TypedPolarsCall(
            f"dt.{name}", [self._expr, duration], kernel,
            _column_and_duration(_TIMES, "a datetime"),
            error_when=lambda types, t, d: (
                d.cast(pl.Duration("ns")).dt.total_nanoseconds() <= 0
            ),
            error_message="the duration must be positive",
        )

    # --- calendar fields ----------------------------------------------------------------------
    def _field(self, name: str, kernel: Callable[[pl.Expr], pl.Expr]) -> ex.ColumnExpression:
        return ex.PolarsCall(
            f"dt.{name}", [self._expr], lambda t: kernel(t).cast(pl.Int64), _int_field
        )

    def year(self) -> ex.ColumnExpression:
        """The year."""
        return self._field("year", lambda t: t.dt.year())

    def month(self) -> ex.ColumnExpression:
        """The month, 1 to 12."""
        return self._field("month", lambda t: t.dt.month())

    def day(self) -> ex.ColumnExpression:
        """The day of the month, 1 to 31."""
        return self._field("day", lambda t: t.dt.day())

    def hour(self) -> ex.ColumnExpression:
        """The hour, 0 to 23."""
        return self._field("hour", lambda t: t.dt.hour())

    def minute(self) -> ex.ColumnExpression:
        """The minute, 0 to 59."""
        return self._field("minute", lambda t: t.dt.minute())

    def second(self) -> ex.ColumnExpression:
        """The second, 0 to 59."""
        return self._field("second", lambda t: t.dt.second())

    def millisecond(self) -> ex.ColumnExpression:
        """The fraction of the second in whole milliseconds, 0 to 999."""
        return self._field("millisecond", lambda t: t.dt.millisecond())

    def microsecond(self) -> ex.ColumnExpression:
        """The fraction of the second in whole microseconds, 0 to 999999."""
        return self._field("microsecond", lambda t: t.dt.microsecond())

    def nanosecond(self) -> ex.ColumnExpression:
        """The fraction of the second in nanoseconds, 0 to 999999999."""
        return self._field("nanosecond", lambda t: t.dt.nanosecond())

    def weekday(self) -> ex.ColumnExpression:
        """The day of the week: 0 for Monday to 6 for Sunday."""
        return self._field("weekday", lambda t: t.dt.weekday().cast(pl.Int64) - 1)

    # --- duration fields --------------------------------------------------------------------
    def _total(self, name: str, kernel: Callable[[pl.Expr], pl.Expr]) -> ex.ColumnExpression:
        return ex.PolarsCall(
            f"dt.{name}", [self._expr], lambda d: kernel(d).cast(pl.Int64), _duration_field
        )

    def weeks(self) -> ex.ColumnExpression:
        """The duration in whole weeks (rounded toward zero)."""
        def weeks(d: pl.Expr) -> pl.Expr:
            days = d.dt.total_days().cast(pl.Int64)
            return days.sign() * (days.abs() // 7)

        return self._total("weeks", weeks)

    def days(self) -> ex.ColumnExpression:
        """The duration in whole days (rounded toward zero)."""
        return self._total("days", lambda d: d.dt.total_days())

    def hours(self) -> ex.ColumnExpression:
        """The duration in whole hours (rounded toward zero)."""
        return self._total("hours", lambda d: d.dt.total_hours())

    def minutes(self) -> ex.ColumnExpression:
        """The duration in whole minutes (rounded toward zero)."""
        return self._total("minutes", lambda d: d.dt.total_minutes())

    def seconds(self) -> ex.ColumnExpression:
        """The duration in whole seconds (rounded toward zero)."""
        return self._total("seconds", lambda d: d.dt.total_seconds())

    def milliseconds(self) -> ex.ColumnExpression:
        """The duration in whole milliseconds (rounded toward zero)."""
        return self._total("milliseconds", lambda d: d.dt.total_milliseconds())

    def microseconds(self) -> ex.ColumnExpression:
        """The duration in whole microseconds (rounded toward zero)."""
        return self._total("microseconds", lambda d: d.dt.total_microseconds())

    def nanoseconds(self) -> ex.ColumnExpression:
        """The duration in nanoseconds."""
        return self._total("nanoseconds", lambda d: d.dt.total_nanoseconds())
