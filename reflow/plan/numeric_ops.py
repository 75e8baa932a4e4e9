"""The numeric functions of expressions (behind ``.num``): result types and Polars kernels.

The API's namespace (``reflow.api.namespaces.numbers``) names them; each builds a plan
expression node.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from reflow.plan import dtypes as dt
from reflow.plan import expr as ex

# Powers of ten up to 10**22 are exact floats, which the exact rounding below relies on.
_MAX_EXACT_POWER = 22
_SPLITTER = 134217729.0  # 2**27 + 1, splits a float into two 26-bit halves


def _same_numeric(*types: dt.DType) -> dt.DType:
    if not dt.is_numeric(types[0]):
        raise TypeError(f"expected an int or float column, got {types[0]!r}")
    return types[0]


def _split(a: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    scaled = a * _SPLITTER
    high = scaled - (scaled - a)
    return high, a - high


def _product_error(a: pl.Expr, b: pl.Expr, product: pl.Expr) -> pl.Expr:
    """``a * b - product`` computed exactly (Dekker's two-product), for ``product = a * b``."""
    a_hi, a_lo = _split(a)
    b_hi, b_lo = _split(b)
    return ((a_hi * b_hi - product) + a_hi * b_lo + a_lo * b_hi) + a_lo * b_lo


def _unfolded(like: pl.Expr, value: pl.Expr) -> pl.Expr:
    """``value`` as a per-row column: Polars turns division by a constant into multiplication
    by its reciprocal, which is not correctly rounded (-9988.0 / 10 would give
    -998.8000000000001)."""
    return like * 0.0 + value


def _round_float(x: pl.Expr, decimals: int) -> pl.Expr:
    """Python's ``round(x, decimals)`` for floats: the exact binary value is rounded, ties go
    to even. Polars' own rounding works on ``x * 10**decimals`` after it was rounded to a
    float, which differs from Python on values such as 0.45 or 2.675."""
    if decimals > _MAX_EXACT_POWER:
        return x
    if decimals < -_MAX_EXACT_POWER:
        half = 0.5 * 10.0 ** (-decimals)
        return pl.when(x.abs() <= half).then(x * 0.0).otherwise(x)
    scale = pl.lit(10.0 ** abs(decimals), pl.Float64)
    if decimals >= 0:
        scaled = x * scale
        # exact x * scale == scaled + above
        above = _product_error(x, scale, scaled)
    else:
        scaled = x / _unfolded(x, scale)
        # exact x / scale - scaled has the sign of x - scaled * scale
        product = scaled * scale
        above = (x - product) - _product_error(scaled, scale, product)
    nearest = scaled.round(0, mode="half_to_even")
    floor = scaled.floor()
    tie = (scaled - floor) == 0.5
    rounded = (
        pl.when(tie & (above > 0)).then(floor + 1.0)
        .when(tie & (above < 0)).then(floor)
        .otherwise(nearest)
    )
    result = rounded / _unfolded(rounded, scale) if decimals >= 0 else rounded * scale
    # Values with no digits left to round stay as they are (as do inf and nan); for values
    # with more requested digits than a float holds this may differ from Python in the last
    # bit.
    keep = ~scaled.is_finite() | (scaled.abs() >= 2.0**52) | ~x.is_finite()
    return pl.when(keep).then(x).otherwise(result)


def _round_int(x: pl.Expr, decimals: int) -> pl.Expr:
    """Python's ``round(n, decimals)`` for ints (only negative ``decimals`` change anything)."""
    if decimals >= 0:
        return x
    if -decimals > 18:
        return x * 0
    step = 10 ** (-decimals)
    quotient = x // step
    remainder = x - quotient * step
    up = (remainder * 2 > step) | ((remainder * 2 == step) & (quotient % 2 == 1))
    return (quotient + up.cast(pl.Int64)) * step


class NumericOps:
    """The plan operations behind ``.num``: each method builds the expression node of one
    numeric function of the column ``expr``."""

    def __init__(self, expr: ex.ColumnExpression) -> None:
        self._expr = expr

    def abs(self) -> ex.ColumnExpression:
        """Absolute value (``None`` stays ``None``); the smallest int64, which has none in
        int64, gives an error value."""
        return ex.PolarsCall(
            "num.abs", [self._expr], lambda x: x.abs(), _same_numeric,
            error_when=lambda x: x.abs() < 0, error_message="integer overflow",
        )

    def round(self, decimals: int = 0) -> ex.ColumnExpression:
        """Round to ``decimals`` digits (an int or an int column) exactly as Python's ``round``
        (ties to even)."""
        if isinstance(decimals, ex.ColumnExpression):
            # decimals given per row: Python's round, row by row
            def round_row(x: Any, digits: int) -> Any:
                return round(x, digits)

            def result(x_type: dt.DType, digits_type: dt.DType) -> dt.DType:
                if digits_type.strip_optional() not in (dt.INT, dt.ANY):
                    raise TypeError(f"decimals must be an int column, got {digits_type!r}")
                return x_type.strip_optional()

            return ex.RowwiseCall(
                "num.round", round_row, (self._expr, decimals), result, propagate_none=True
            )
        if not isinstance(decimals, int) or isinstance(decimals, bool):
            raise ex.type_error(
                f"num.round: decimals must be an int, got {decimals!r}", self._expr
            )

        def kernel(types: list[dt.DType], x: pl.Expr) -> pl.Expr:
            if types[0].strip_optional() == dt.INT:
                return _round_int(x, decimals)
            return _round_float(x, decimals)

        return ex.TypedPolarsCall("num.round", [self._expr], kernel, _same_numeric)

    def fill_na(self, default_value: Any) -> ex.ColumnExpression:
        """Replace ``None`` (and NaN in float columns) with ``default_value``."""

        def result_type(arg: dt.DType, default: dt.DType) -> dt.DType:
            if not dt.is_numeric(arg):
                raise TypeError(f"expected an int or float column, got {arg!r}")
            if not dt.is_numeric(default) and default != dt.NONE:
                raise TypeError(f"the default value must be an int or float, got {default!r}")
            return dt.unify(arg.strip_optional(), default)

        def kernel(types: list[dt.DType], x: pl.Expr, default: pl.Expr) -> pl.Expr:
            if types[0].strip_optional() == dt.FLOAT:
                x = x.fill_nan(None)
            return x.fill_null(default)

        return ex.TypedPolarsCall("num.fill_na", [self._expr, default_value], kernel, result_type)
