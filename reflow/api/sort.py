"""``Table.sort`` (neighbour pointers in key order) and ``Table.diff`` (``pw.ordered.diff``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from reflow.api.resolve import Scope, resolve
from reflow.plan import expr as ex
from reflow.plan.errors import BuildTypeError, BuildValueError, user_frame
from reflow.plan.ordered_nodes import DiffNode, SortNode

if TYPE_CHECKING:
    from reflow.api.table import Table


def _resolve(table: Table, value: Any) -> ex.ColumnExpression:
    return resolve(ex.wrap_arg(value), Scope.single(table))


def sort(table: Table, key: Any, instance: Any = None) -> Table:
    """Columns ``prev`` and ``next``: the ids of each row's neighbours in ``key`` order.

    See ``Table.sort`` for an example.
    """
    where = user_frame()
    resolved_key = _resolve(table, key)
    resolved_instance = None if instance is None else _resolve(table, instance)
    return _table(SortNode(table._node, resolved_key, resolved_instance, where))


def diff(table: Table, timestamp: Any, *values: Any, instance: Any = None) -> Table:
    """For each row, ``value`` minus the previous row's ``value`` in ``timestamp`` order.

    See ``Table.diff`` for an example.
    """
    where = user_frame()
    if not values:
        raise BuildValueError("diff() needs at least one value column", where)
    resolved: dict[str, ex.ColumnExpression] = {}
    for value in values:
        if not isinstance(value, (ex.ColumnReference, ex.ThisReference)):
            raise BuildTypeError(f"diff() values must be column references, got {value!r}", where)
        resolved[value.name] = _resolve(table, value)
    resolved_timestamp = _resolve(table, timestamp)
    resolved_instance = None if instance is None else _resolve(table, instance)
    return _table(DiffNode(table._node, resolved_timestamp, resolved, resolved_instance, where))


def _table(node) -> Table:
    from reflow.api.table import Table

    return Table(node)
