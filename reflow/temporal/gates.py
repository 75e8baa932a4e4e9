"""Frontier-driven gates on a table: buffer, ignore late rows, forget, freeze closed results.

A gate compares a per-row *threshold* (a physical time) with the frontier of the stream (the
largest event time seen): see ``reflow.engine.operators.temporal`` for the exact rules.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import polars as pl

from reflow.api.resolve import Scope, resolve
from reflow.engine.operators.temporal import FRONTIER
from reflow.plan import dtypes as dt
from reflow.plan import expr as ex
from reflow.plan.errors import BuildTypeError, user_frame
from reflow.plan.nodes import ColumnInfo, PlanNode
from reflow.plan.temporal_nodes import FrontierNode, GateNode, KernelNode
from reflow.temporal import _time

if TYPE_CHECKING:
    from reflow.api.table import Table

ORDER = ("ignore_late", "buffer", "forget")


def gated(table: Table, time_column: str, thresholds: dict[str, pl.Expr],
          where: str) -> tuple[Table, FrontierNode]:
    """``table`` passed through the gates named in ``thresholds`` (kind -> threshold
    expression over the physical columns), in the order ignore_late, buffer, forget.
    The frontier is the largest ``time_column`` (a physical time column) of ``table``."""
    from reflow.api.table import Table

    frontier = FrontierNode(table._node, time_column, where)
    columns = dict(table._node.columns)
    phys_type = columns[time_column].dtype
    names = {kind: f"_pw_{kind}_at" for kind in thresholds}
    for name in names.values():
        columns[name] = ColumnInfo(phys_type)
    exprs = [expr.cast(phys_type.polars()).alias(names[kind]) for kind, expr in
             thresholds.items()]
    order = [*table._node.polars_columns(), *names.values()]

    def kernel(frame: pl.DataFrame) -> pl.DataFrame:
        return frame.with_columns(*exprs).select("_id", *order, "_diff")

    current: PlanNode = KernelNode(table._node, columns, kernel, where, same_ids=True)
    for kind in ORDER:
        if kind in thresholds:
            current = GateNode(kind, current, frontier, names[kind], where)
    return Table(current), frontier


def freeze_closed(grouped: Any, outputs: dict[str, ex.ColumnExpression], close: str,
                  freeze: tuple[FrontierNode, Any, dt.DType], where: str) -> Table:
    """``grouped.reduce(**outputs)`` whose rows stop changing once ``close`` (a time of type
    ``freeze[2]``) + cutoff is behind the frontier (so forgetting the input of a window keeps
    its result)."""
    from reflow.api.table import Table

    frontier, cutoff, time_type = freeze
    reduced = grouped.reduce(**outputs)
    columns = dict(reduced._node.columns)
    phys_type = frontier.columns[FRONTIER].dtype
    columns["_pw_frozen_at"] = ColumnInfo(phys_type)
    order = [*list(reduced._node.polars_columns()), "_pw_frozen_at"]
    expr = (_time.to_physical(pl.col(close), time_type).cast(phys_type.polars()) + cutoff).cast(
        phys_type.polars()).alias("_pw_frozen_at")

    def kernel(frame: pl.DataFrame) -> pl.DataFrame:
        return frame.with_columns(expr).select("_id", *order, "_diff")

    node = KernelNode(reduced._node, columns, kernel, where, same_ids=True)
    frozen = Table(GateNode("freeze", node, frontier, "_pw_frozen_at", where))
    return frozen.select(**{name: ex.ThisReference("this", name) for name in outputs
                            if name != close})


def _table_gate(table: Table, kind: str, time_column: Any, threshold: Any) -> Table:
    where = user_frame()
    from reflow.temporal.windows import _rebind

    key = "_pw_gate_time"
    resolved = resolve(_rebind(ex.wrap_arg(time_column), table), Scope.single(table))
    try:
        time_type = _time.check_time_type(resolved.dtype, "the time column")
        amount = _time.duration_value(threshold, time_type, "threshold")
    except TypeError as exc:
        raise BuildTypeError(str(exc), where) from None
    prepared = table.with_columns(**{key: _rebind(ex.wrap_arg(time_column), table)})
    phys_name = "_pw_gate_phys"
    columns = dict(prepared._node.columns)
    phys_type = dt.FLOAT if time_type == dt.FLOAT else dt.INT
    columns[phys_name] = ColumnInfo(phys_type)
    order = [*list(prepared._node.polars_columns()), phys_name]
    phys = _time.to_physical(pl.col(key), time_type).cast(phys_type.polars()).alias(phys_name)

    def kernel(frame: pl.DataFrame) -> pl.DataFrame:
        return frame.with_columns(phys).select("_id", *order, "_diff")

    from reflow.api.table import Table

    node = KernelNode(prepared._node, columns, kernel, where, same_ids=True)
    out, _ = gated(Table(node), phys_name, {kind: pl.col(phys_name) + amount}, where)
    return out.select(**{name: ex.ThisReference("this", name) for name in table._node.columns})


def forget(table: Table, time_column: Any, threshold: Any,
           mark_forgetting_records: bool = False) -> Table:
    """Rows are retracted once ``time_column + threshold`` is at or behind the largest
    ``time_column`` seen; rows that are already that old when they arrive are dropped.

    >>> import reflow as pw
    >>> t = pw.debug.table_from_markdown('''
    ... t  | __time__
    ... 10 | 2
    ... 20 | 4
    ... 30 | 6
    ... ''')
    >>> pw.debug.compute_and_print_update_stream(t.forget(t.t, 5), include_id=False)
    t  | __time__ | __diff__
    10 | 2        | 1
    20 | 4        | 1
    10 | 6        | -1
    30 | 6        | 1
    """
    return _table_gate(table, "forget", time_column, threshold)


def buffer(table: Table, time_column: Any, threshold: Any) -> Table:
    """Each row is held back until ``time_column + threshold`` is at or behind the largest
    ``time_column`` seen; rows still held when the input ends are released then.

    >>> import reflow as pw
    >>> t = pw.debug.table_from_markdown('''
    ... t  | __time__
    ... 10 | 2
    ... 12 | 4
    ... 20 | 6
    ... ''')
    >>> pw.debug.compute_and_print_update_stream(t.buffer(t.t, 5), include_id=False)
    t  | __time__ | __diff__
    10 | 6        | 1
    12 | 6        | 1
    20 | 7        | 1
    """
    return _table_gate(table, "buffer", time_column, threshold)


def ignore_late(table: Table, time_column: Any, threshold: Any) -> Table:
    """Rows with ``time_column + threshold`` at or behind the largest ``time_column`` seen
    before them are dropped (and counted, see ``pw.temporal.late_rows_ignored``).

    >>> import reflow as pw
    >>> t = pw.debug.table_from_markdown('''
    ... t  | __time__
    ... 10 | 2
    ... 4  | 4
    ... 8  | 6
    ... ''')
    >>> pw.debug.compute_and_print(t.ignore_late(t.t, 3), include_id=False)
    t
    8
    10
    """
    return _table_gate(table, "ignore_late", time_column, threshold)
