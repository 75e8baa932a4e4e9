"""Table operations as functions of their first table: ``pw.join(a, b, ...)`` is
``a.join(b, ...)``, ``pw.groupby(t, ...)`` is ``t.groupby(...)``."""

from __future__ import annotations

from typing import Any

from reflow.api.table import Table


def join(left: Table, right: Table, *on: Any, **kwargs: Any) -> Any:
    """``left.join(right, *on, **kwargs)``.

    >>> import reflow as pw
    >>> a = pw.debug.table_from_markdown('''
    ... k | x
    ... 1 | a
    ... ''')
    >>> b = pw.debug.table_from_markdown('''
    ... k | y
    ... 1 | b
    ... ''')
    >>> r = pw.join(a, b, a.k == b.k).select(pw.left.x, pw.right.y)
    >>> pw.debug.compute_and_print(r, include_id=False)
    x | y
    a | b
    """
    return left.join(right, *on, **kwargs)


def join_inner(left: Table, right: Table, *on: Any, **kwargs: Any) -> Any:
    """``left.join_inner(right, *on, **kwargs)``."""
    return left.join_inner(right, *on, **kwargs)


def join_left(left: Table, right: Table, *on: Any, **kwargs: Any) -> Any:
    """``left.join_left(right, *on, **kwargs)``."""
    return left.join_left(right, *on, **kwargs)


def join_right(left: Table, right: Table, *on: Any, **kwargs: Any) -> Any:
    """``left.join_right(right, *on, **kwargs)``."""
    return left.join_right(right, *on, **kwargs)


def join_outer(left: Table, right: Table, *on: Any, **kwargs: Any) -> Any:
    """``left.join_outer(right, *on, **kwargs)``."""
    return left.join_outer(right, *on, **kwargs)


def groupby(table: Table, *args: Any, **kwargs: Any) -> Any:
    """``table.groupby(*args, **kwargs)``.

    >>> import reflow as pw
    >>> t = pw.debug.table_from_markdown('''
    ... k
    ... a
    ... a
    ... ''')
    >>> r = pw.groupby(t, pw.this.k).reduce(pw.this.k, n=pw.reducers.count())
    >>> pw.debug.compute_and_print(r, include_id=False)
    k | n
    a | 2
    """
    return table.groupby(*args, **kwargs)
