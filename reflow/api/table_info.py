"""What can be known about a table without running it: whether it only grows, its columns by
name, the type of an expression over it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from reflow.plan import expr as ex
from reflow.plan.join_node import JoinNode
from reflow.plan.nodes import (
    ConcatNode,
    FilterNode,
    FlattenNode,
    InputNode,
    PlanNode,
    ReindexNode,
    SelectNode,
)
from reflow.plan.universe_nodes import ConcatReindexNode, ZipNode

if TYPE_CHECKING:
    from reflow.api.table import Table

# Nodes whose output only grows when all their inputs only grow: rows are computed from one
# input row each (or, for an inner join, from a pair that never changes).
_ROW_BY_ROW = (SelectNode, FilterNode, ReindexNode, ConcatNode, FlattenNode, ConcatReindexNode,
               ZipNode)


def is_append_only(node: PlanNode, memo: dict[int, bool] | None = None) -> bool:
    """True when no row of ``node`` is ever removed or changed, as far as the plan shows.

    Only literal data without retractions is known to be append-only at the source; connectors
    are not (a file may be rewritten), as in Pathway.
    """
    memo = {} if memo is None else memo
    known = memo.get(node.node_id)
    if known is not None:
        return known
    if isinstance(node, InputNode):
        result = node.append_only
    elif isinstance(node, _ROW_BY_ROW) or (isinstance(node, JoinNode) and node.how == "inner"):
        result = all(is_append_only(source, memo) for source in node.inputs)
    else:
        result = False
    memo[node.node_id] = result
    return result


class ColumnNamespace:
    """``table.C.name``: the column ``name``, also when a ``Table`` method has that name.

    >>> import reflow as pw
    >>> t = pw.debug.table_from_markdown('''
    ... select | a
    ... 1      | 2
    ... ''')
    >>> pw.debug.compute_and_print(t.select(s=t.C.select + t.C["a"]), include_id=False)
    s
    3
    """

    def __init__(self, table: Table) -> None:
        self._table = table

    def __getattr__(self, name: str) -> ex.ColumnReference:
        if name.startswith("_"):
            raise AttributeError(name)
        column: ex.ColumnReference = self._table[name]
        return column

    def __getitem__(self, name: str) -> ex.ColumnReference:
        column: ex.ColumnReference = self._table[name]
        return column


def eval_type(table: Table, expression: Any) -> Any:
    """The Python type of ``expression`` evaluated over ``table``'s rows."""
    node = table.select(_value=expression)._node
    return node.columns["_value"].dtype.typehint()
