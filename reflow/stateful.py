"""``pw.stateful``: the function form of stateful operations."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from reflow.api.table import Table


def deduplicate(
    table: Table, *, col: Any, instance: Any = None, acceptor: Callable[[Any, Any], bool]
) -> Table:
    """``table.deduplicate(value=col, instance=instance, acceptor=acceptor)``: per instance,
    the last row whose ``col`` the acceptor accepted against the previously kept one.

    >>> import reflow as pw
    >>> t = pw.debug.table_from_markdown('''
    ... v | __time__
    ... 1 | 2
    ... 2 | 4
    ... 7 | 6
    ... ''')
    >>> kept = pw.stateful.deduplicate(t, col=t.v, acceptor=lambda new, old: new > old + 2)
    >>> pw.debug.compute_and_print(kept, include_id=False)
    v
    7
    """
    return table.deduplicate(value=col, instance=instance, acceptor=acceptor)
