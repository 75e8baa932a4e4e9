"""``Table.sort`` (neighbour pointers in key order) and ``Table.diff`` (``pw.ordered.diff``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from reflow.api.resolve import Scope, resolve
from reflow.plan import expr as ex
from reflow.plan.errors import BuildError, user_frame
from reflow.plan.ordered_nodes import DiffNode, SortNode

if TYPE_CHECKING:
    from reflow.api.table import Table


def _resolve(table: Table, value: Any) -> ex.ColumnExpression:
    return resolve(ex.wrap_arg(value), Scope.single(table))


def sort(table: Table, key: Any, instance: Any = None) -> Table:
    """Columns ``prev`` and ``next``: the ids of each row's neighbours in ``key`` order.

    The result has the ids of ``table``. Rows are ordered within each value of ``instance``
    (rows with equal keys by id); the first row has ``prev`` None and the last ``next`` None.
    An insertion or deletion changes only the pointers of its neighbours.

    >>> import reflow as pw
    >>> t = pw.debug.table_from_markdown('''
    ... name  | age
    ... Alice | 25
    ... Bob   | 20
    ... Carol | 30
    ... ''').with_id_from(pw.this.name)
    >>> s = t.sort(key=pw.this.age)
    >>> order = pw.debug.table_to_dicts(s)[1]
    >>> order["next"][pw.pointer_from("Bob")] == pw.pointer_from("Alice")
    True
    >>> order["prev"][pw.pointer_from("Bob")] is None
    True
    """
    where = user_frame()
    resolved_key = _resolve(table, key)
    resolved_instance = None if instance is None else _resolve(table, instance)
    return _table(SortNode(table._node, resolved_key, resolved_instance, where))


def diff(table: Table, timestamp: Any, *values: Any, instance: Any = None) -> Table:
    """For each row, ``value`` minus the previous row's ``value`` in ``timestamp`` order.

    The result has the ids of ``table`` and one column ``diff_<name>`` per value column; the
    first row of each instance gets None.

    >>> import reflow as pw
    >>> t = pw.debug.table_from_markdown('''
    ... t | v
    ... 1 | 1
    ... 2 | 4
    ... 3 | 9
    ... ''')
    >>> d = t.diff(pw.this.t, pw.this.v)
    >>> sorted(pw.debug.table_to_dicts(d)[1]["diff_v"].values(), key=lambda v: v or 0)
    [None, 3, 5]
    """
    where = user_frame()
    if not values:
        raise BuildError("diff() needs at least one value column", where)
    resolved: dict[str, ex.ColumnExpression] = {}
    for value in values:
        if not isinstance(value, (ex.ColumnReference, ex.ThisReference)):
            raise BuildError(f"diff() values must be column references, got {value!r}", where)
        resolved[value.name] = _resolve(table, value)
    resolved_timestamp = _resolve(table, timestamp)
    resolved_instance = None if instance is None else _resolve(table, instance)
    return _table(DiffNode(table._node, resolved_timestamp, resolved, resolved_instance, where))


def _table(node) -> Table:
    from reflow.api.table import Table

    return Table(node)
