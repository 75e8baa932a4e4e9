"""The ``.num`` namespace: numeric operations."""

from __future__ import annotations

from typing import Any

from reflow.api import dtypes as dt
from reflow.api import expression as ex


def _same_numeric(*types: dt.DType) -> dt.DType:
    if not dt.is_numeric(types[0]):
        raise TypeError(f"expected a numeric column, got {types[0]!r}")
    return types[0]


class NumericalNamespace:
    """Numeric operations on a column: ``pw.this.x.num.abs()``.

    >>> import reflow as pw
    >>> t = pw.debug.table_from_markdown('''
    ... x
    ... -3
    ... ''')
    >>> pw.debug.compute_and_print(t.select(a=pw.this.x.num.abs()), include_id=False)
    a
    3
    """

    def __init__(self, expr: ex.ColumnExpression) -> None:
        self._expr = expr

    def abs(self) -> ex.ColumnExpression:
        """Absolute value."""
        return ex.PolarsCall("num.abs", [self._expr], lambda x: x.abs(), _same_numeric)

    def round(self, decimals: Any = 0) -> ex.ColumnExpression:
        """Round to ``decimals`` digits (half to even, as Python's ``round``)."""
        return ex.PolarsCall(
            "num.round", [self._expr], lambda x: x.round(decimals, mode="half_to_even"),
            _same_numeric,
        )

    def fill_na(self, default_value: Any) -> ex.ColumnExpression:
        """Replace ``None`` and NaN with ``default_value``."""
        def result_type(arg: dt.DType, default: dt.DType) -> dt.DType:
            return dt.unify(arg.strip_optional(), default)

        def kernel(x, default):
            if self._expr.dtype is not None and self._expr.dtype.strip_optional() == dt.INT:
                return x.fill_null(default)
            return x.fill_nan(None).fill_null(default)

        return ex.PolarsCall("num.fill_na", [self._expr, default_value], kernel, result_type)
