"""The ``.str`` namespace: string operations, vectorized with Polars."""

from __future__ import annotations

from reflow.api import dtypes as dt
from reflow.api import expression as ex


def _requires_str(*types: dt.DType) -> None:
    if types and types[0].strip_optional() not in (dt.STR, dt.ANY):
        raise TypeError(f"expected a str column, got {types[0]!r}")


def _keep_optional(result: dt.DType):
    def result_type(*types: dt.DType) -> dt.DType:
        _requires_str(*types)
        return dt.Optional(result) if types[0].is_optional else result

    return result_type


class StringNamespace:
    """String operations on a column: ``pw.this.name.str.upper()``.

    >>> import reflow as pw
    >>> t = pw.debug.table_from_markdown('''
    ... name
    ... Alice
    ... ''')
    >>> pw.debug.compute_and_print(t.select(u=pw.this.name.str.upper()), include_id=False)
    u
    ALICE
    """

    def __init__(self, expr: ex.ColumnExpression) -> None:
        self._expr = expr

    def lower(self) -> ex.ColumnExpression:
        """Lowercase."""
        return ex.PolarsCall(
            "str.lower", [self._expr], lambda s: s.str.to_lowercase(), _keep_optional(dt.STR)
        )

    def upper(self) -> ex.ColumnExpression:
        """Uppercase."""
        return ex.PolarsCall(
            "str.upper", [self._expr], lambda s: s.str.to_uppercase(), _keep_optional(dt.STR)
        )

    def len(self) -> ex.ColumnExpression:
        """Number of characters."""
        return ex.PolarsCall(
            "str.len", [self._expr], lambda s: s.str.len_chars().cast(int),
            _keep_optional(dt.INT),
        )
