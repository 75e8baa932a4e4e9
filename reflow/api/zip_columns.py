"""Reading columns of other tables that have the same ids: ``t.select(t.a, other.b)``.

When an expression of an operation on ``t`` refers to a table with the same universe whose
column is not simply ``t``'s own column carried along, the tables are zipped id by id
(``plan.universe_nodes.ZipNode``) and the operation runs on the zipped table.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from reflow.api.resolve import Scope, Side
from reflow.plan import expr as ex
from reflow.plan.errors import BuildError

if TYPE_CHECKING:
    from reflow.api.table import Table


def _references(expr: ex.ColumnExpression) -> Iterable[ex.ColumnReference]:
    if isinstance(expr, ex.ColumnReference):
        yield expr
    for child in expr._children():
        yield from _references(child)


def tables_to_zip(table: Table, exprs: Iterable[ex.ColumnExpression]) -> list[Table]:
    """Tables with ``table``'s ids whose columns ``exprs`` read and that need zipping."""
    scope = Scope.single(table)
    found: dict[int, Table] = {}
    for expr in exprs:
        for ref in _references(expr):
            other = ref.table
            if other._node is table._node or other._node.node_id in found:
                continue
            try:
                scope.side_of(other, "", ref.name)
            except BuildError:
                if other._node.universe.is_equal_to(table._node.universe):
                    found[other._node.node_id] = other
    return list(found.values())


class ZipScope(Scope):
    """Resolves references of the original tables to the columns of their zip."""

    def __init__(self, zipped: Table, names: dict[tuple[int, str], str]) -> None:
        super().__init__({"this": Side(0, zipped)})
        self.names = names

    def reference(self, table: Table, name: str, where: str) -> ex.InputColumn:
        renamed = self.names.get((table._node.node_id, name))
        if renamed is not None:
            return self.column(self.sides["this"], renamed, where)
        return super().reference(table, name, where)


def zip_with(
    table: Table, others: list[Table], exprs: Iterable[ex.ColumnExpression], where: str
) -> tuple[Table, ZipScope]:
    """``table`` zipped with the columns of ``others`` that ``exprs`` read, and the scope
    resolving the original references against it."""
    from reflow.api.table import Table
    from reflow.plan.universe_nodes import ZipNode

    exprs = list(exprs)
    names: dict[tuple[int, str], str] = {
        (table._node.node_id, name): name for name in [*table._node.columns, "id"]
    }
    parts = [table._node]
    for position, other in enumerate(others):
        used = sorted(
            {r.name for e in exprs for r in _references(e) if r.table._node is other._node}
            - {"id"}
        )
        renamed = {f"\x00zip{position}\x00{name}": other[name] for name in used}
        for name in used:
            names[(other._node.node_id, name)] = f"\x00zip{position}\x00{name}"
        names[(other._node.node_id, "id")] = "id"
        parts.append(other.select(**renamed)._node)
    zipped = Table(ZipNode(parts, where))
    return zipped, ZipScope(zipped, names)
