"""The plan node of ``groupby(...).reduce(...)`` and its lowering.

Lowering gives an ``engine.reduce.ReduceOperator`` maintaining one output row per group; its
projection kernel first computes the grouping keys, every reducer argument, the ``sort_by``
value and the explicit group id (when ``id=`` is given) as plain columns. The node's columns are
the grouping keys followed by the reducer results; expressions over reducer results are a
``SelectNode`` on top, built by ``api.groupby``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

from reflow.engine.batch import DIFF, ID
from reflow.engine.ids import hash_values
from reflow.engine.operator import Operator, RunContext
from reflow.engine.operators.reduce import AggregateSpec, KeySpec, ReduceOperator
from reflow.plan import expr as ex
from reflow.plan.compile import ExpressionCompiler
from reflow.plan.error_columns import error_column
from reflow.plan.nodes import (
    ColumnInfo,
    Lowering,
    PlanNode,
    Universe,
    _single_source_name,
    is_fallible,
)
from reflow.plan.udf_nodes import calls_nondeterministic, memo_select


@dataclass
class ReducerCall:
    """One reducer of a reduce: output column name and the resolved ``ReducerExpression``."""

    name: str
    expression: ex.ReducerExpression


class ReduceNode(PlanNode):
    """One row per group of ``source``; ``keys`` are ``(output name, resolved expression)``.

    The group id is ``pointer_from(*key values)``, the value of ``id_expr`` when given, or
    ``pointer_from()`` for a reduce without keys.
    """

    label = "reduce"

    def __init__(
        self,
        source: PlanNode,
        keys: Sequence[tuple[str, ex.ColumnExpression]],
        reducers: Sequence[ReducerCall],
        where: str,
        id_expr: ex.ColumnExpression | None = None,
        sort_by: ex.ColumnExpression | None = None,
    ) -> None:
        self.keys = list(keys)
        self.reducers = list(reducers)
        self.id_expr = id_expr
        self.sort_by = sort_by
        columns: dict[str, ColumnInfo] = {}
        for name, expr in self.keys:
            columns[name] = ColumnInfo(expr.dtype, False)
        for call in self.reducers:
            reducer = call.expression.reducer
            fallible = any(is_fallible(arg) for arg in call.expression.args)
            can_fail = reducer.can_fail_for([arg.dtype for arg in call.expression.args])
            columns[call.name] = ColumnInfo(call.expression.dtype, fallible or can_fail)
        super().__init__([source], columns, Universe(), where)

    def distinct_when_projected(self, kept: set[str]) -> bool:
        """Without ``id=``, a group's key values never change (they are what its id is
        hashed from), and the reduce emits an update of a group (-old, +new) only when a
        reducer's result changed: a projection keeping every reducer column keeps the two
        rows apart, whichever key columns it drops."""
        return self.id_expr is None and all(call.name in kept for call in self.reducers)

    def lower(self, sources: list[Operator], lowering: Lowering) -> Operator:
        columns = _InputColumns()
        key_specs = []
        for i, (name, expr) in enumerate(self.keys):
            column, error = columns.add(f"\x00key{i}", expr)
            key_specs.append(KeySpec(column, error, name, expr.dtype.polars()))
        agg_specs = []
        for j, call in enumerate(self.reducers):
            expression = call.expression
            args = []
            errors = []
            for i, arg in enumerate(expression.args):
                column, error = columns.add(f"\x00arg{j}_{i}", arg)
                args.append(column)
                if error is not None:
                    errors.append(error)
            info = self.columns[call.name]
            aggregate = expression.reducer.aggregate(
                [a.dtype for a in expression.args], **expression.kwargs
            )
            agg_specs.append(
                AggregateSpec(
                    aggregate,
                    args,
                    errors,
                    call.name,
                    error_column(call.name) if info.fallible else None,
                    info.dtype.polars(),
                )
            )
        id_column = None
        if self.id_expr is not None:
            id_column, _ = columns.add("\x00group_id", self.id_expr)
        sort_column = None
        if self.sort_by is not None:
            sort_column, _ = columns.add("\x00sort_by", self.sort_by)
        global_id: Any = hash_values([]) if not self.keys and id_column is None else None
        source, project = sources[0], columns.kernel(self.name)
        if project is not None and calls_nondeterministic(columns.computed.values()):
            # A non-deterministic UDF in a key or an argument must not be called again to
            # retract a row: its values are computed by an operator that remembers them.
            source, project = lowering.add(memo_select(source, project, self.name)), None
        return lowering.add(
            ReduceOperator(
                source,
                self.name,
                keys=key_specs,
                aggregates=agg_specs,
                id_column=id_column,
                global_id=global_id,
                sort_column=sort_column,
                project=project,
            )
        )


class _InputColumns:
    """The columns the reduce operator reads: input columns used as they are, and computed
    ones produced by one projection kernel (none at all when every key and argument is a plain
    column, which saves a Polars call per batch)."""

    def __init__(self) -> None:
        self.computed: dict[str, ex.ColumnExpression] = {}
        self.passed: list[str] = []

    def add(self, name: str, expr: ex.ColumnExpression) -> tuple[str, str | None]:
        """The batch column holding ``expr`` and its error companion (``None`` if it cannot
        fail)."""
        if isinstance(expr, ex.InputColumn):
            column = _single_source_name(expr.source, expr.name)
            error = error_column(column) if expr.fallible else None
            for passed in (column, error):
                if passed is not None and passed not in self.passed:
                    self.passed.append(passed)
            return column, error
        self.computed[name] = expr
        return name, error_column(name) if is_fallible(expr) else None

    def kernel(self, operator: str) -> Callable[[pl.DataFrame, RunContext], pl.DataFrame] | None:
        if not self.computed:
            return None
        compiler = ExpressionCompiler(operator, _single_source_name)
        keep = [ID, DIFF, *(c for c in self.passed if c not in (ID, DIFF))]
        return compiler.projection_kernel(self.computed, keep=keep)
