"""Filter conditions evaluated on numpy, for the small batches of a streaming run.

A Polars filter is a query whose fixed cost (tens to hundreds of microseconds, far more on a
busy machine) dominates a batch of a few rows. Conditions made only of int, string and bool
columns, literals of those types, comparisons and the boolean operators ``&``, ``|``, ``^``,
``~`` are evaluated here on the columns' numpy arrays instead. A batch whose columns hold a
null (or a dtype other than the one expected) is left to the Polars filter, so three-valued
logic never arises here.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import polars as pl

from reflow.engine.lazy_modules import imported_on_use
from reflow.plan import dtypes as dt
from reflow.plan import expr as ex

if TYPE_CHECKING:
    import numpy as np
else:
    np = imported_on_use("numpy", globals(), "np")

#: The mask of a batch's rows, or ``None`` when the batch is not one this path can evaluate.
SmallMask = Callable[[pl.DataFrame], "np.ndarray | None"]

_Evaluator = Callable[[pl.DataFrame], Any]

_KINDS: dict[dt.DType, str] = {dt.INT: "int", dt.STR: "str", dt.BOOL: "bool"}
_STORAGE: dict[str, tuple[pl.DataType, ...]] = {
    "int": (pl.Int64(), pl.Int32(), pl.Int16(), pl.Int8()),
    "str": (pl.String(),),
    "bool": (pl.Boolean(),),
}
_COMPARE = {
    "==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le,
    ">": operator.gt, ">=": operator.ge,
}
_LOGIC = {"&": "logical_and", "|": "logical_or", "^": "logical_xor"}  # numpy ufuncs
_INT64 = (-(1 << 63), (1 << 63) - 1)


class _Unsupported(Exception):
    """The batch holds a null or an unexpected dtype: the Polars filter takes it."""


def small_mask(
    condition: ex.ColumnExpression, column_name: Callable[[int, str], str]
) -> SmallMask | None:
    """A numpy evaluator of ``condition`` (a resolved filter condition), or ``None`` when the
    condition uses anything but the columns, literals and operators listed above.

    ``column_name`` maps an input column to its name in the batch (as for the compiler)."""
    built = _build(condition, column_name)
    if built is None or built[1] != "bool":
        return None
    evaluate = built[0]

    def mask(frame: pl.DataFrame) -> np.ndarray | None:
        try:
            value = evaluate(frame)
        except _Unsupported:
            return None
        if isinstance(value, np.ndarray):
            return value
        return np.full(frame.height, bool(value))

    return mask


def _build(
    node: ex.ColumnExpression, column_name: Callable[[int, str], str]
) -> tuple[_Evaluator, str] | None:
    """``(evaluator, kind)`` of ``node``, kind being ``int``, ``str`` or ``bool``."""
    if isinstance(node, ex.InputColumn):
        kind = _KINDS.get(node.dtype.strip_optional())
        if kind is None or node.fallible:
            return None
        return _column(column_name(node.source, node.name), _STORAGE[kind]), kind
    if type(node) is ex.Literal:
        return _literal(node.value)
    if type(node) is ex.BinaryOp:
        left, right = _build(node.left, column_name), _build(node.right, column_name)
        if left is None or right is None or left[1] != right[1]:
            return None
        if node.op in _COMPARE:
            return _binary(_COMPARE[node.op], left[0], right[0]), "bool"
        if node.op in _LOGIC and left[1] == "bool":
            return _binary(getattr(np, _LOGIC[node.op]), left[0], right[0]), "bool"
        return None
    if type(node) is ex.UnaryOp and node.op == "~":
        arg = _build(node.arg, column_name)
        if arg is None or arg[1] != "bool":
            return None
        evaluate = arg[0]
        return (lambda frame: np.logical_not(evaluate(frame))), "bool"
    return None


def _column(name: str, storage: tuple[pl.DataType, ...]) -> _Evaluator:
    def evaluate(frame: pl.DataFrame) -> np.ndarray:
        series = frame.get_column(name)
        if series.null_count() or series.dtype not in storage:
            raise _Unsupported
        return series.to_numpy()

    return evaluate


def _literal(value: Any) -> tuple[_Evaluator, str] | None:
    if type(value) is bool:
        kind = "bool"
    elif type(value) is int and _INT64[0] <= value <= _INT64[1]:
        kind = "int"
    elif type(value) is str:
        kind = "str"
    else:
        return None
    return (lambda frame: value), kind


def _binary(function: Callable[[Any, Any], Any], left: _Evaluator, right: _Evaluator
            ) -> _Evaluator:
    def evaluate(frame: pl.DataFrame) -> Any:
        return function(left(frame), right(frame))

    return evaluate
