"""``window_join``: pairs of rows that fall into the same window (and satisfy the equalities).

With sliding windows a pair sharing several windows appears once per window, and in outer
modes a row is kept (without partner) in every window where it has none. Session windows are
formed from the rows of both sides together (per key).

>>> import reflow as pw
>>> a = pw.debug.table_from_markdown('''
... t  | x
... 1  | 1
... 12 | 2
... ''')
>>> b = pw.debug.table_from_markdown('''
... t  | y
... 4  | 5
... 25 | 6
... ''')
>>> r = a.window_join_left(b, a.t, b.t, pw.temporal.tumbling(10)).select(
...     pw.left.x, pw.right.y)
>>> pw.debug.compute_and_print(r, include_id=False)
x | y
1 | 5
2 |
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from reflow.api.join import join_mode
from reflow.plan import expr as ex
from reflow.plan.errors import BuildTypeError, BuildValueError, user_frame
from reflow.temporal._join_common import (
    KEY,
    key_columns,
    keyed_sides,
)
from reflow.temporal._pairs import OID, pair_join
from reflow.temporal.windows import (
    END,
    JOIN_KEY,
    START,
    Window,
    _SessionWindow,
    _SlidingWindow,
)

if TYPE_CHECKING:
    from reflow.api.join import JoinResult
    from reflow.api.table import Table


def window_join(self: Table, other: Table, self_time: Any, other_time: Any, window: Window,
                *on: Any, how: Any = None, left_instance: Any = None,
                right_instance: Any = None) -> JoinResult:
    """Join rows of ``self`` and ``other`` that fall into a common window of ``window``
    (tumbling or sliding) and satisfy the equalities ``on``; ``how`` keeps rows without a
    partner. Results are revised when either side changes.

    >>> import reflow as pw
    >>> clicks = pw.debug.table_from_markdown('''
    ... t  | page
    ... 1  | a
    ... 12 | b
    ... ''')
    >>> views = pw.debug.table_from_markdown('''
    ... t  | ad
    ... 3  | x
    ... 25 | y
    ... ''')
    >>> r = clicks.window_join(views, clicks.t, views.t, pw.temporal.tumbling(10)).select(
    ...     pw.left.page, pw.right.ad
    ... )
    >>> pw.debug.compute_and_print(r, include_id=False)
    page | ad
    a    | x
    """
    where = user_frame()
    if not isinstance(window, (_SlidingWindow, _SessionWindow)):
        raise BuildValueError("window_join supports tumbling, sliding and session windows", where)
    mode = join_mode(how, where)
    left_keyed, right_keyed, time_type, same = keyed_sides(
        self, other, self_time, other_time, on, left_instance, right_instance, where,
        hash_key=isinstance(window, _SessionWindow),
    )
    if isinstance(window, _SessionWindow):
        prepared = _session_prepared(left_keyed, right_keyed, window, time_type, where)
        return pair_join(self, other, prepared[0], prepared[1], [KEY, START, END], None, mode,
                         same, per_prepared_row=True)
    # One hash call per side: the equality keys and the window start make one join key (a
    # single column, which the join does not hash again), and a tumbling window keeps each
    # row's id as the id of its one window row.
    prepared = []
    for table in (left_keyed, right_keyed):
        with_key = table.with_columns(_pw_key=ex.ThisReference("this", "_pw_time"),
                                      **{OID: ex.ThisReference("this", "id")})
        try:
            prepared.append(window._assign(with_key, time_type, False, where, keep_ids=True,
                                           join_key=key_columns(table)))
        except TypeError as exc:
            raise BuildTypeError(str(exc), where) from None
    return pair_join(self, other, prepared[0], prepared[1], [JOIN_KEY], None, mode,
                     same, per_prepared_row=True)


def _session_prepared(left: Table, right: Table, window: _SessionWindow, time_type: Any,
                      where: str) -> list[Table]:
    """Both keyed sides with the session (over the rows of both sides, per key) of each
    row."""
    slim = [
        table.select(_pw_oid=ex.ThisReference("this", "id"), _pw_side=side,
                     _pw_key=ex.ThisReference("this", "_pw_time"),
                     _pw_instance=ex.ThisReference("this", KEY))
        for side, table in enumerate((left, right))
    ]
    try:
        sessions = window._assign(slim[0].concat_reindex(slim[1]), time_type, True, where)
    except TypeError as exc:
        raise BuildTypeError(str(exc), where) from None
    prepared = []
    for side, table in enumerate((left, right)):
        mine = sessions.filter(ex.BinaryOp("==", ex.ThisReference("this", "_pw_side"), side))
        joined = table.join(mine, table.id == mine[OID])
        outputs = {name: ex.ThisReference("left", name) for name in table._node.columns}
        outputs[OID] = ex.ThisReference("left", "id")
        outputs[START] = ex.ThisReference("right", START)
        outputs[END] = ex.ThisReference("right", END)
        prepared.append(joined.select(**outputs))
    return prepared


def window_join_inner(self: Table, other: Table, self_time: Any, other_time: Any, window: Any,
                      *on: Any, **kwargs: Any) -> JoinResult:
    """``window_join`` with ``how=pw.JoinMode.INNER``.

    >>> import reflow as pw
    >>> clicks = pw.debug.table_from_markdown('''
    ... t  | page
    ... 1  | a
    ... 12 | b
    ... ''')
    >>> views = pw.debug.table_from_markdown('''
    ... t  | ad
    ... 3  | x
    ... 25 | y
    ... ''')
    >>> r = clicks.window_join_inner(views, clicks.t, views.t, pw.temporal.tumbling(10)).select(
    ...     pw.left.page, pw.right.ad
    ... )
    >>> pw.debug.compute_and_print(r, include_id=False)
    page | ad
    a    | x
    """
    from reflow.api.join import JoinMode

    return window_join(self, other, self_time, other_time, window, *on,
                      how=JoinMode.INNER, **kwargs)


def window_join_left(self: Table, other: Table, self_time: Any, other_time: Any, window: Any,
                     *on: Any, **kwargs: Any) -> JoinResult:
    """``window_join`` with ``how=pw.JoinMode.LEFT``.

    >>> import reflow as pw
    >>> clicks = pw.debug.table_from_markdown('''
    ... t  | page
    ... 1  | a
    ... 12 | b
    ... ''')
    >>> views = pw.debug.table_from_markdown('''
    ... t  | ad
    ... 3  | x
    ... 25 | y
    ... ''')
    >>> r = clicks.window_join_left(views, clicks.t, views.t, pw.temporal.tumbling(10)).select(
    ...     pw.left.page, pw.right.ad
    ... )
    >>> pw.debug.compute_and_print(r, include_id=False)
    page | ad
    a    | x
    b    |
    """
    from reflow.api.join import JoinMode

    return window_join(self, other, self_time, other_time, window, *on,
                      how=JoinMode.LEFT, **kwargs)


def window_join_right(self: Table, other: Table, self_time: Any, other_time: Any, window: Any,
                      *on: Any, **kwargs: Any) -> JoinResult:
    """``window_join`` with ``how=pw.JoinMode.RIGHT``.

    >>> import reflow as pw
    >>> clicks = pw.debug.table_from_markdown('''
    ... t  | page
    ... 1  | a
    ... 12 | b
    ... ''')
    >>> views = pw.debug.table_from_markdown('''
    ... t  | ad
    ... 3  | x
    ... 25 | y
    ... ''')
    >>> r = clicks.window_join_right(views, clicks.t, views.t, pw.temporal.tumbling(10)).select(
    ...     pw.left.page, pw.right.ad
    ... )
    >>> pw.debug.compute_and_print(r, include_id=False)
    page | ad
         | y
    a    | x
    """
    from reflow.api.join import JoinMode

    return window_join(self, other, self_time, other_time, window, *on,
                      how=JoinMode.RIGHT, **kwargs)


def window_join_outer(self: Table, other: Table, self_time: Any, other_time: Any, window: Any,
                      *on: Any, **kwargs: Any) -> JoinResult:
    """``window_join`` with ``how=pw.JoinMode.OUTER``.

    >>> import reflow as pw
    >>> clicks = pw.debug.table_from_markdown('''
    ... t  | page
    ... 1  | a
    ... 12 | b
    ... ''')
    >>> views = pw.debug.table_from_markdown('''
    ... t  | ad
    ... 3  | x
    ... 25 | y
    ... ''')
    >>> r = clicks.window_join_outer(views, clicks.t, views.t, pw.temporal.tumbling(10)).select(
    ...     pw.left.page, pw.right.ad
    ... )
    >>> pw.debug.compute_and_print(r, include_id=False)
    page | ad
         | y
    a    | x
    b    |
    """
    from reflow.api.join import JoinMode

    return window_join(self, other, self_time, other_time, window, *on,
                      how=JoinMode.OUTER, **kwargs)
