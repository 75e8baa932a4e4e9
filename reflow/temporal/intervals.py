"""``intervals_over`` windows: one window ``[a + lower_bound, a + upper_bound]`` around each
value ``a`` of a column of another table; a row belongs to every window containing its time.

With ``is_outer=True`` (the default) a window without rows still gives a result, computed
over a single row whose data columns are ``None``.

>>> import reflow as pw
>>> t = pw.debug.table_from_markdown('''
... t | v
... 1 | 1
... 3 | 2
... 6 | 3
... ''')
>>> at = pw.debug.table_from_markdown('''
... a
... 4
... 20
... ''')
>>> r = t.windowby(t.t, window=pw.temporal.intervals_over(
...     at=at.a, lower_bound=-3, upper_bound=2, is_outer=False)).reduce(
...     pw.this._pw_window_location, total=pw.reducers.sum(pw.this.v))
>>> pw.debug.compute_and_print(r, include_id=False)
_pw_window_location | total
4                   | 6
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from reflow.plan import expr as ex
from reflow.plan.errors import BuildTypeError

if TYPE_CHECKING:
    from reflow.api.table import Table

LOCATION = "_pw_window_location"


@dataclass
class _IntervalsOverWindow:
    at: Any
    lower_bound: Any
    upper_bound: Any
    is_outer: bool = True


def intervals_over(*, at: Any, lower_bound: Any, upper_bound: Any,
                   is_outer: bool = True) -> Any:
    """Windows ``[a + lower_bound, a + upper_bound]`` for every value ``a`` of the column
    ``at`` (a column of another table); see the module documentation."""
    from reflow.temporal.windows import Window

    class IntervalsOver(_IntervalsOverWindow, Window):
        pass

    return IntervalsOver(at, lower_bound, upper_bound, is_outer)


def intervals_over_windowby(prepared: Table, original: Table, window: _IntervalsOverWindow,
                            time_type: Any, has_instance: bool, where: str) -> Any:
    from reflow.api.join import JoinMode
    from reflow.temporal.interval_join import interval, interval_join
    from reflow.temporal.windows import END, KEY, START, WindowedTable

    if not isinstance(window.at, ex.ColumnReference):
        raise BuildTypeError("intervals_over(at=...) must be a column of a table", where)
    at_table = window.at.table
    at_name = window.at.name
    locations = at_table.select(**{LOCATION: ex.ThisReference("this", at_name)})
    joined = interval_join(
        locations, prepared, ex.ThisReference("left", LOCATION), ex.ThisReference("right", KEY),
        interval(window.lower_bound, window.upper_bound),
        how=JoinMode.LEFT if window.is_outer else JoinMode.INNER,
    )
    outputs: dict[str, ex.ColumnExpression] = {
        LOCATION: ex.ThisReference("left", LOCATION),
        START: ex.BinaryOp("+", ex.ThisReference("left", LOCATION), window.lower_bound),
        END: ex.BinaryOp("+", ex.ThisReference("left", LOCATION), window.upper_bound),
    }
    for name in prepared._node.columns:
        if name not in outputs:
            outputs[name] = ex.ThisReference("right", name)
    assigned = joined.select(**outputs)
    # as in Pathway, tuple reducers list an interval's rows in time order
    return WindowedTable(original, assigned, has_instance, None, where,
                         extra_keys=[LOCATION], order_by=KEY)
