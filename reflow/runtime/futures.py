"""Running selects that call fully asynchronous functions.

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

from reflow.engine.batch import DIFF, ID
from reflow.engine.operators.future_map import FutureInbox, FutureMapOperator, wake_batch
from reflow.engine.operators.stateless import InputOperator
from reflow.plan import dtypes as dt
from reflow.plan.error_columns import error_column
from reflow.plan.future_nodes import ancestors, calls_fully_async
from reflow.plan.nodes import Lowering, PlanNode, SelectNode
from reflow.runtime.future_inboxes import register_inbox, unregister_inbox
from reflow.runtime.sources import LiveSource, SourceHandle


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
        unregister_inbox(self.inbox)
        if self._handle is not None and not self._closed:
            self._closed = True
            self._handle.close()


def lower_future_selects(lowering: Lowering, roots: Iterable[PlanNode]) -> None:
    """Lower the selects calling fully asynchronous functions behind ``roots`` (see above)."""
    for node in ancestors(roots):
        if not isinstance(node, SelectNode) or node.node_id in lowering.operators:
            continue
        if not calls_fully_async(node.outputs.values()):
            continue
        select = lowering.lower(node)
        wake = InputOperator(f"{node.name} (results)", {})
        lowering.add(wake)
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
