"""Plan nodes of event-time operations (see ``reflow.engine.operators.temporal``).

- ``KernelNode``: a stateless batch-to-batch function written with Polars (window assignment,
  time arithmetic on physical values); it may change ids and the number of rows, as long as
  each output row depends on one input row only.
- ``FrontierNode``: the largest event time seen, as a one-row table.
- ``GateNode``: buffer / ignore-late / forget / freeze, reading a ``FrontierNode``.
- ``SessionNode``: session windows per instance.
- ``AsofNode`` and ``AsofNowNode``: the temporal joins that need their own state.
"""

from __future__ import annotations

from collections.abc import Callable

import polars as pl

from reflow.engine.operator import Operator
from reflow.engine.operators.stateless import MapOperator
from reflow.engine.operators.temporal import (
    FRONTIER,
    BufferOperator,
    ForgetOperator,
    FrontierOperator,
    IgnoreLateOperator,
    SessionOperator,
)
from reflow.plan import dtypes as dt
from reflow.plan.nodes import ColumnInfo, Lowering, PlanNode, Universe

FrameFunction = Callable[[pl.DataFrame], pl.DataFrame]


class KernelNode(PlanNode):
    """Applies ``kernel`` (a Polars function of a batch) to every batch of ``source``."""

    label = "temporal"
    #: Whether the output of an append-only source is append-only (``Table.is_append_only``).
    keeps_append_only = True
    #: Set on the window assignment of ``window_join``: the scheme of its join keys, part of
    #: the plan's structure (``node_structure``) and so of a checkpoint's fingerprint.
    join_key_scheme: int

    def __init__(
        self,
        source: PlanNode,
        columns: dict[str, ColumnInfo],
        kernel: FrameFunction,
        where: str,
        same_ids: bool = False,
    ) -> None:
        universe = Universe([source.universe]) if same_ids else Universe()
        super().__init__([source], columns, universe, where)
        self.kernel = kernel

    def lower(self, sources: list[Operator], lowering: Lowering) -> Operator:
        kernel = self.kernel
        return lowering.add(MapOperator(sources[0], lambda frame, ctx: kernel(frame), self.name))


class FrontierNode(PlanNode):
    """The largest value of the physical time column ``time_column`` of ``source``."""

    label = "frontier"

    def __init__(self, source: PlanNode, time_column: str, where: str) -> None:
        dtype = source.columns[time_column].dtype
        super().__init__([source], {FRONTIER: ColumnInfo(dtype)}, Universe(), where)
        self.time_column = time_column

    def lower(self, sources: list[Operator], lowering: Lowering) -> Operator:
        dtype = self.columns[FRONTIER].dtype.polars()
        return lowering.add(FrontierOperator(sources[0], self.time_column, dtype, self.name))


class GateNode(PlanNode):
    """Rows of ``source`` gated by their ``threshold`` column against ``frontier``.

    ``kind`` is ``"buffer"``, ``"ignore_late"``, ``"forget"`` or ``"freeze"`` (ignore-late
    without counting: used to keep results of windows whose input was forgotten).
    """

    label = "gate"

    def __init__(
        self, kind: str, source: PlanNode, frontier: FrontierNode, threshold: str, where: str
    ) -> None:
        super().__init__(
            [source, frontier], dict(source.columns), Universe([source.universe]), where
        )
        self.kind = kind
        self.threshold = threshold
        self.label = kind

    def lower(self, sources: list[Operator], lowering: Lowering) -> Operator:
        data, frontier = sources
        if self.kind == "buffer":
            op: Operator = BufferOperator(data, frontier, self.threshold, self.name)
        elif self.kind == "forget":
            op = ForgetOperator(data, frontier, self.threshold, self.name)
        else:
            op = IgnoreLateOperator(
                data, frontier, self.threshold, self.name, count=self.kind == "ignore_late"
            )
        return lowering.add(op)


class SessionNode(PlanNode):
    """Session windows: ``assign`` fills the window columns of the live rows of an instance
    (see ``engine.temporal.SessionOperator`` for the other arguments)."""

    label = "session"

    def __init__(
        self,
        source: PlanNode,
        columns: dict[str, ColumnInfo],
        instance: str,
        assign: FrameFunction,
        window_columns: list[str],
        where: str,
        time_column: str,
        start_column: str,
        end_column: str,
        max_gap: float | None,
    ) -> None:
        super().__init__([source], columns, Universe([source.universe]), where)
        self.instance = instance
        self.assign = assign
        self.window_columns = window_columns
        self.time_column = time_column
        self.start_column = start_column
        self.end_column = end_column
        self.max_gap = max_gap

    def lower(self, sources: list[Operator], lowering: Lowering) -> Operator:
        return lowering.add(
            SessionOperator(
                sources[0], self.instance, self.assign, self.name, self.window_columns,
                self.time_column, self.start_column, self.end_column, self.max_gap,
            )
        )


def physical_dtype(dtype: dt.DType) -> dt.DType:
    """The type of the physical (numeric) form of a time column."""
    base = dtype.strip_optional()
    return dt.FLOAT if base == dt.FLOAT else dt.INT


class AsofNode(PlanNode):
    """As-of join of two keyed inputs (``_pw_k``, ``_pw_t``) into a wide table."""

    label = "asof_join"

    def __init__(self, left: PlanNode, right: PlanNode, columns: dict[str, ColumnInfo],
                 renames: tuple[dict[str, str], dict[str, str]], how: str, direction: str,
                 where: str) -> None:
        super().__init__([left, right], columns, Universe(), where)
        self.renames = renames
        self.how = how
        self.direction = direction

    def lower(self, sources: list[Operator], lowering: Lowering) -> Operator:
        from reflow.engine.operators.asof import AsofJoinOperator

        return lowering.add(AsofJoinOperator(
            sources[0], sources[1], self.name, self.renames, self.polars_columns(),
            self.how, self.direction,
        ))


class AsofNowNode(PlanNode):
    """``asof_now_join``: left rows answered once against the right side's current state."""

    label = "asof_now_join"

    def __init__(self, left: PlanNode, right: PlanNode, columns: dict[str, ColumnInfo],
                 renames: tuple[dict[str, str], dict[str, str]], how: str, id_from_left: bool,
                 where: str) -> None:
        universe = Universe([left.universe]) if id_from_left else Universe()
        super().__init__([left, right], columns, universe, where)
        self.renames = renames
        self.how = how
        self.id_from_left = id_from_left

    def lower(self, sources: list[Operator], lowering: Lowering) -> Operator:
        from reflow.engine.operators.asof import AsofNowJoinOperator

        return lowering.add(AsofNowJoinOperator(
            sources[0], sources[1], self.name, self.renames, self.polars_columns(),
            self.how, self.id_from_left,
        ))


class InactivityNode(PlanNode):
    """Inactivity periods of ``data`` (with ``instance_hash``/``instance``) against ``clock``."""

    label = "inactivity_detection"

    def __init__(self, data: PlanNode, clock: PlanNode, columns: dict[str, ColumnInfo],
                 allowed_ns: int, now: Callable[[], int], where: str) -> None:
        super().__init__([data, clock], columns, Universe(), where)
        self.allowed_ns = allowed_ns
        self.now = now

    def lower(self, sources: list[Operator], lowering: Lowering) -> Operator:
        from reflow.engine.operators.temporal import InactivityOperator

        return lowering.add(InactivityOperator(
            sources[0], sources[1], self.name, self.allowed_ns,
            self.polars_columns()["instance"], self.now,
        ))
