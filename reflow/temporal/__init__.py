"""Event time: windows, behaviors for late data and forgetting, and temporal joins.

>>> import reflow as pw
>>> t = pw.debug.table_from_markdown('''
... t | v
... 1 | 2
... 3 | 5
... ''')
>>> r = t.windowby(t.t, window=pw.temporal.tumbling(2)).reduce(
...     pw.this._pw_window_start, total=pw.reducers.sum(pw.this.v))
>>> pw.debug.compute_and_print(r, include_id=False)
_pw_window_start | total
0                | 2
2                | 5
"""

from reflow.api.join import JoinResult
from reflow.api.table import Table
from reflow.engine.operators.temporal import late_rows_ignored
from reflow.temporal.asof import (
    Direction,
    asof_join,
    asof_join_left,
    asof_join_outer,
    asof_join_right,
)
from reflow.temporal.asof_now import asof_now_join, asof_now_join_inner, asof_now_join_left
from reflow.temporal.behaviors import (
    Behavior,
    CommonBehavior,
    ExactlyOnceBehavior,
    common_behavior,
    exactly_once_behavior,
)
from reflow.temporal.clock import inactivity_detection, utc_now
from reflow.temporal.gates import buffer, forget, ignore_late
from reflow.temporal.interval_join import (
    Interval,
    interval,
    interval_join,
    interval_join_inner,
    interval_join_left,
    interval_join_outer,
    interval_join_right,
)
from reflow.temporal.intervals import intervals_over
from reflow.temporal.window_join import (
    window_join,
    window_join_inner,
    window_join_left,
    window_join_outer,
    window_join_right,
)
from reflow.temporal.windows import Window, session, sliding, tumbling, windowby

# the temporal joins return ordinary join results
AsofJoinResult = AsofNowJoinResult = IntervalJoinResult = WindowJoinResult = JoinResult
temporal_behavior = common_behavior

# Packages built on the Table add their methods themselves (``t.windowby(...)``, ...).
for _method in (
    windowby, forget, buffer, ignore_late,
    asof_join, asof_join_left, asof_join_right, asof_join_outer,
    interval_join, interval_join_inner, interval_join_left, interval_join_right,
    interval_join_outer,
    window_join, window_join_inner, window_join_left, window_join_right, window_join_outer,
    asof_now_join, asof_now_join_inner, asof_now_join_left,
):
    setattr(Table, _method.__name__, _method)

__all__ = [
    "AsofJoinResult",
    "AsofNowJoinResult",
    "Behavior",
    "CommonBehavior",
    "Direction",
    "ExactlyOnceBehavior",
    "Interval",
    "IntervalJoinResult",
    "Window",
    "WindowJoinResult",
    "asof_join",
    "asof_join_left",
    "asof_join_outer",
    "asof_join_right",
    "asof_now_join",
    "asof_now_join_inner",
    "asof_now_join_left",
    "common_behavior",
    "exactly_once_behavior",
    "inactivity_detection",
    "interval",
    "interval_join",
    "interval_join_inner",
    "interval_join_left",
    "interval_join_outer",
    "interval_join_right",
    "intervals_over",
    "late_rows_ignored",
    "session",
    "sliding",
    "temporal_behavior",
    "tumbling",
    "utc_now",
    "window_join",
    "window_join_inner",
    "window_join_left",
    "window_join_outer",
    "window_join_right",
    "windowby",
]
