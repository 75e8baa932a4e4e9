"""Joins of row pairs selected by time (interval and window joins), built on the equi-join.

Both sides are first *prepared*: their original columns, ``_pw_oid`` (the original row id)
and equally named key columns (hashed equality conditions plus a time bucket or window). The
equi-join on those keys, filtered by an exact condition, gives the matching pairs; the rows of
an outer side without any pair are added with empty columns of the other side.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from reflow.api import expression as ex
from reflow.engine.batch import DIFF, ID
from reflow.plan.join_node import wide_name
from reflow.plan.temporal_nodes import KernelNode

if TYPE_CHECKING:
    from reflow.api.join import JoinMode, JoinResult
    from reflow.api.table import Table

OID = "_pw_oid"


def _wide_select(table: Table, original: Table, side: str,
                 prefix: str = "") -> dict[str, ex.ColumnExpression]:
    out: dict[str, ex.ColumnExpression] = {
        wide_name(side, "id"): ex.ThisReference("this", prefix + OID)
    }
    for name in original._node.columns:
        out[wide_name(side, name)] = ex.ThisReference("this", prefix + name)
    return out


def pair_join(
    left: Table,
    right: Table,
    left_prepared: Table,
    right_prepared: Table,
    keys: list[str],
    condition: Any,
    mode: JoinMode,
    same: set[str],
) -> JoinResult:
    """Pairs of ``left_prepared``/``right_prepared`` rows equal on ``keys`` for which
    ``condition`` (over the joined wide table, see ``wide_name``) holds."""
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
    pairs = joined.select(**outputs)
    parts = [pairs]
    if mode in (JoinMode.LEFT, JoinMode.OUTER):
        parts.append(_unmatched(pairs, left, right, "left"))
    if mode in (JoinMode.RIGHT, JoinMode.OUTER):
        parts.append(_unmatched(pairs, right, left, "right"))
    parts = [_normalized(part) for part in parts]
    wide = parts[0] if len(parts) == 1 else parts[0].concat_reindex(*parts[1:])
    return JoinResult(wide, left, right, mode, same)


def _normalized(table: Table) -> Table:
    """``table`` with its batch columns in schema order (``_id``, values, ``_diff``); the
    batches of some plan nodes carry ``_diff`` elsewhere, which a union cannot take."""
    from reflow.api.table import Table

    order = list(table._node.polars_columns())
    node = KernelNode(table._node, dict(table._node.columns),
                      lambda frame: frame.select(ID, *order, DIFF), "", same_ids=True)
    return Table(node)


def _unmatched(pairs: Table, table: Table, other: Table, side: str) -> Table:
    """Rows of ``table`` (the ``side`` input) in no pair, padded with empty ``other``
    columns."""
    side_id = ex.ThisReference("this", wide_name(side, "id"))
    from reflow.api import reducers

    matched = pairs.groupby(side_id, id=side_id).reduce(_pw_n=reducers.count())
    alone = table.difference(matched)
    other_side = "right" if side == "left" else "left"
    outputs: dict[str, ex.ColumnExpression] = {}
    for s, t in (("left", table if side == "left" else other),
                 ("right", table if side == "right" else other)):
        if s == side:
            outputs[wide_name(s, "id")] = ex.ThisReference("this", "id")
            for name in t._node.columns:
                outputs[wide_name(s, name)] = ex.ThisReference("this", name)
        else:
            outputs[wide_name(s, "id")] = ex.Literal(None)
            for name in t._node.columns:
                outputs[wide_name(s, name)] = ex.Literal(None)
    del other_side
    return alone.select(**outputs)
