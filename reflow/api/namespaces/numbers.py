"""The ``.num`` namespace: numeric functions of a column, each naming a plan operation
(``reflow.plan.numeric_ops``)."""

from __future__ import annotations

from typing import Any

from reflow.plan import expr as ex
from reflow.plan.numeric_ops import NumericOps


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
        self._ops = NumericOps(expr)

    def abs(self) -> ex.ColumnExpression:
        """Absolute value (``None`` stays ``None``).

        >>> import reflow as pw
        >>> t = pw.debug.table_from_markdown('''
        ... x
        ... -2.5
        ... 1.5
        ... ''')
        >>> pw.debug.compute_and_print(t.select(a=pw.this.x.num.abs()), include_id=False)
        a
        1.5
        2.5
        """
        return self._ops.abs()

    def round(self, decimals: int = 0) -> ex.ColumnExpression:
        """Round to ``decimals`` digits exactly as Python's ``round`` (ties to even).

        ``decimals`` may be negative; int columns stay int.

        >>> import reflow as pw
        >>> t = pw.debug.table_from_markdown('''
        ... x    | n
        ... 2.5  | 1250
        ... 0.45 | 1351
        ... ''')
        >>> pw.debug.compute_and_print(
        ...     t.select(a=pw.this.x.num.round(), b=pw.this.x.num.round(1),
        ...              c=pw.this.n.num.round(-2)),
        ...     include_id=False)
        a   | b   | c
        0.0 | 0.5 | 1400
        2.0 | 2.5 | 1200
        """
        return self._ops.round(decimals)

    def fill_na(self, default_value: Any) -> ex.ColumnExpression:
        """Replace ``None`` (and NaN in float columns) with ``default_value``.

        >>> import reflow as pw
        >>> t = pw.debug.table_from_rows(pw.schema_from_types(x=float | None),
        ...                              [(1.5,), (float("nan"),), (None,)])
        >>> pw.debug.compute_and_print(t.select(a=pw.this.x.num.fill_na(0)), include_id=False)
        a
        0.0
        0.0
        1.5
        """
        return self._ops.fill_na(default_value)
