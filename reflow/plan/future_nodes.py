"""Lowering of selects that call fully asynchronous functions.

Such a select emits a pending token in each cell whose call has not finished. Before the plan
is lowered, ``lower_future_selects`` lowers every such select itself and puts a
``FutureMapOperator`` after it, fed by a ``FutureSource``: a live source the run loop drains,
which commits a wake-up batch whenever results are waiting, so that they enter the dataflow as
updates at later logical times. The source closes once every other live source has closed
and no call is outstanding, so a static run ends only after all results were applied.
"""

from __future__ import annotations

from collections.abc import Iterable

import polars as pl

from reflow.api import dtypes as dt
from reflow.api import expression as ex
from reflow.engine.batch import DIFF, ID
from reflow.engine.operators.future_map import (
    FutureInbox,
    FutureMapOperator,
    PendingCall,
    wake_batch,
)
from reflow.engine.operators.stateless import InputOperator, MapOperator
from reflow.plan.compile import error_column
from reflow.plan.nodes import ColumnInfo, Lowering, PlanNode, SelectNode, Universe
from reflow.runtime.sources import LiveSource, SourceHandle


def calls_fully_async(expressions: Iterable[ex.ColumnExpression]) -> bool:
    """Whether any of ``expressions`` contains a call of a fully asynchronous function."""
    stack = list(expressions)
    while stack:
        node = stack.pop()
        if getattr(node, "fully_async", False) is True:
            return True
        stack.extend(node._children())
    return False


class FutureSource(LiveSource):
    """Wakes a ``FutureMapOperator`` up when results of its calls are waiting."""

    #: The run loop tells this source whether any other live source is still open.
    waits_for_others = True

    def __init__(self, operator: FutureMapOperator, inbox: FutureInbox, name: str) -> None:
        self.operator = operator
        self.inbox = inbox
        self.name = name
        self.others_open = False
        self._handle: SourceHandle | None = None
        self._arrived = False
        self._closed = False
        inbox.on_put = self._on_put

    def _on_put(self) -> None:
        self._arrived = True

    def start(self, handle: SourceHandle) -> None:
        self._handle = handle

    def tick(self, now: float) -> None:
        handle = self._handle
        if handle is None or self._closed:
            return
        if self._arrived or self.operator.has_deferred:
            self._arrived = False
            handle.push(wake_batch())
            handle.commit()
        elif not self.others_open and self.operator.outstanding == 0:
            self.stop()

    def stop(self) -> None:
        from reflow.udfs.future_calls import unregister_inbox

        unregister_inbox(self.inbox)
        if self._handle is not None and not self._closed:
            self._closed = True
            self._handle.close()


def lower_future_selects(lowering: Lowering, roots: Iterable[PlanNode]) -> None:
    """Lower the selects calling fully asynchronous functions behind ``roots`` (see above)."""
    from reflow.udfs.future_calls import register_inbox

    for node in _ancestors(roots):
        if not isinstance(node, SelectNode) or node.node_id in lowering.operators:
            continue
        if not calls_fully_async(node.outputs.values()):
            continue
        select = lowering.lower(node)
        wake = lowering.add(InputOperator(f"{node.name} (results)", {}))
        schema = {ID: pl.UInt128(), **node.polars_columns(), DIFF: pl.Int64()}
        futures = {
            name: error_column(name) if info.fallible else None
            for name, info in node.columns.items()
            if isinstance(info.dtype.strip_optional(), dt.Future)
        }
        inbox = FutureInbox()
        operator = FutureMapOperator(select, wake, schema, futures, inbox, node.name)
        lowering.add(operator)
        lowering.operators[node.node_id] = operator
        lowering.inputs.append((wake, FutureSource(operator, inbox, f"{node.name} (results)")))
        register_inbox(inbox)


def _ancestors(roots: Iterable[PlanNode]) -> list[PlanNode]:
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

    def lower(self, sources, lowering):
        futures = self.futures
        storage = {name: self.columns[name].dtype.polars() for name in futures}

        def kernel(frame: pl.DataFrame, ctx) -> pl.DataFrame:
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
