"""Joins of row pairs selected by time (interval and window joins), built on the equi-join.

Both sides are first *prepared*: their original columns, ``_pw_oid`` (the original row id)
and equally named key columns (hashed equality conditions plus a time bucket or window). The
equi-join on those keys, filtered by an exact condition, gives the matching pairs; the rows of
an outer side without any pair are added with empty columns of the other side.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from reflow.engine.batch import DIFF, ID, pick_columns
from reflow.plan import expr as ex
from reflow.plan.join_node import wide_name
from reflow.plan.temporal_nodes import KernelNode

if TYPE_CHECKING:
    from reflow.api.join import JoinMode, JoinResult
    from reflow.api.table import Table

OID = "_pw_oid"
ROW = {"left": "_pw_left_row", "right": "_pw_right_row"}


def pair_join(
    left: Table,
    right: Table,
    left_prepared: Table,
    right_prepared: Table,
    keys: list[str],
    condition: Any,
    mode: JoinMode,
    same: set[str],
    per_prepared_row: bool = False,
) -> JoinResult:
    """Pairs of ``left_prepared``/``right_prepared`` rows equal on ``keys`` for which
    ``condition`` (over the joined wide table, see ``wide_name``) holds.

    For outer modes, an input row without any pair is kept once; with ``per_prepared_row``
    every prepared row (e.g. a row in one of its windows) without a pair is kept."""
    from reflow.api.join import JoinMode, JoinResult

    joined = left_prepared.join(
        right_prepared,
        *(ex.BinaryOp("==", ex.ThisReference("left", k), ex.ThisReference("right", k))
          for k in keys),
    )
    if condition is not None:
        joined = joined.filter(condition)
    outputs = {}
    for side, original in (("left", left), ("right", right)):
        outputs[wide_name(side, "id")] = ex.ThisReference(side, OID)
        for name in original._node.columns:
            outputs[wide_name(side, name)] = ex.ThisReference(side, name)
    tracked = dict(outputs)
    if per_prepared_row:
        tracked[ROW["left"]] = ex.ThisReference("left", "id")
        tracked[ROW["right"]] = ex.ThisReference("right", "id")
    pairs = joined.select(**tracked)
    parts = [pairs.select(**{name: ex.ThisReference("this", name) for name in outputs})
             if per_prepared_row else pairs]
    sides = {"left": (left, right, left_prepared), "right": (right, left, right_prepared)}
    for side in ("left", "right"):
        if mode in ((JoinMode.LEFT, JoinMode.OUTER) if side == "left"
                    else (JoinMode.RIGHT, JoinMode.OUTER)):
            table, other, prepared = sides[side]
            if per_prepared_row:
                parts.append(_unmatched(pairs, prepared, table, other, side, ROW[side]))
            else:
                parts.append(_unmatched(pairs, table, table, other, side,
                                        wide_name(side, "id")))
    parts = [_normalized(part) for part in parts]
    wide = parts[0] if len(parts) == 1 else parts[0].concat_reindex(*parts[1:])
    return JoinResult(wide, left, right, mode, same)


def _normalized(table: Table) -> Table:
    """``table`` with its batch columns in schema order (``_id``, values, ``_diff``); the
    batches of some plan nodes carry ``_diff`` elsewhere, which a union cannot take."""
    from reflow.api.table import Table

    picks = [(c, c) for c in (ID, *table._node.polars_columns(), DIFF)]
    node = KernelNode(table._node, dict(table._node.columns),
                      lambda frame: pick_columns(frame, picks), "", same_ids=True)
    return Table(node)


def _unmatched(pairs: Table, rows: Table, table: Table, other: Table, side: str,
               row_column: str) -> Table:
    """Rows of ``rows`` (``table`` itself, or its prepared rows) whose id is in no pair's
    ``row_column``, as wide rows with empty ``other`` columns."""
    from reflow.api import reducers

    row_id = ex.ThisReference("this", row_column)
    matched = pairs.groupby(row_id, id=row_id).reduce(_pw_n=reducers.count())
    alone = rows.difference(matched)
    prepared = rows is not table
    outputs: dict[str, ex.ColumnExpression] = {}
    for s, t in (("left", table if side == "left" else other),
                 ("right", table if side == "right" else other)):
        if s == side:
            outputs[wide_name(s, "id")] = ex.ThisReference("this", OID if prepared else "id")
            for name in t._node.columns:
                outputs[wide_name(s, name)] = ex.ThisReference("this", name)
        else:
            outputs[wide_name(s, "id")] = ex.Literal(None)
            for name in t._node.columns:
                outputs[wide_name(s, name)] = ex.Literal(None)
    return alone.select(**outputs)
