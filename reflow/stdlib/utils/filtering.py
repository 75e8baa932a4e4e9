"""Keep, per group, the row with the largest or smallest value.

>>> import reflow as pw
>>> t = pw.debug.table_from_markdown('''
... g | v | w
... a | x | 3
... a | y | 5
... b | z | 2
... ''')
>>> pw.debug.compute_and_print(argmax_rows(t, t.g, what=t.w), include_id=False)
g | v | w
a | y | 5
b | z | 2
>>> pw.debug.compute_and_print(argmin_rows(t, t.g, what=t.w), include_id=False)
g | v | w
a | x | 3
b | z | 2
"""

from __future__ import annotations

from typing import Any


def _pick(table: Any, on: tuple, what: Any, reducer: Any) -> Any:
    from reflow.stdlib import _names as pw

    winners = table.groupby(*on).reduce(_pw_winner=reducer(what))
    return table.join(winners, table.id == winners["_pw_winner"], id=table.id).select(*pw.left)


def argmax_rows(table: Any, *on: Any, what: Any) -> Any:
    """The rows of ``table`` with the largest ``what`` in each group of ``on`` (row ids kept;
    revised when a row of the group changes)."""
    from reflow.stdlib import _names as pw

    return _pick(table, on, what, pw.reducers.argmax)


def argmin_rows(table: Any, *on: Any, what: Any) -> Any:
    """The rows of ``table`` with the smallest ``what`` in each group of ``on``."""
    from reflow.stdlib import _names as pw

    return _pick(table, on, what, pw.reducers.argmin)
