"""Plan nodes of fully asynchronous calls.

A select calling a fully asynchronous function emits a pending token in each cell whose call
has not finished; the run loop (``runtime/futures.py``) lowers such selects itself, with a
source that wakes them up when results are waiting. ``AwaitFuturesNode`` keeps the rows whose
results have all arrived.
"""

from __future__ import annotations

from collections.abc import Iterable

import polars as pl

from reflow.engine.operator import Operator, RunContext
from reflow.engine.operators.future_map import PendingCall
from reflow.engine.operators.stateless import MapOperator
from reflow.plan import dtypes as dt
from reflow.plan import expr as ex
from reflow.plan.nodes import ColumnInfo, Lowering, PlanNode, Universe


def calls_fully_async(expressions: Iterable[ex.ColumnExpression]) -> bool:
    """Whether any of ``expressions`` contains a call of a fully asynchronous function."""
    return ex.any_node(expressions, lambda node: getattr(node, "fully_async", False) is True)


def ancestors(roots: Iterable[PlanNode]) -> list[PlanNode]:
    """Every node behind ``roots``, inputs before the nodes reading them."""
    order: list[PlanNode] = []
    seen: set[int] = set()
    for root in roots:
        stack: list[tuple[PlanNode, bool]] = [(root, False)]
        while stack:
            node, expanded = stack.pop()
            if expanded:
                order.append(node)
                continue
            if node.node_id in seen:
                continue
            seen.add(node.node_id)
            stack.append((node, True))
            stack.extend((source, False) for source in node.inputs)
    return order


class AwaitFuturesNode(PlanNode):
    """The rows of its input whose fully asynchronous results have all arrived.

    Columns of type ``Future(T)`` become ``T``; rows with a pending cell are left out (they
    enter once their result arrives, as the input retracts the pending row and inserts the
    finished one).
    """

    label = "await_futures"

    def __init__(self, source: PlanNode, where: str = "") -> None:
        columns = {
            name: ColumnInfo(_unwrap(info.dtype), info.fallible)
            for name, info in source.columns.items()
        }
        super().__init__([source], columns, Universe([source.universe]), where)
        self.futures = [
            name for name, info in source.columns.items() if _unwrap(info.dtype) != info.dtype
        ]

    def lower(self, sources: list[Operator], lowering: Lowering) -> Operator:
        futures = self.futures
        storage = {name: self.columns[name].dtype.polars() for name in futures}

        def kernel(frame: pl.DataFrame, ctx: RunContext) -> pl.DataFrame:
            if not futures or not frame.height:
                return frame
            keep = [
                not any(isinstance(value, PendingCall) for value in row)
                for row in zip(*(frame[name].to_list() for name in futures))
            ]
            frame = frame.filter(pl.Series(keep, dtype=pl.Boolean))
            return frame.with_columns(
                pl.Series(name, frame[name].to_list(), dtype=storage[name], strict=False)
                if storage[name] != pl.Object()
                else frame[name]
                for name in futures
            )

        return lowering.add(MapOperator(sources[0], kernel, self.name))


def _unwrap(dtype: dt.DType) -> dt.DType:
    base = dtype.strip_optional()
    if not isinstance(base, dt.Future):
        return dtype
    return dt.Optional(base.wrapped) if dtype.is_optional else base.wrapped
