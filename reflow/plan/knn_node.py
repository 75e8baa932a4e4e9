"""Plan node of nearest-neighbour queries (``reflow.indexing``), lowered to ``KnnOperator``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from reflow.engine.operator import Operator
from reflow.engine.operators.knn import KnnLayout, KnnOperator
from reflow.plan.nodes import ColumnInfo, Lowering, PlanNode, Universe, _live_nodes


class KnnNode(PlanNode):
    """The answers to the queries of ``queries`` over the rows of ``data``.

    ``make_backend`` builds a fresh vector store at each lowering; ``layout`` says which input
    columns are read and which output columns are written (its ``output`` is filled in from
    this node's columns). Collapsed answers keep the queries' ids.
    """

    label = "knn"

    def __init__(self, data: PlanNode, queries: PlanNode, columns: dict[str, ColumnInfo],
                 make_backend: Callable[[], Any], layout: KnnLayout,
                 metadata_matcher: Callable[[str], Callable] | None, where: str) -> None:
        universe = Universe([queries.universe]) if layout.collapse else Universe()
        super().__init__([data, queries], columns, universe, where)
        self.make_backend = make_backend
        self.layout = layout
        self.metadata_matcher = metadata_matcher
        layout.output = self.polars_columns()

    def lower(self, sources: list[Operator], lowering: Lowering) -> Operator:
        return lowering.add(KnnOperator(sources[0], sources[1], self.name, self.make_backend(),
                                        self.layout, self.metadata_matcher))


class ShapeNode(PlanNode):
    """Columns to resolve names against (the right side of an index's join result); never
    computed."""

    label = "shape"

    def __init__(self, columns: dict[str, ColumnInfo], where: str) -> None:
        super().__init__([], columns, Universe(), where)
        _live_nodes.pop(self.node_id, None)  # not part of the program's tables

    def lower(self, sources: list[Operator], lowering: Lowering) -> Operator:
        raise RuntimeError("a ShapeNode only names columns; it has no rows")
