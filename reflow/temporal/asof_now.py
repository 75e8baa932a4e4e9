"""``asof_now_join``: answer each left row (a query) once, against the right side as it is
when the row arrives; later changes of the right side do not revise the answer.

>>> import reflow as pw
>>> queries = pw.debug.table_from_markdown('''
... k | q | __time__
... a | 1 | 4
... ''')
>>> data = pw.debug.table_from_markdown('''
...   | k | v  | __time__ | __diff__
... 1 | a | 10 | 2        | 1
... 1 | a | 10 | 6        | -1
... 2 | a | 20 | 6        | 1
... ''')
>>> r = queries.asof_now_join(data, queries.k == data.k).select(pw.left.q, pw.right.v)
>>> pw.debug.compute_and_print(r, include_id=False)
q | v
1 | 10
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from reflow.api.join import join_mode
from reflow.plan.errors import BuildTypeError, BuildValueError, user_frame
from reflow.plan.temporal_nodes import AsofNowNode
from reflow.temporal._join_common import keyed, parse_on, wide_columns
from reflow.temporal.asof import _renames

if TYPE_CHECKING:
    from reflow.api.join import JoinResult
    from reflow.api.table import Table


def asof_now_join(self: Table, other: Table, *on: Any, how: Any = None, id: Any = None,
                  left_instance: Any = None, right_instance: Any = None) -> JoinResult:
    """Join each left row with the right rows matching ``on`` at the moment it arrives
    (``how`` is inner, the default, or left). The answer is never revised; deleting the left
    row retracts it.

    >>> import reflow as pw
    >>> orders = pw.debug.table_from_markdown('''
    ... item
    ... apple
    ... pear
    ... ''')
    >>> stock = pw.debug.table_from_markdown('''
    ... item  | count
    ... apple | 4
    ... ''')
    >>> r = orders.asof_now_join(stock, orders.item == stock.item).select(
    ...     pw.left.item, pw.right.count
    ... )
    >>> pw.debug.compute_and_print(r, include_id=False)
    item  | count
    apple | 4
    """
    from reflow.api.join import JoinMode, JoinResult, side_name
    from reflow.api.table import Table

    where = user_frame()
    mode = join_mode(how, where)
    if mode not in (JoinMode.INNER, JoinMode.LEFT):
        raise BuildValueError("asof_now_join supports how=pw.JoinMode.INNER or LEFT only", where)
    if self._node is other._node:
        raise BuildValueError("a table cannot be joined with itself directly; join it with a copy "
                         "(t.copy())", where)
    id_from_left = False
    if id is not None:
        if side_name(id, self, other) != "left" or getattr(id, "name", None) != "id":
            raise BuildTypeError("asof_now_join(id=...) must be the left table's id", where)
        id_from_left = True
    lkeys, rkeys, same = parse_on(self, other, on, left_instance, right_instance, where)
    left_keyed, _ = keyed(self, lkeys, None, "left", where)
    right_keyed, _ = keyed(other, rkeys, None, "right", where)
    columns = wide_columns(self, other, False, mode is JoinMode.LEFT)
    node = AsofNowNode(left_keyed._node, right_keyed._node, columns,
                       (_renames(self, "left"), _renames(other, "right")), mode.value,
                       id_from_left, where)
    return JoinResult(Table(node), self, other, mode, same)


def asof_now_join_inner(self: Table, other: Table, *on: Any, **kwargs: Any) -> JoinResult:
    """``asof_now_join`` with ``how=pw.JoinMode.INNER``.

    >>> import reflow as pw
    >>> orders = pw.debug.table_from_markdown('''
    ... item
    ... apple
    ... pear
    ... ''')
    >>> stock = pw.debug.table_from_markdown('''
    ... item  | count
    ... apple | 4
    ... ''')
    >>> r = orders.asof_now_join_inner(stock, orders.item == stock.item).select(
    ...     pw.left.item, pw.right.count
    ... )
    >>> pw.debug.compute_and_print(r, include_id=False)
    item  | count
    apple | 4
    """
    from reflow.api.join import JoinMode

    return asof_now_join(self, other, *on, how=JoinMode.INNER, **kwargs)


def asof_now_join_left(self: Table, other: Table, *on: Any, **kwargs: Any) -> JoinResult:
    """``asof_now_join`` with ``how=pw.JoinMode.LEFT``.

    >>> import reflow as pw
    >>> orders = pw.debug.table_from_markdown('''
    ... item
    ... apple
    ... pear
    ... ''')
    >>> stock = pw.debug.table_from_markdown('''
    ... item  | count
    ... apple | 4
    ... ''')
    >>> r = orders.asof_now_join_left(stock, orders.item == stock.item).select(
    ...     pw.left.item, pw.right.count
    ... )
    >>> pw.debug.compute_and_print(r, include_id=False)
    item  | count
    apple | 4
    pear  |
    """
    from reflow.api.join import JoinMode

    return asof_now_join(self, other, *on, how=JoinMode.LEFT, **kwargs)
