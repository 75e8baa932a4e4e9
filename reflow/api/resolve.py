"""Binding expression references to the inputs of one table operation."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from reflow.api.this import ThisWithout
from reflow.plan import dtypes as dt
from reflow.plan import expr as ex
from reflow.plan.errors import BuildKeyError, BuildTypeError, BuildValueError

if TYPE_CHECKING:
    from reflow.api.table import Table


@dataclass
class Side:
    """One input of an operation: its position and the table whose columns it offers."""

    source: int
    table: Table


class Scope:
    """What names mean inside one operation: ``pw.this``/``left``/``right`` and known tables."""

    def __init__(self, sides: dict[str, Side], extra_tables: list[Side] | None = None) -> None:
        self.sides = sides
        self.tables = [*sides.values(), *(extra_tables or [])]

    @classmethod
    def single(cls, table: Table) -> Scope:
        return cls({"this": Side(0, table)})

    def column(self, side: Side, name: str, where: str) -> ex.InputColumn:
        columns = side.table._node.columns
        if name == "id":
            return ex.InputColumn(side.source, "id", dt.POINTER, False)
        info = columns.get(name)
        if info is None:
            known = ", ".join(repr(c) for c in columns) or "none"
            raise BuildKeyError(
                f"no column {name!r} in the table (its columns are: {known})", where
            )
        return ex.InputColumn(side.source, name, info.dtype, info.fallible)

    def reference(self, table: Table, name: str, where: str) -> ex.InputColumn:
        """The input column ``table.name`` means in this scope."""
        return self.column(self.side_of(table, where, name), name, where)

    def side_of(self, table: Table, where: str, name: str) -> Side:
        for side in self.tables:
            if side.table is table or side.table._node is table._node:
                return side
        for side in self.tables:
            here, there = side.table._node.universe, table._node.universe
            # A column of another table can be read when it is the same column carried
            # unchanged (through selects and filters) to a table whose rows it covers.
            if here.is_subset_of(there) and (
                name == "id" or _passes_through(side.table, table, name)
            ):
                return side
            if here.is_equal_to(there) and _passes_through(table, side.table, name):
                return side
        raise BuildValueError(
            f"column {name!r} belongs to a table that is not an input of this operation; "
            "use a join, or with_universe_of() if both tables have the same ids",
            where,
        )


def _passes_through(outer: Table, inner: Table, name: str) -> bool:
    """True when ``outer``'s column ``name`` is ``inner``'s column carried unchanged."""
    from reflow.plan.nodes import FilterNode, SelectNode

    if name not in outer._node.columns or name not in inner._node.columns:
        return False
    node = outer._node
    while node is not inner._node:
        if isinstance(node, SelectNode):
            expr = node.outputs.get(name)
            if not (isinstance(expr, ex.InputColumn) and expr.name == name):
                return False
        elif not isinstance(node, FilterNode):
            return False
        node = node.inputs[0]
    return True


def resolve(expr: ex.ColumnExpression, scope: Scope) -> ex.ColumnExpression:
    """A copy of ``expr`` with references bound to ``scope`` and every node typed."""
    if isinstance(expr, ex.InputColumn):
        return expr
    if isinstance(expr, ex.ThisReference):
        side = scope.sides.get(expr.side)
        if side is None:
            raise BuildValueError(f"pw.{expr.side} cannot be used here", expr._where)
        return scope.column(side, expr.name, expr._where)
    if isinstance(expr, ex.ColumnReference):
        return scope.reference(expr.table, expr.name, expr._where)
    children = [resolve(child, scope) for child in expr._children()]
    node = expr._rebuild(children) if children else copy.copy(expr)
    node.dtype = node._infer()
    return node


def named_expressions(
    args: tuple,
    kwargs: dict,
    where: str,
    columns_of: Callable[[str], Iterable[str]],
) -> dict[str, ex.ColumnExpression]:
    """Output columns of a ``select``-like call: positional column references keep their
    name, ``*pw.this`` / ``pw.this.without(...)`` expand to ``columns_of(side)``, keywords
    name computed columns."""
    outputs: dict[str, ex.ColumnExpression] = {}
    for arg in args:
        name: str | None
        if isinstance(arg, ThisWithout):
            for name in columns_of(arg.side):
                # As in Pathway, a prefix or suffix names the columns for ``without`` only:
                # unpacked into a select, the columns keep their own names.
                if name not in arg.names and arg.prefix + name + arg.suffix not in arg.names:
                    outputs[name] = ex.ThisReference(arg.side, name)
        elif isinstance(arg, ex.ColumnExpression) and (name := arg._name()):
            outputs[name] = arg
        else:
            raise BuildTypeError(
                f"positional arguments must be column references, got {arg!r}; "
                "name computed columns with keyword arguments",
                where,
            )
    for name, value in kwargs.items():
        outputs[name] = ex.wrap_arg(value)
    if "id" in outputs:
        # ``id`` names the row id of every table; as in Pathway, no column may take it.
        raise BuildValueError("Can't use 'id' as a column name", where)
    return outputs

