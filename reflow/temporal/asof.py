"""``asof_join``: pair each row with the other side's row closest in time (with the same key).

>>> import reflow as pw
>>> trades = pw.debug.table_from_markdown('''
... t  | sym | qty
... 3  | A   | 10
... 7  | A   | 5
... ''')
>>> prices = pw.debug.table_from_markdown('''
... t | sym | price
... 1 | A   | 100
... 5 | A   | 102
... ''')
>>> r = trades.asof_join_left(prices, trades.t, prices.t, trades.sym == prices.sym).select(
...     pw.left.qty, pw.right.price)
>>> pw.debug.compute_and_print(r, include_id=False)
qty | price
5   | 102
10  | 100
"""

from __future__ import annotations

from enum import Enum
from typing import TYPE_CHECKING, Any

from reflow.api.join import join_mode
from reflow.plan.error_columns import error_column
from reflow.plan.errors import BuildValueError, user_frame
from reflow.plan.join_node import wide_name
from reflow.plan.temporal_nodes import AsofNode
from reflow.temporal._join_common import (
    apply_defaults,
    apply_join_behavior,
    keyed_sides,
    wide_columns,
)

if TYPE_CHECKING:
    from reflow.api.join import JoinResult
    from reflow.api.table import Table


class Direction(Enum):
    """Where ``asof_join`` looks for the partner: at or before, at or after, or nearest."""

    BACKWARD = "backward"
    FORWARD = "forward"
    NEAREST = "nearest"


def _renames(table: Table, side: str) -> dict[str, str]:
    renames = {}
    for name, info in table._node.columns.items():
        renames[name] = wide_name(side, name)
        if info.fallible:
            renames[error_column(name)] = error_column(wide_name(side, name))
    return renames


def asof_join(
    self: Table,
    other: Table,
    self_time: Any,
    other_time: Any,
    *on: Any,
    how: Any = None,
    behavior: Any = None,
    defaults: dict | None = None,
    direction: Direction | str = Direction.BACKWARD,
    left_instance: Any = None,
    right_instance: Any = None,
) -> JoinResult:
    """As-of join of ``self`` and ``other`` on their times and the equalities ``on``.

    With ``how=pw.JoinMode.LEFT`` every left row gets one result row, paired with the right
    row (of the same key) whose time is the latest at or before its own (``direction``
    ``BACKWARD``), the earliest at or after (``FORWARD``) or the closest (``NEAREST``);
    ``RIGHT`` does the same for right rows, ``OUTER`` both. ``defaults`` gives values for the
    columns of a missing partner. Results are revised when either side changes.
    ``behavior`` (a ``common_behavior``; with a cutoff, ``keep_results=False``) delays,
    ignores and forgets the rows of each side against that side's own frontier: see
    ``docs/temporal.md``.

    >>> import reflow as pw
    >>> trades = pw.debug.table_from_markdown('''
    ... t  | qty
    ... 3  | 10
    ... 7  | 20
    ... ''')
    >>> quotes = pw.debug.table_from_markdown('''
    ... t  | price
    ... 1  | 100
    ... 5  | 101
    ... ''')
    >>> r = trades.asof_join(quotes, trades.t, quotes.t, how=pw.JoinMode.LEFT).select(
    ...     pw.left.qty, pw.right.price
    ... )
    >>> pw.debug.compute_and_print(r, include_id=False)
    qty | price
    10  | 100
    20  | 101
    """
    from reflow.api.join import JoinMode, JoinResult
    from reflow.api.table import Table

    where = user_frame()
    if how is None:
        raise BuildValueError("asof_join needs how= (pw.JoinMode.LEFT, RIGHT or OUTER)", where)
    mode = join_mode(how, where)
    if isinstance(direction, str):
        direction = Direction(direction.lower())
    left_keyed, right_keyed, time_type, same = keyed_sides(
        self, other, self_time, other_time, on, left_instance, right_instance, where
    )
    if behavior is not None:
        left_keyed = apply_join_behavior(left_keyed, behavior, time_type, "asof_join", where)
        right_keyed = apply_join_behavior(right_keyed, behavior, time_type, "asof_join", where)
    columns = wide_columns(
        self, other,
        optional_left=mode in (JoinMode.RIGHT, JoinMode.OUTER),
        optional_right=mode in (JoinMode.LEFT, JoinMode.OUTER, JoinMode.INNER),
    )
    if mode is JoinMode.INNER:
        columns = wide_columns(self, other, False, False)
    node = AsofNode(
        left_keyed._node, right_keyed._node, columns,
        (_renames(self, "left"), _renames(other, "right")),
        mode.value, direction.value, where,
    )
    wide = apply_defaults(Table(node), self, other, defaults or {}, where)
    return JoinResult(wide, self, other, mode, same)


def asof_join_left(self: Table, other: Table, self_time: Any, other_time: Any, *on: Any,
                   **kwargs: Any) -> JoinResult:
    """``asof_join`` with ``how=pw.JoinMode.LEFT``.

    >>> import reflow as pw
    >>> trades = pw.debug.table_from_markdown('''
    ... t  | qty
    ... 3  | 10
    ... 7  | 20
    ... ''')
    >>> quotes = pw.debug.table_from_markdown('''
    ... t  | price
    ... 1  | 100
    ... 5  | 101
    ... ''')
    >>> r = trades.asof_join_left(quotes, trades.t, quotes.t).select(
    ...     pw.left.qty, pw.right.price
    ... )
    >>> pw.debug.compute_and_print(r, include_id=False)
    qty | price
    10  | 100
    20  | 101
    """
    from reflow.api.join import JoinMode

    return asof_join(self, other, self_time, other_time, *on, how=JoinMode.LEFT, **kwargs)


def asof_join_right(self: Table, other: Table, self_time: Any, other_time: Any, *on: Any,
                    **kwargs: Any) -> JoinResult:
    """``asof_join`` with ``how=pw.JoinMode.RIGHT``.

    >>> import reflow as pw
    >>> trades = pw.debug.table_from_markdown('''
    ... t  | qty
    ... 3  | 10
    ... 7  | 20
    ... ''')
    >>> quotes = pw.debug.table_from_markdown('''
    ... t  | price
    ... 1  | 100
    ... 5  | 101
    ... ''')
    >>> r = trades.asof_join_right(quotes, trades.t, quotes.t).select(
    ...     pw.left.qty, pw.right.price
    ... )
    >>> pw.debug.compute_and_print(r, include_id=False)
    qty | price
    10  | 101
        | 100
    """
    from reflow.api.join import JoinMode

    return asof_join(self, other, self_time, other_time, *on, how=JoinMode.RIGHT, **kwargs)


def asof_join_outer(self: Table, other: Table, self_time: Any, other_time: Any, *on: Any,
                    **kwargs: Any) -> JoinResult:
    """``asof_join`` with ``how=pw.JoinMode.OUTER``.

    >>> import reflow as pw
    >>> trades = pw.debug.table_from_markdown('''
    ... t  | qty
    ... 3  | 10
    ... 7  | 20
    ... ''')
    >>> quotes = pw.debug.table_from_markdown('''
    ... t  | price
    ... 1  | 100
    ... 5  | 101
    ... ''')
    >>> r = trades.asof_join_outer(quotes, trades.t, quotes.t).select(
    ...     pw.left.qty, pw.right.price
    ... )
    >>> pw.debug.compute_and_print(r, include_id=False)
    qty | price
    10  | 100
    10  | 101
    20  | 101
        | 100
    """
    from reflow.api.join import JoinMode

    return asof_join(self, other, self_time, other_time, *on, how=JoinMode.OUTER, **kwargs)
