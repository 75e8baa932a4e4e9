"""The ``.dt`` namespace: date-time functions of a column, each naming a plan operation
(``reflow.plan.datetime_ops``)."""

from __future__ import annotations

import warnings
from typing import Any

from reflow.plan import expr as ex
from reflow.plan.datetime_ops import DateTimeOps


class DateTimeNamespace:
    """Date-time operations on a column: ``pw.this.t.dt.year()``.

    >>> import reflow as pw, datetime
    >>> t = pw.debug.table_from_rows(pw.schema_from_types(t=pw.DateTimeNaive),
    ...                              [(datetime.datetime(2024, 5, 17, 12, 0),)])
    >>> pw.debug.compute_and_print(t.select(y=pw.this.t.dt.year()), include_id=False)
    y
    2024
    """

    def __init__(self, expr: ex.ColumnExpression) -> None:
        self._ops = DateTimeOps(expr)

    def strptime(self, fmt: str, contains_timezone: bool | None = None) -> ex.ColumnExpression:
        """Parse strings with the Python format ``fmt``; a string that does not match is an error.

        The result is a ``DateTimeUtc`` when the format has ``%z`` (or ``contains_timezone``
        is true), a ``DateTimeNaive`` otherwise.

        >>> import reflow as pw
        >>> t = pw.debug.table_from_rows(pw.schema_from_types(s=str),
        ...                              [("2024-05-17 12:30:45.25",)])
        >>> pw.debug.compute_and_print(
        ...     t.select(t=pw.this.s.dt.strptime("%Y-%m-%d %H:%M:%S.%f")), include_id=False)
        t
        2024-05-17 12:30:45.250000
        """
        return self._ops.strptime(fmt, contains_timezone)

    def strftime(self, fmt: str) -> ex.ColumnExpression:
        """Format date-times as strings with the Python format ``fmt``.

        >>> import reflow as pw, datetime
        >>> t = pw.debug.table_from_rows(pw.schema_from_types(t=pw.DateTimeNaive),
        ...                              [(datetime.datetime(2024, 5, 17, 8, 5, 0, 250),)])
        >>> pw.debug.compute_and_print(
        ...     t.select(s=pw.this.t.dt.strftime("%d.%m.%Y %H:%M:%S.%f")), include_id=False)
        s
        17.05.2024 08:05:00.000250
        """
        return self._ops.strftime(fmt)

    def to_utc(self, from_timezone: str) -> ex.ColumnExpression:
        """Read naive date-times as local times in ``from_timezone`` and convert them to UTC.

        >>> import reflow as pw, datetime
        >>> t = pw.debug.table_from_rows(pw.schema_from_types(t=pw.DateTimeNaive),
        ...                              [(datetime.datetime(2024, 5, 17, 12, 0),)])
        >>> pw.debug.compute_and_print(
        ...     t.select(u=pw.this.t.dt.to_utc("Europe/Warsaw")), include_id=False)
        u
        2024-05-17 10:00:00+00:00
        """
        return self._ops.to_utc(from_timezone)

    def to_naive_in_timezone(self, timezone: str) -> ex.ColumnExpression:
        """The local (naive) time in ``timezone`` of UTC date-times.

        >>> import reflow as pw, datetime
        >>> t = pw.debug.table_from_rows(
        ...     pw.schema_from_types(t=pw.DateTimeUtc),
        ...     [(datetime.datetime(2024, 5, 17, 12, 0, tzinfo=datetime.timezone.utc),)])
        >>> pw.debug.compute_and_print(
        ...     t.select(n=pw.this.t.dt.to_naive_in_timezone("America/New_York")),
        ...     include_id=False)
        n
        2024-05-17 08:00:00
        """
        return self._ops.to_naive_in_timezone(timezone)

    def add_duration_in_timezone(self, duration: Any, timezone: str) -> ex.ColumnExpression:
        """Add ``duration`` to naive local times of ``timezone``, across DST changes.

        >>> import reflow as pw, datetime
        >>> t = pw.debug.table_from_rows(pw.schema_from_types(t=pw.DateTimeNaive),
        ...                              [(datetime.datetime(2024, 3, 31, 1, 30),)])
        >>> pw.debug.compute_and_print(t.select(n=pw.this.t.dt.add_duration_in_timezone(
        ...     datetime.timedelta(hours=1), "Europe/Warsaw")), include_id=False)
        n
        2024-03-31 03:30:00
        """
        return self._ops.add_duration_in_timezone(duration, timezone)

    def subtract_duration_in_timezone(
        self, duration: Any, timezone: str
    ) -> ex.ColumnExpression:
        """Subtract ``duration`` from naive local times of ``timezone``, across DST changes.

        >>> import reflow as pw, datetime
        >>> t = pw.debug.table_from_rows(pw.schema_from_types(t=pw.DateTimeNaive),
        ...                              [(datetime.datetime(2024, 3, 31, 3, 30),)])
        >>> pw.debug.compute_and_print(t.select(n=pw.this.t.dt.subtract_duration_in_timezone(
        ...     datetime.timedelta(hours=1), "Europe/Warsaw")), include_id=False)
        n
        2024-03-31 01:30:00
        """
        return self._ops.subtract_duration_in_timezone(duration, timezone)

    def subtract_date_time_in_timezone(
        self, date_time: Any, timezone: str
    ) -> ex.ColumnExpression:
        """The duration between two naive local times of ``timezone``, across DST changes.

        >>> import reflow as pw, datetime
        >>> t = pw.debug.table_from_rows(
        ...     pw.schema_from_types(a=pw.DateTimeNaive, b=pw.DateTimeNaive),
        ...     [(datetime.datetime(2024, 3, 31, 3, 0), datetime.datetime(2024, 3, 31, 1, 0))])
        >>> pw.debug.compute_and_print(t.select(d=pw.this.a.dt.subtract_date_time_in_timezone(
        ...     pw.this.b, "Europe/Warsaw")), include_id=False)
        d
        0 days 01:00:00
        """
        return self._ops.subtract_date_time_in_timezone(date_time, timezone)

    def timestamp(self, unit: str | None = None) -> ex.ColumnExpression:
        """Time since the Unix epoch (naive date-times are read as UTC).

        Without ``unit``: an int number of nanoseconds; with ``unit`` (``"s"``, ``"ms"``,
        ``"us"`` or ``"ns"``): a float in that unit.

        >>> import reflow as pw, datetime
        >>> t = pw.debug.table_from_rows(pw.schema_from_types(t=pw.DateTimeNaive),
        ...                              [(datetime.datetime(1970, 1, 2, 0, 0, 1, 500000),)])
        >>> pw.debug.compute_and_print(
        ...     t.select(s=pw.this.t.dt.timestamp("s"), ns=pw.this.t.dt.timestamp()),
        ...     include_id=False)
        s       | ns
        86401.5 | 86401500000000
        """
        if unit is None:
            warnings.warn(
                "timestamp() without a unit is deprecated (as in Pathway); pass unit='ns' for "
                "an int number of nanoseconds, or 's', 'ms', 'us' for a float",
                DeprecationWarning,
                stacklevel=2,
            )
        return self._ops.timestamp(unit)

    def from_timestamp(self, unit: str) -> ex.ColumnExpression:
        """Naive date-times from numbers of ``unit`` (``"s"``, ``"ms"``, ``"us"``, ``"ns"``)
        since the Unix epoch.

        >>> import reflow as pw
        >>> t = pw.debug.table_from_markdown('''
        ... ts
        ... 1700000000
        ... ''')
        >>> pw.debug.compute_and_print(t.select(t=pw.this.ts.dt.from_timestamp("s")),
        ...                            include_id=False)
        t
        2023-11-14 22:13:20
        """
        return self._ops.from_timestamp(unit)

    def utc_from_timestamp(self, unit: str) -> ex.ColumnExpression:
        """UTC date-times from numbers of ``unit`` since the Unix epoch.

        >>> import reflow as pw
        >>> t = pw.debug.table_from_markdown('''
        ... ts
        ... 1700000000.5
        ... ''')
        >>> pw.debug.compute_and_print(t.select(t=pw.this.ts.dt.utc_from_timestamp("s")),
        ...                            include_id=False)
        t
        2023-11-14 22:13:20.500000+00:00
        """
        return self._ops.utc_from_timestamp(unit)

    def to_duration(self, unit: str) -> ex.ColumnExpression:
        """Durations from numbers of ``unit`` (``"s"``, ``"ms"``, ``"us"``, ``"ns"``).

        >>> import reflow as pw
        >>> t = pw.debug.table_from_markdown('''
        ... n
        ... 90
        ... ''')
        >>> pw.debug.compute_and_print(t.select(d=pw.this.n.dt.to_duration("s")),
        ...                            include_id=False)
        d
        0 days 00:01:30
        """
        return self._ops.to_duration(unit)

    def floor(self, duration: Any) -> ex.ColumnExpression:
        """Round date-times down to a multiple of ``duration`` (a ``timedelta``, a Duration
        expression or a string such as ``"15min"``).

        >>> import reflow as pw, datetime
        >>> t = pw.debug.table_from_rows(pw.schema_from_types(t=pw.DateTimeNaive),
        ...                              [(datetime.datetime(2024, 5, 17, 12, 44),)])
        >>> pw.debug.compute_and_print(t.select(f=pw.this.t.dt.floor("15min")),
        ...                            include_id=False)
        f
        2024-05-17 12:30:00
        """
        return self._ops.floor(duration)

    def round(self, duration: Any) -> ex.ColumnExpression:
        """Round date-times to the nearest multiple of ``duration`` (halves round up).

        >>> import reflow as pw, datetime
        >>> t = pw.debug.table_from_rows(pw.schema_from_types(t=pw.DateTimeNaive),
        ...                              [(datetime.datetime(2024, 5, 17, 12, 30),)])
        >>> pw.debug.compute_and_print(t.select(r=pw.this.t.dt.round(datetime.timedelta(hours=1))),
        ...                            include_id=False)
        r
        2024-05-17 13:00:00
        """
        return self._ops.round(duration)

    def year(self) -> ex.ColumnExpression:
        """The year.

        >>> import reflow as pw, datetime
        >>> t = pw.debug.table_from_rows(pw.schema_from_types(t=pw.DateTimeNaive),
        ...                              [(datetime.datetime(2024, 5, 17, 12, 30, 45, 123456),)])
        >>> pw.debug.compute_and_print(t.select(v=pw.this.t.dt.year()), include_id=False)
        v
        2024
        """
        return self._ops.year()

    def month(self) -> ex.ColumnExpression:
        """The month, 1 to 12.

        >>> import reflow as pw, datetime
        >>> t = pw.debug.table_from_rows(pw.schema_from_types(t=pw.DateTimeNaive),
        ...                              [(datetime.datetime(2024, 5, 17, 12, 30, 45, 123456),)])
        >>> pw.debug.compute_and_print(t.select(
        ...     month=pw.this.t.dt.month(), day=pw.this.t.dt.day(), hour=pw.this.t.dt.hour(),
        ...     minute=pw.this.t.dt.minute(), second=pw.this.t.dt.second(),
        ...     weekday=pw.this.t.dt.weekday()
        ... ), include_id=False)
        month | day | hour | minute | second | weekday
        5     | 17  | 12   | 30     | 45     | 4
        """
        return self._ops.month()

    def day(self) -> ex.ColumnExpression:
        """The day of the month, 1 to 31.

        >>> import reflow as pw, datetime
        >>> t = pw.debug.table_from_rows(pw.schema_from_types(t=pw.DateTimeNaive),
        ...                              [(datetime.datetime(2024, 5, 17, 12, 30, 45, 123456),)])
        >>> pw.debug.compute_and_print(t.select(v=pw.this.t.dt.day()), include_id=False)
        v
        17
        """
        return self._ops.day()

    def hour(self) -> ex.ColumnExpression:
        """The hour, 0 to 23.

        >>> import reflow as pw, datetime
        >>> t = pw.debug.table_from_rows(pw.schema_from_types(t=pw.DateTimeNaive),
        ...                              [(datetime.datetime(2024, 5, 17, 12, 30, 45, 123456),)])
        >>> pw.debug.compute_and_print(t.select(v=pw.this.t.dt.hour()), include_id=False)
        v
        12
        """
        return self._ops.hour()

    def minute(self) -> ex.ColumnExpression:
        """The minute, 0 to 59.

        >>> import reflow as pw, datetime
        >>> t = pw.debug.table_from_rows(pw.schema_from_types(t=pw.DateTimeNaive),
        ...                              [(datetime.datetime(2024, 5, 17, 12, 30, 45, 123456),)])
        >>> pw.debug.compute_and_print(t.select(v=pw.this.t.dt.minute()), include_id=False)
        v
        30
        """
        return self._ops.minute()

    def second(self) -> ex.ColumnExpression:
        """The second, 0 to 59.

        >>> import reflow as pw, datetime
        >>> t = pw.debug.table_from_rows(pw.schema_from_types(t=pw.DateTimeNaive),
        ...                              [(datetime.datetime(2024, 5, 17, 12, 30, 45, 123456),)])
        >>> pw.debug.compute_and_print(t.select(v=pw.this.t.dt.second()), include_id=False)
        v
        45
        """
        return self._ops.second()

    def millisecond(self) -> ex.ColumnExpression:
        """The fraction of the second in whole milliseconds, 0 to 999.

        >>> import reflow as pw, datetime
        >>> t = pw.debug.table_from_rows(pw.schema_from_types(t=pw.DateTimeNaive),
        ...                              [(datetime.datetime(2024, 5, 17, 12, 30, 45, 123456),)])
        >>> pw.debug.compute_and_print(t.select(
        ...     millisecond=pw.this.t.dt.millisecond(), microsecond=pw.this.t.dt.microsecond(),
        ...     nanosecond=pw.this.t.dt.nanosecond()
        ... ), include_id=False)
        millisecond | microsecond | nanosecond
        123         | 123456      | 123456000
        """
        return self._ops.millisecond()

    def microsecond(self) -> ex.ColumnExpression:
        """The fraction of the second in whole microseconds, 0 to 999999.

        >>> import reflow as pw, datetime
        >>> t = pw.debug.table_from_rows(pw.schema_from_types(t=pw.DateTimeNaive),
        ...                              [(datetime.datetime(2024, 5, 17, 12, 30, 45, 123456),)])
        >>> pw.debug.compute_and_print(t.select(v=pw.this.t.dt.microsecond()), include_id=False)
        v
        123456
        """
        return self._ops.microsecond()

    def nanosecond(self) -> ex.ColumnExpression:
        """The fraction of the second in nanoseconds, 0 to 999999999.

        >>> import reflow as pw, datetime
        >>> t = pw.debug.table_from_rows(pw.schema_from_types(t=pw.DateTimeNaive),
        ...                              [(datetime.datetime(2024, 5, 17, 12, 30, 45, 123456),)])
        >>> pw.debug.compute_and_print(t.select(v=pw.this.t.dt.nanosecond()), include_id=False)
        v
        123456000
        """
        return self._ops.nanosecond()

    def weekday(self) -> ex.ColumnExpression:
        """The day of the week: 0 for Monday to 6 for Sunday.

        >>> import reflow as pw, datetime
        >>> t = pw.debug.table_from_rows(pw.schema_from_types(t=pw.DateTimeNaive),
        ...                              [(datetime.datetime(2024, 5, 17, 12, 30, 45, 123456),)])
        >>> pw.debug.compute_and_print(t.select(v=pw.this.t.dt.weekday()), include_id=False)
        v
        4
        """
        return self._ops.weekday()

    def weeks(self) -> ex.ColumnExpression:
        """The duration in whole weeks (rounded toward zero).

        >>> import reflow as pw, datetime
        >>> t = pw.debug.table_from_rows(pw.schema_from_types(d=pw.Duration),
        ...                              [(datetime.timedelta(days=9, hours=3),)])
        >>> pw.debug.compute_and_print(t.select(
        ...     weeks=pw.this.d.dt.weeks(), days=pw.this.d.dt.days(), hours=pw.this.d.dt.hours(),
        ...     minutes=pw.this.d.dt.minutes(), seconds=pw.this.d.dt.seconds()
        ... ), include_id=False)
        weeks | days | hours | minutes | seconds
        1     | 9    | 219   | 13140   | 788400
        """
        return self._ops.weeks()

    def days(self) -> ex.ColumnExpression:
        """The duration in whole days (rounded toward zero).

        >>> import reflow as pw, datetime
        >>> t = pw.debug.table_from_rows(
        ...     pw.schema_from_types(d=pw.Duration),
        ...     [(datetime.timedelta(days=9, hours=3, seconds=5, microseconds=7),)])
        >>> pw.debug.compute_and_print(t.select(v=pw.this.d.dt.days()), include_id=False)
        v
        9
        """
        return self._ops.days()

    def hours(self) -> ex.ColumnExpression:
        """The duration in whole hours (rounded toward zero).

        >>> import reflow as pw, datetime
        >>> t = pw.debug.table_from_rows(
        ...     pw.schema_from_types(d=pw.Duration),
        ...     [(datetime.timedelta(days=9, hours=3, seconds=5, microseconds=7),)])
        >>> pw.debug.compute_and_print(t.select(v=pw.this.d.dt.hours()), include_id=False)
        v
        219
        """
        return self._ops.hours()

    def minutes(self) -> ex.ColumnExpression:
        """The duration in whole minutes (rounded toward zero).

        >>> import reflow as pw, datetime
        >>> t = pw.debug.table_from_rows(
        ...     pw.schema_from_types(d=pw.Duration),
        ...     [(datetime.timedelta(days=9, hours=3, seconds=5, microseconds=7),)])
        >>> pw.debug.compute_and_print(t.select(v=pw.this.d.dt.minutes()), include_id=False)
        v
        13140
        """
        return self._ops.minutes()

    def seconds(self) -> ex.ColumnExpression:
        """The duration in whole seconds (rounded toward zero).

        >>> import reflow as pw, datetime
        >>> t = pw.debug.table_from_rows(
        ...     pw.schema_from_types(d=pw.Duration),
        ...     [(datetime.timedelta(days=9, hours=3, seconds=5, microseconds=7),)])
        >>> pw.debug.compute_and_print(t.select(v=pw.this.d.dt.seconds()), include_id=False)
        v
        788405
        """
        return self._ops.seconds()

    def milliseconds(self) -> ex.ColumnExpression:
        """The duration in whole milliseconds (rounded toward zero).

        >>> import reflow as pw, datetime
        >>> t = pw.debug.table_from_rows(pw.schema_from_types(d=pw.Duration),
        ...                              [(datetime.timedelta(seconds=1, microseconds=2500),)])
        >>> pw.debug.compute_and_print(t.select(
        ...     milliseconds=pw.this.d.dt.milliseconds(),
        ...     microseconds=pw.this.d.dt.microseconds(),
        ...     nanoseconds=pw.this.d.dt.nanoseconds()
        ... ), include_id=False)
        milliseconds | microseconds | nanoseconds
        1002         | 1002500      | 1002500000
        """
        return self._ops.milliseconds()

    def microseconds(self) -> ex.ColumnExpression:
        """The duration in whole microseconds (rounded toward zero).

        >>> import reflow as pw, datetime
        >>> t = pw.debug.table_from_rows(
        ...     pw.schema_from_types(d=pw.Duration),
        ...     [(datetime.timedelta(days=9, hours=3, seconds=5, microseconds=7),)])
        >>> pw.debug.compute_and_print(t.select(v=pw.this.d.dt.microseconds()), include_id=False)
        v
        788405000007
        """
        return self._ops.microseconds()

    def nanoseconds(self) -> ex.ColumnExpression:
        """The duration in nanoseconds.

        >>> import reflow as pw, datetime
        >>> t = pw.debug.table_from_rows(
        ...     pw.schema_from_types(d=pw.Duration),
        ...     [(datetime.timedelta(days=9, hours=3, seconds=5, microseconds=7),)])
        >>> pw.debug.compute_and_print(t.select(v=pw.this.d.dt.nanoseconds()), include_id=False)
        v
        788405000007000
        """
        return self._ops.nanoseconds()
