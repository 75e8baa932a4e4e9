"""Logical plan nodes and their lowering to engine operators.

A plan node knows its inputs, its output columns (with dtypes and whether a column can hold
error values) and its universe (the set of row ids it may contain). ``lower`` turns a node into
engine operators inside a ``Lowering`` that memoizes shared sub-plans.
"""

from __future__ import annotations

import itertools
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from reflow.engine.batch import DIFF, ID
from reflow.engine.dataflow import Dataflow
from reflow.engine.operator import Operator, RunContext
from reflow.engine.operators.stateless import (
    ConcatOperator,
    FilterOperator,
    FlattenOperator,
    InputOperator,
    MapOperator,
    ReindexOperator,
)
from reflow.plan import dtypes as dt
from reflow.plan import expr as ex
from reflow.plan.compile import ExpressionCompiler
from reflow.plan.error_columns import error_column
from reflow.plan.small_masks import small_mask
from reflow.plan.small_projections import small_projection, with_small_projection
from reflow.plan.structure import node_structure
from reflow.plan.udf_nodes import calls_nondeterministic, memo_filter, memo_select

_node_ids = itertools.count()
_live_nodes: weakref.WeakValueDictionary[int, PlanNode] = weakref.WeakValueDictionary()


# Open ``pw.local_error_log()`` scopes, innermost last: nodes built inside one send their
# run-time errors to its log.
_error_scopes: list[object] = []


def push_error_scope(scope: object) -> None:
    """Nodes built from now on report run-time errors to ``scope``'s error log."""
    _error_scopes.append(scope)


def pop_error_scope(scope: object) -> None:
    """Close ``scope`` (the innermost open one)."""
    if not _error_scopes or _error_scopes[-1] is not scope:
        raise RuntimeError("error log scopes must be closed in the order they were opened")
    _error_scopes.pop()


def live_nodes() -> list[PlanNode]:
    """Every plan node still referenced by the program, in creation order."""
    return [node for _, node in sorted(_live_nodes.items())]


def forget_live_nodes() -> None:
    """Start a new program: tables built so far no longer belong to the global error log's
    pipeline (used to isolate tests from one another)."""
    _live_nodes.clear()


@dataclass(frozen=True)
class ColumnInfo:
    dtype: dt.DType
    fallible: bool = False


class Universe:
    """A set of row ids, known only by its relations to other universes."""

    _ids = itertools.count()

    def __init__(self, subset_of: Sequence[Universe] = ()) -> None:
        self.uid = next(self._ids)
        self.supersets: set[Universe] = set(subset_of)
        self.equal_to: set[Universe] = set()

    def is_subset_of(self, other: Universe) -> bool:
        if self is other or other in self.equal_to:
            return True
        seen: set[int] = set()
        stack = [self, *self.equal_to]
        while stack:
            u = stack.pop()
            if u.uid in seen:
                continue
            seen.add(u.uid)
            if u is other or other in u.equal_to:
                return True
            stack.extend(u.supersets)
            stack.extend(u.equal_to)
        return False

    def is_equal_to(self, other: Universe) -> bool:
        return self.is_subset_of(other) and other.is_subset_of(self)

    def __repr__(self) -> str:
        return f"Universe({self.uid})"


@dataclass
class Lowering:
    """The state of one translation of plan nodes into a dataflow."""

    dataflow: Dataflow
    operators: dict[int, Operator] = field(default_factory=dict)
    inputs: list[tuple[InputOperator, Any]] = field(default_factory=list)
    # The error scope of the node being lowered, given to every operator it adds.
    scope: object = None

    def lower(self, node: PlanNode) -> Operator:
        operator = self.operators.get(node.node_id)
        if operator is None:
            sources = [self.lower(source) for source in node.inputs]
            first = len(self.dataflow.operators)
            outer, self.scope = self.scope, node.error_scope
            try:
                operator = node.lower(sources, self)
            finally:
                self.scope = outer
            self.operators[node.node_id] = operator
            structure = node_structure(node)
            for added in self.dataflow.operators[first:]:
                if not added.structure:  # else added by a node lowered on the way
                    added.structure = structure
        return operator

    def add(self, operator: Operator) -> Operator:
        operator.error_scope = self.scope
        return self.dataflow.add(operator)


