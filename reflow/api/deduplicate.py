"""``Table.deduplicate``: per instance, keep the last value an acceptor accepted."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from reflow.api.resolve import Scope, resolve
from reflow.plan import expr as ex
from reflow.plan.errors import BuildError, user_frame
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

    Rows are considered in arrival order (by logical time; within one time, in input order).
    The first row of an instance is kept; a later row replaces the kept one when
    ``acceptor(new_value, kept_value)`` returns true. The output row of an instance has the
    columns of ``table`` and the id ``pw.pointer_from(instance)`` (``pw.pointer_from()``
    without an instance).

    The result depends on the order rows arrive in, not only on the current contents of
    ``table``: a retraction (or the retraction half of an update) of an input row is ignored,
    and an accepted row stays the output of its instance even if it is later deleted from
    ``table``, until a newer row is accepted.

    >>> import reflow as pw
    >>> t = pw.debug.table_from_markdown('''
    ... val | __time__
    ... 1   | 2
    ... 2   | 4
    ... 3   | 6
    ... 4   | 8
    ... ''')
    >>> result = t.deduplicate(value=pw.this.val, acceptor=lambda new, old: new >= old + 2)
    >>> pw.debug.compute_and_print_update_stream(result, include_id=False)
    val | __time__ | __diff__
    1   | 2        | 1
    1   | 6        | -1
    3   | 6        | 1
    """
    where = user_frame()
    if not callable(acceptor):
        raise BuildError(f"deduplicate() needs a callable acceptor, got {acceptor!r}", where)
    scope = Scope.single(table)
    resolved_value = resolve(ex.wrap_arg(value), scope)
    resolved_instance = None if instance is None else resolve(ex.wrap_arg(instance), scope)
    from reflow.api.table import Table

    return Table(DeduplicateNode(table._node, resolved_value, resolved_instance, acceptor, where))
