"""Plan nodes of the order-aware operations: ``sort``, ``pw.ordered.diff`` and ``deduplicate``.

Each node first computes its key, instance and value expressions into hidden columns with one
vectorized projection, then hands the batch to an operator of ``engine.ordered``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import polars as pl

from reflow.engine.batch import DIFF, ID
from reflow.engine.operator import Operator
from reflow.engine.operators.ordered import NEXT, PREV, DeduplicateOperator, SortOperator
from reflow.engine.operators.stateless import MapOperator
from reflow.plan import dtypes as dt
from reflow.plan import expr as ex
from reflow.plan.compile import ExpressionCompiler
from reflow.plan.error_columns import error_column
from reflow.plan.nodes import ColumnInfo, Lowering, PlanNode, Universe, is_fallible
from reflow.plan.rowwise import to_python_values

KEY = "\x00key"
INSTANCE = "\x00instance"
VALUE = "\x00value"
PREV_PREFIX = "\x00prev_"


def _identity_name(source: int, name: str) -> str:
    return ID if name == "id" else name


def _project(
    node: PlanNode,
    operator: Operator,
    outputs: dict[str, ex.ColumnExpression],
    keep: list[str],
    lowering: Lowering,
) -> Operator:
    """A ``MapOperator`` adding the computed ``outputs`` next to the columns ``keep``."""
    compiler = ExpressionCompiler(node.name, _identity_name)
    kernel = compiler.projection_kernel(outputs, keep=(ID, *keep, DIFF))
    return lowering.add(MapOperator(operator, kernel, node.name + " (keys)"))


def _keys(
    key: ex.ColumnExpression, instance: ex.ColumnExpression | None
) -> dict[str, ex.ColumnExpression]:
    outputs = {KEY: key}
    if instance is not None:
        outputs[INSTANCE] = instance
    return outputs


class SortNode(PlanNode):
    """Columns ``prev``/``next``: the neighbours of every row in ``key`` order per instance."""

    label = "sort"

    def __init__(
        self,
        source: PlanNode,
        key: ex.ColumnExpression,
        instance: ex.ColumnExpression | None,
        where: str,
    ) -> None:
        pointer = ColumnInfo(dt.Optional(dt.POINTER))
        super().__init__([source], {PREV: pointer, NEXT: pointer}, source.universe, where)
        self.key = key
        self.instance = instance

    def lower(self, sources: list[Operator], lowering: Lowering) -> Operator:
        keyed = _project(self, sources[0], _keys(self.key, self.instance), [], lowering)
        instance = INSTANCE if self.instance is not None else None
        return lowering.add(SortOperator(keyed, self.name, KEY, instance))


class DiffNode(PlanNode):
    """``diff_<name>``: each row's value minus the previous row's, in ``timestamp`` order."""

    label = "diff"

    def __init__(
        self,
        source: PlanNode,
        timestamp: ex.ColumnExpression,
        values: dict[str, ex.ColumnExpression],
        instance: ex.ColumnExpression | None,
        where: str,
    ) -> None:
        self.timestamp = timestamp
        self.instance = instance
        self.values = values
        self.differences: dict[str, ex.ColumnExpression] = {}
        self.hidden: dict[str, str] = {}
        for position, (name, expr) in enumerate(values.items()):
            hidden = f"\x00value{position}"
            self.hidden[name] = hidden
            own = ex.InputColumn(0, hidden, expr.dtype, is_fallible(expr))
            prev = ex.InputColumn(
                0, PREV_PREFIX + hidden, dt.Optional(expr.dtype), is_fallible(expr)
            )
            difference = ex.BinaryOp("-", own, prev)
            difference._where = where
            difference.dtype = difference._infer()
            self.differences["diff_" + name] = difference
        columns = {
            out: ColumnInfo(dt.Optional(expr.dtype), is_fallible(expr))
            for out, expr in self.differences.items()
        }
        super().__init__([source], columns, source.universe, where)

    def lower(self, sources: list[Operator], lowering: Lowering) -> Operator:
        outputs = _keys(self.timestamp, self.instance)
        outputs.update({self.hidden[name]: expr for name, expr in self.values.items()})
        keyed = _project(self, sources[0], outputs, [], lowering)
        value_columns: dict[str, pl.DataType] = {}
        for name, expr in self.values.items():
            hidden = self.hidden[name]
            value_columns[hidden] = expr.dtype.polars()
            if is_fallible(expr):
                value_columns[error_column(hidden)] = pl.Boolean()
        instance = INSTANCE if self.instance is not None else None
        ordered = lowering.add(
            SortOperator(keyed, self.name, KEY, instance, value_columns, PREV_PREFIX)
        )
        compiler = ExpressionCompiler(self.name, _identity_name)
        kernel = compiler.projection_kernel(self.differences)
        return lowering.add(MapOperator(ordered, kernel, self.name))


class DeduplicateNode(PlanNode):
    """Per instance, the last row whose ``value`` the acceptor accepted."""

    label = "deduplicate"

    def __init__(
        self,
        source: PlanNode,
        value: ex.ColumnExpression,
        instance: ex.ColumnExpression | None,
        acceptor: Callable[[Any, Any], bool],
        where: str,
    ) -> None:
        super().__init__([source], dict(source.columns), Universe(), where)
        self.value = value
        self.instance = instance
        self.acceptor = acceptor

    def lower(self, sources: list[Operator], lowering: Lowering) -> Operator:
        outputs = {VALUE: self.value}
        if self.instance is not None:
            outputs[INSTANCE] = self.instance
        columns = self.polars_columns()
        keyed = _project(self, sources[0], outputs, list(columns), lowering)
        dtype = self.value.dtype
        return lowering.add(
            DeduplicateOperator(
                keyed,
                self.name,
                columns,
                VALUE,
                INSTANCE if self.instance is not None else None,
                self.acceptor,
                lambda series: to_python_values(series, dtype),
                error_column(VALUE) if is_fallible(self.value) else None,
            )
        )
