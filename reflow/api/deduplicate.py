"""``Table.deduplicate``: per instance, keep the last value an acceptor accepted."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from reflow.api.resolve import Scope, resolve
from reflow.plan import expr as ex
from reflow.plan.errors import BuildValueError, user_frame
from reflow.plan.ordered_nodes import DeduplicateNode

if TYPE_CHECKING:
    from reflow.api.table import Table


def deduplicate(
    table: Table,
    *,
    value: Any,
    instance: Any = None,
    acceptor: Callable[[Any, Any], bool],
    name: str | None = None,
    persistent_id: str | None = None,
) -> Table:
    """One row per ``instance``: the row whose ``value`` was accepted last.

    See ``Table.deduplicate`` for an example.
    """
    where = user_frame()
    if not callable(acceptor):
        raise BuildValueError(f"deduplicate() needs a callable acceptor, got {acceptor!r}", where)
    scope = Scope.single(table)
    resolved_value = resolve(ex.wrap_arg(value), scope)
    resolved_instance = None if instance is None else resolve(ex.wrap_arg(instance), scope)
    from reflow.api.table import Table

    return Table(DeduplicateNode(table._node, resolved_value, resolved_instance, acceptor, where))