class PlanNode:
    """A logical operation producing a table."""

    label = "node"

    def __init__(
        self,
        inputs: Sequence[PlanNode],
        columns: dict[str, ColumnInfo],
        universe: Universe,
        where: str = "",
    ) -> None:
        self.inputs = list(inputs)
        self.columns = columns
        self.universe = universe
        self.where = where
        self.error_scope = _error_scopes[-1] if _error_scopes else None
        self.node_id = next(_node_ids)
        _live_nodes[self.node_id] = self

    @property
    def name(self) -> str:
        return f"{self.label}#{self.node_id}" + (f" at {self.where}" if self.where else "")

    def polars_columns(self) -> dict[str, pl.DataType]:
        """Value columns of this node's batches, error companions included."""
        out: dict[str, pl.DataType] = {}
        for name, info in self.columns.items():
            out[name] = info.dtype.polars()
            if info.fallible:
                out[error_column(name)] = pl.Boolean()
        return out

    def lower(self, sources: list[Operator], lowering: Lowering) -> Operator:
        raise NotImplementedError

    def distinct_when_projected(self, kept: set[str]) -> bool:
        """Whether every consolidated batch of this node, projected onto its columns ``kept``
        (with their error companions), is still consolidated: no two of its rows then differ
        only in their diff. Nodes that know it say so; a projection after them needs no
        consolidation."""
        return False


class InputNode(PlanNode):
    """A table fed from outside: a debug table, a connector or the error log.

    ``source`` is the object the runtime asks for batches; its protocol is defined by the
    runtime (``reflow.runtime.sources``). ``append_only``: the source never removes or
    changes a row (``Table.is_append_only``).
    """

    label = "input"

    def __init__(
        self,
        columns: dict[str, ColumnInfo],
        universe: Universe,
        source: Any,
        where: str = "",
        *,
        append_only: bool = False,
    ) -> None:
        super().__init__([], columns, universe, where)
        self.source = source
        self.append_only = append_only

    def lower(self, sources: list[Operator], lowering: Lowering) -> Operator:
        operator = InputOperator(self.name, self.polars_columns())
        lowering.add(operator)
        lowering.inputs.append((operator, self.source))
        return operator


class SelectNode(PlanNode):
    """Computes new columns row by row; the ids stay."""

    label = "select"

    def __init__(
        self, source: PlanNode, outputs: dict[str, ex.ColumnExpression], where: str
    ) -> None:
        columns = {
            name: ColumnInfo(expr.dtype, is_fallible(expr)) for name, expr in outputs.items()
        }
        super().__init__([source], columns, source.universe, where)
        self.outputs = outputs

    def lower(self, sources: list[Operator], lowering: Lowering) -> Operator:
        compiler = ExpressionCompiler(self.name, _single_source_name)
        kernel = compiler.projection_kernel(self.outputs)
        if calls_nondeterministic(self.outputs.values()):
            return lowering.add(memo_select(sources[0], kernel, self.name))
        fallible = [name for name, info in self.columns.items() if info.fallible]
        small = small_projection(self.outputs, _single_source_name, fallible)
        if small is not None:
            kernel = with_small_projection(kernel, small)
        # A projection that keeps every column an update can change adds no duplicates.
        picked = [e.name for e in self.outputs.values() if isinstance(e, ex.InputColumn)]
        keeps = len(picked) == len(self.outputs) and self.inputs[0].distinct_when_projected(
            set(picked))
        return lowering.add(MapOperator(sources[0], kernel, self.name, keeps_consolidated=keeps))


