"""``window_join``: pairs of rows that fall into the same window (and satisfy the equalities).

With sliding windows a pair sharing several windows appears once per window.

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
2 | None
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from reflow.api import expression as ex
from reflow.api.trace import BuildError, user_frame
from reflow.temporal._join_common import KEY, join_mode, keyed, parse_on
from reflow.temporal._pairs import OID, pair_join
from reflow.temporal.windows import END, START, Window, _SlidingWindow

if TYPE_CHECKING:
    from reflow.api.join import JoinResult
    from reflow.api.table import Table


def window_join(self: Table, other: Table, self_time: Any, other_time: Any, window: Window,
                *on: Any, how: Any = None, left_instance: Any = None,
                right_instance: Any = None) -> JoinResult:
    """Join rows of ``self`` and ``other`` that fall into a common window of ``window``
    (tumbling or sliding) and satisfy the equalities ``on``; ``how`` keeps rows without a
    partner. Results are revised when either side changes."""
    where = user_frame()
    if not isinstance(window, _SlidingWindow):
        raise BuildError("window_join supports tumbling and sliding windows", where)
    mode = join_mode(how, where)
    if self._node is other._node:
        raise BuildError("a table cannot be joined with itself directly; join it with a copy "
                         "(t.copy())", where)
    lkeys, rkeys, same = parse_on(self, other, on, left_instance, right_instance, where)
    left_keyed, time_type = keyed(self, lkeys, self_time, "left", where)
    right_keyed, _ = keyed(other, rkeys, other_time, "right", where, time_type)
    prepared = []
    for table in (left_keyed, right_keyed):
        with_key = table.with_columns(_pw_key=ex.ThisReference("this", "_pw_time"),
                                      **{OID: ex.ThisReference("this", "id")})
        try:
            prepared.append(window._assign(with_key, time_type, False, where))
        except TypeError as exc:
            raise BuildError(str(exc), where) from None
    return pair_join(self, other, prepared[0], prepared[1], [KEY, START, END], None, mode,
                     same)


def _with_mode(mode_name: str):
    def variant(self: Table, other: Table, self_time: Any, other_time: Any, window: Window,
                *on: Any, **kwargs: Any) -> JoinResult:
        from reflow.api.join import JoinMode

        return window_join(self, other, self_time, other_time, window, *on,
                           how=getattr(JoinMode, mode_name), **kwargs)

    variant.__name__ = f"window_join_{mode_name.lower()}"
    variant.__doc__ = f"``window_join`` with ``how=pw.JoinMode.{mode_name}``."
    return variant


window_join_inner = _with_mode("INNER")
window_join_left = _with_mode("LEFT")
window_join_right = _with_mode("RIGHT")
window_join_outer = _with_mode("OUTER")
