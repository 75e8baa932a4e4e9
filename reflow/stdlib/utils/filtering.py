"""Keeping, per group, the row with the largest or smallest value (``pw.utils.filtering``)."""

from __future__ import annotations

from typing import Any

from reflow.api import reducers
from reflow.api.table import Table


def argmax_rows(table: Table, *on: Any, what: Any) -> Table:
    """For each group of ``on``, the row of ``table`` where ``what`` is largest (with its id).

    >>> import reflow as pw
    >>> t = pw.debug.table_from_markdown('''
    ... k | v
    ... a | 1
    ... a | 9
    ... b | 2
    ... ''')
    >>> best = pw.utils.filtering.argmax_rows(t, t.k, what=t.v)
    >>> pw.debug.compute_and_print(best, include_id=False)
    k | v
    a | 9
    b | 2
    """
    return _pick(table, on, reducers.argmax(what))


def argmin_rows(table: Table, *on: Any, what: Any) -> Table:
    """For each group of ``on``, the row of ``table`` where ``what`` is smallest (with its id).

    >>> import reflow as pw
    >>> t = pw.debug.table_from_markdown('''
    ... k | v
    ... a | 1
    ... a | 9
    ... ''')
    >>> pw.debug.compute_and_print(
    ...     pw.utils.filtering.argmin_rows(t, t.k, what=t.v), include_id=False)
    k | v
    a | 1
    """
    return _pick(table, on, reducers.argmin(what))


def _pick(table: Table, on: tuple, chosen: Any) -> Table:
    picked = table.groupby(*on).reduce(pw_row=chosen)
    picked = picked.with_id(picked.pw_row)
    rows = table.ix(picked.pw_row)
    return picked.select(**{name: rows[name] for name in table.column_names()})
