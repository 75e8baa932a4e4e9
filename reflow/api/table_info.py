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
from reflow.plan.stream_nodes import ToStreamNode
from reflow.plan.temporal_nodes import KernelNode
from reflow.plan.universe_nodes import ConcatReindexNode, KeyedNode, ZipNode

if TYPE_CHECKING:
    from reflow.api.table import Table

# Nodes whose output only grows when all their inputs only grow: rows are computed from one
# input row each (or, for an inner join, from a pair that never changes).
_ROW_BY_ROW = (SelectNode, FilterNode, ReindexNode, ConcatNode, FlattenNode, ConcatReindexNode,
               ZipNode, KernelNode)
# Operations by id that Pathway counts as append-only when their inputs are: a row's
# presence in them follows its presence in the inputs.
_KEYED_BY_PRESENCE = ("restrict", "intersect", "with_universe_of")


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
    elif isinstance(node, ToStreamNode):
        result = True  # a stream of events, as in Pathway (see ``Table.to_stream``)
    elif _follows_inputs(node):
        result = all(is_append_only(source, memo) for source in node.inputs)
    else:
        result = False
    memo[node.node_id] = result
    return result


def _follows_inputs(node: PlanNode) -> bool:
    """Whether ``node`` is append-only when all its inputs are, by Pathway's rules: row by
    row operations (not the assignment of rows to windows, so window joins are not), inner
    joins, ``ix`` lookups, the id-set operations that keep rows and ``update_cells`` of a
    table with the same ids."""
    if isinstance(node, _ROW_BY_ROW):
        return getattr(node, "keeps_append_only", True)
    if isinstance(node, JoinNode):
        return node.how == "inner" or getattr(node, "lookup", False)
    if isinstance(node, KeyedNode):
        if node.label in _KEYED_BY_PRESENCE:
            return True
        return node.label == "update_cells" and node.inputs[1].universe.is_equal_to(
            node.inputs[0].universe
        )
    return False


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
