"""Selects of int arithmetic evaluated on numpy, for the small batches of a streaming run.

A select is one Polars query whose fixed cost (with its overflow and division checks, about a
millisecond on a busy machine) dominates a batch of a few dozen rows. A select whose outputs
are input columns without error values and int expressions made of int64 columns, int
literals and ``+``, ``-``, ``*``, ``//``, ``%`` (and unary ``-``) is evaluated here on the
columns' numpy arrays instead.

This path only computes batches in which no cell can be an error: a batch holding a null in
an operand, an operand stored other than as int64, a zero divisor, or a cell that could
overflow (or whose overflow check would not be exact and cheap) is left to the general
Polars kernel, which computes the values, the error cells and their reports. So the results
are the general kernel's whenever this path answers.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, Any

import polars as pl

from reflow.engine.batch import DIFF, ID, frame_of, series_from_numpy
from reflow.engine.lazy_modules import imported_on_use
from reflow.plan import dtypes as dt
from reflow.plan import expr as ex
from reflow.plan.error_columns import error_column

if TYPE_CHECKING:
    import numpy as np
else:
    np = imported_on_use("numpy", globals(), "np")

#: The output batch of a select, or ``None`` when the batch is not one this path computes.
SmallProjection = Callable[[pl.DataFrame], "pl.DataFrame | None"]

# Up to this many rows a select with a small projection tries it before the Polars query.
SMALL_PROJECTION_ROWS = 4096

_Evaluator = Callable[[pl.DataFrame], Any]
_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1
# A product whose float estimate stays below this is exact in int64 (the estimate's relative
# error is ~2**-52); a larger one is left to the general kernel's exact check.
_SAFE_PRODUCT = float(1 << 62)


class _Unsupported(Exception):
    """The batch holds a null, another storage type, or a cell that may be an error."""


def small_projection(
    outputs: dict[str, ex.ColumnExpression],
    column_name: Callable[[int, str], str],
    fallible: Collection[str] = (),
) -> SmallProjection | None:
    """A numpy evaluator of the select ``outputs`` (resolved expressions), with ``_id`` first
    and ``_diff`` last as the general kernel orders them; ``None`` when an output is anything
    but an input column or the int arithmetic listed above, or when no output computes
    anything (the general kernel then only picks columns, which costs no query).

    ``column_name`` maps an input column to its name in the batch (as for the compiler);
    ``fallible`` names the outputs whose batches carry an error companion (all false here)."""
    parts: list[tuple[str, str | None, _Evaluator | None]] = []
    computes = False
    for name, node in outputs.items():
        if isinstance(node, ex.InputColumn):
            if node.fallible:  # its error companion is the general kernel's business
                return None
            parts.append((name, column_name(node.source, node.name), None))
            continue
        built = _build_int(node, column_name)
        if built is None or not built[1]:  # unsupported, or a constant
            return None
        parts.append((name, None, built[0]))
        if name in fallible:
            parts.append((error_column(name), None, None))
        computes = True
    if not computes:
        return None

    def project(frame: pl.DataFrame) -> pl.DataFrame | None:
        columns = [frame.get_column(ID)]
        try:
            for name, source, evaluate in parts:
                if evaluate is not None:
                    columns.append(series_from_numpy(name, evaluate(frame)))
                elif source is not None:
                    columns.append(frame.get_column(source).alias(name))
                else:  # the error companion of a computed column: no cell is an error
                    columns.append(series_from_numpy(name, np.zeros(frame.height, np.bool_)))
        except _Unsupported:
            return None
        columns.append(frame.get_column(DIFF))
        return frame_of(columns)

    return project


def with_small_projection(
    kernel: Callable[[pl.DataFrame, Any], pl.DataFrame], small: SmallProjection
) -> Callable[[pl.DataFrame, Any], pl.DataFrame]:
    """``kernel``, trying ``small`` first on batches of up to ``SMALL_PROJECTION_ROWS`` rows."""

    def run(frame: pl.DataFrame, ctx: Any) -> pl.DataFrame:
        if frame.height <= SMALL_PROJECTION_ROWS:
            out = small(frame)
            if out is not None:
                return out
        return kernel(frame, ctx)

    return run


def _build_int(
    node: ex.ColumnExpression, column_name: Callable[[int, str], str]
) -> tuple[_Evaluator, bool] | None:
    """``(evaluator, reads_a_column)`` of an int expression ``node``; the evaluator gives an
    int64 array (or a Python int for a literal)."""
    if node.dtype is None or node.dtype.strip_optional() != dt.INT:
        return None
    if isinstance(node, ex.InputColumn):
        if node.fallible:
            return None
        return _column(column_name(node.source, node.name)), True
    if type(node) is ex.Literal:
        value = node.value
        if type(value) is not int or not _INT64_MIN <= value <= _INT64_MAX:
            return None
        return (lambda frame: value), False
    if type(node) is ex.UnaryOp and node.op == "-":
        arg = _build_int(node.arg, column_name)
        if arg is None or not arg[1]:
            return None
        return _negate(arg[0]), True
    if type(node) is ex.BinaryOp and node.op in _BINARY:
        left, right = _build_int(node.left, column_name), _build_int(node.right, column_name)
        if left is None or right is None or not (left[1] or right[1]):
            return None
        return _BINARY[node.op](left[0], right[0]), True
    return None


def _column(name: str) -> _Evaluator:
    def evaluate(frame: pl.DataFrame) -> np.ndarray:
        series = frame.get_column(name)
        if series.dtype != pl.Int64 or series.null_count():
            raise _Unsupported
        return series.to_numpy()

    return evaluate


def _negate(arg: _Evaluator) -> _Evaluator:
    def evaluate(frame: pl.DataFrame) -> np.ndarray:
        a = arg(frame)
        if (a == _INT64_MIN).any():
            raise _Unsupported
        return np.negative(a)

    return evaluate


def _add(left: _Evaluator, right: _Evaluator) -> _Evaluator:
    def evaluate(frame: pl.DataFrame) -> np.ndarray:
        a, b = left(frame), right(frame)
        result = np.add(a, b)  # wraps around on overflow
        # Overflowed: both operands have the sign the result lacks.
        a_neg = np.less(a, 0)
        if (np.equal(a_neg, np.less(b, 0)) & np.not_equal(np.less(result, 0), a_neg)).any():
            raise _Unsupported
        return result

    return evaluate


def _subtract(left: _Evaluator, right: _Evaluator) -> _Evaluator:
    def evaluate(frame: pl.DataFrame) -> np.ndarray:
        a, b = left(frame), right(frame)
        result = np.subtract(a, b)  # wraps around on overflow
        # Overflowed: the operands' signs differ and the result lacks a's.
        a_neg = np.less(a, 0)
        if (np.not_equal(a_neg, np.less(b, 0)) & np.not_equal(np.less(result, 0), a_neg)).any():
            raise _Unsupported
        return result

    return evaluate


def _multiply(left: _Evaluator, right: _Evaluator) -> _Evaluator:
    def evaluate(frame: pl.DataFrame) -> np.ndarray:
        a, b = left(frame), right(frame)
        estimate = np.multiply(np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64))
        if (np.abs(estimate) >= _SAFE_PRODUCT).any():
            raise _Unsupported
        return np.multiply(a, b)

    return evaluate


def _dividing(function: Callable[[Any, Any], Any]) -> Callable[[_Evaluator, _Evaluator],
                                                                  _Evaluator]:
    """``//`` or ``%`` (floor semantics, as Python's and Polars'), leaving zero divisors and
    the one quotient that overflows (``-2**63 // -1``) to the general kernel."""

    def build(left: _Evaluator, right: _Evaluator) -> _Evaluator:
        def evaluate(frame: pl.DataFrame) -> np.ndarray:
            a, b = left(frame), right(frame)
            if (np.equal(b, 0) | (np.equal(b, -1) & np.equal(a, _INT64_MIN))).any():
                raise _Unsupported
            return np.asarray(function(a, b), dtype=np.int64)

        return evaluate

    return build


_BINARY: dict[str, Callable[[_Evaluator, _Evaluator], _Evaluator]] = {
    "+": _add,
    "-": _subtract,
    "*": _multiply,
    "//": _dividing(lambda a, b: np.floor_divide(a, b)),
    "%": _dividing(lambda a, b: np.remainder(a, b)),
}
