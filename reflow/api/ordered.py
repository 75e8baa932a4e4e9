"""``pw.ordered``: operations that depend on the order of rows.

>>> import reflow as pw
>>> t = pw.debug.table_from_markdown('''
... t | v
... 1 | 10
... 2 | 15
... ''')
>>> d = pw.ordered.diff(t, pw.this.t, pw.this.v)
>>> sorted(pw.debug.table_to_dicts(d)[1]["diff_v"].values(), key=lambda v: v or 0)
[None, 5]
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from reflow.api import sort as _sort

if TYPE_CHECKING:
    from reflow.api.table import Table


def diff(table: Table, timestamp: Any, *values: Any, instance: Any = None) -> Table:
    """For each row, ``value`` minus the previous row's in ``timestamp`` order (``diff_<name>``).

    Same as ``table.diff(timestamp, *values, instance=instance)``.

    >>> import reflow as pw
    >>> t = pw.debug.table_from_markdown('''
    ... t | v
    ... 2 | 7
    ... 1 | 4
    ... ''')
    >>> d = pw.ordered.diff(t, pw.this.t, pw.this.v)
    >>> sorted(pw.debug.table_to_dicts(d)[1]["diff_v"].values(), key=lambda v: v or 0)
    [None, 3]
    """
    return _sort.diff(table, timestamp, *values, instance=instance)


__all__ = ["diff"]
