"""The ``.dt`` namespace: date, time and duration operations."""

from __future__ import annotations

from reflow.api import dtypes as dt
from reflow.api import expression as ex

_TIMES = (dt.DATE_TIME_NAIVE, dt.DATE_TIME_UTC)


def _int_field(*types: dt.DType) -> dt.DType:
    if types[0].strip_optional() not in _TIMES:
        raise TypeError(f"expected a datetime column, got {types[0]!r}")
    return dt.Optional(dt.INT) if types[0].is_optional else dt.INT


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
        self._expr = expr

    def year(self) -> ex.ColumnExpression:
        """The year."""
        return ex.PolarsCall("dt.year", [self._expr], lambda t: t.dt.year().cast(int), _int_field)