class FilterNode(PlanNode):
    label = "filter"

    def __init__(self, source: PlanNode, condition: ex.ColumnExpression, where: str) -> None:
        super().__init__([source], dict(source.columns), Universe([source.universe]), where)
        self.condition = condition

    def lower(self, sources: list[Operator], lowering: Lowering) -> Operator:
        compiler = ExpressionCompiler(self.name, _single_source_name)
        mask = compiler.mask_kernel(self.condition)
        if calls_nondeterministic([self.condition]):
            return lowering.add(memo_filter(sources[0], mask, self.name))
        return lowering.add(FilterOperator(
            sources[0], mask, self.name, condition=compiler.pure_mask,
            small_mask=small_mask(self.condition, _single_source_name),
        ))


class ReindexNode(PlanNode):
    """Replaces row ids by ``new_id`` (a pointer expression over the row)."""

    label = "reindex"

    def __init__(self, source: PlanNode, new_id: ex.ColumnExpression, where: str) -> None:
        super().__init__([source], dict(source.columns), Universe(), where)
        self.new_id = new_id

    def lower(self, sources: list[Operator], lowering: Lowering) -> Operator:
        compiler = ExpressionCompiler(self.name, _single_source_name)
        kernel = compiler.projection_kernel({"new_id": self.new_id}, keep=())

        def new_ids(frame: pl.DataFrame, ctx: RunContext) -> pl.Series:
            return kernel(frame, ctx)["new_id"]

        return lowering.add(ReindexOperator(sources[0], new_ids, self.name))


class ConcatNode(PlanNode):
    label = "concat"

    def __init__(
        self,
        sources: Sequence[PlanNode],
        columns: dict[str, ColumnInfo],
        universe: Universe,
        where: str,
    ) -> None:
        super().__init__(sources, columns, universe, where)

    def lower(self, sources: list[Operator], lowering: Lowering) -> Operator:
        aligned = []
        target = self.polars_columns()
        for node, operator in zip(self.inputs, sources, strict=True):
            aligned.append(_align(node, operator, target, lowering, self.name))
        return lowering.add(ConcatOperator(aligned, self.name))


class FlattenNode(PlanNode):
    label = "flatten"

    def __init__(
        self,
        source: PlanNode,
        column: str,
        columns: dict[str, ColumnInfo],
        explode: Callable[[pl.Series], tuple[pl.Series, pl.Series, pl.Series]],
        origin_column: str | None,
        where: str,
    ) -> None:
        super().__init__([source], columns, Universe(), where)
        self.column = column
        self.explode = explode
        self.origin_column = origin_column

    def lower(self, sources: list[Operator], lowering: Lowering) -> Operator:
        return lowering.add(
            FlattenOperator(
                sources[0], self.column, self.name, self.explode, self.origin_column
            )
        )


def _align(
    node: PlanNode, operator: Operator, target: dict[str, pl.DataType], lowering: Lowering,
    name: str,
) -> Operator:
    """Make ``operator``'s batches have exactly the columns ``target`` (adds error companions)."""
    have = node.polars_columns()
    if list(have) == list(target) and all(have[c] == target[c] for c in target):
        return operator
    exprs = []
    for column, dtype in target.items():
        if column in have:
            exprs.append(pl.col(column) if dtype == pl.Object else pl.col(column).cast(dtype))
        else:
            exprs.append(pl.lit(False if dtype == pl.Boolean else None, dtype=dtype).alias(column))

    def kernel(frame: pl.DataFrame, ctx: RunContext) -> pl.DataFrame:
        return frame.select(ID, *exprs, DIFF)

    return lowering.add(MapOperator(operator, kernel, name + " (align)"))


def _single_source_name(source: int, name: str) -> str:
    return ID if name == "id" else name


def is_fallible(expr: ex.ColumnExpression) -> bool:
    """Whether ``expr`` can produce error values (decided by compiling it once)."""
    return ExpressionCompiler("probe", lambda source, name: name).compile(expr).error is not None
