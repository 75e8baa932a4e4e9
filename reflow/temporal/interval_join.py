"""``interval_join``: pairs whose times satisfy ``left_time + lb <= right_time <=
left_time + ub``, optionally with equality conditions.

Rows are bucketed by time (buckets of width ``ub - lb``) so that the pairs are found by an
equi-join on the bucket instead of comparing every left row with every right row.

>>> import reflow as pw
>>> a = pw.debug.table_from_markdown('''
... t  | x
... 1  | 1
... 10 | 2
... ''')
>>> b = pw.debug.table_from_markdown('''
... t  | y
... 2  | 5
... 12 | 6
... ''')
>>> r = a.interval_join(b, a.t, b.t, pw.temporal.interval(-1, 2)).select(pw.left.x, pw.right.y)
>>> pw.debug.compute_and_print(r, include_id=False)
x | y
1 | 5
2 | 6
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import polars as pl

from reflow.api.join import join_mode
from reflow.engine.batch import DIFF, ID
from reflow.engine.ids import hash_columns
from reflow.plan import dtypes as dt
from reflow.plan import expr as ex
from reflow.plan.errors import BuildTypeError, BuildValueError, user_frame
from reflow.plan.nodes import ColumnInfo
from reflow.plan.temporal_nodes import KernelNode
from reflow.temporal import _time
from reflow.temporal._join_common import (
    KEY,
    TIME,
    apply_join_behavior,
    keyed_sides,
)
from reflow.temporal._pairs import OID, pair_join

if TYPE_CHECKING:
    from reflow.api.join import JoinResult
    from reflow.api.table import Table

BUCKET = "_pw_b"


@dataclass(frozen=True)
class Interval:
    """The bounds of an interval join, relative to the left row's time."""

    lower_bound: Any
    upper_bound: Any


def interval(lower_bound: Any, upper_bound: Any) -> Interval:
    """``[lower_bound, upper_bound]`` around the left time (numbers, or timedeltas for
    datetime times)."""
    return Interval(lower_bound, upper_bound)


def _bucketed(table: Table, width: float | int | None, shift: float | int, copies: int,
              where: str) -> Table:
    """``table`` (with ``_pw_t``) plus ``_pw_oid`` and ``_pw_b``: the bucket of
    ``_pw_t - shift`` and, with ``copies=2``, also the next bucket (one row each)."""
    from reflow.api.table import Table

    floating = table._node.columns[TIME].dtype == dt.FLOAT or isinstance(width, float) or \
        isinstance(shift, float)
    bucket_type = dt.FLOAT if (width is None and floating) else dt.INT
    columns = dict(table._node.columns)
    columns[OID] = ColumnInfo(dt.POINTER)
    columns[BUCKET] = ColumnInfo(bucket_type)
    order = [*list(table._node.polars_columns()), OID, BUCKET]
    shifted = pl.col(TIME) - shift
    if width is None:
        base = shifted
    elif floating:
        base = (shifted / width).floor().cast(pl.Int64)
    else:
        base = shifted // width
    base = base.cast(bucket_type.polars())

    def kernel(frame: pl.DataFrame) -> pl.DataFrame:
        out = frame.with_columns(pl.col(ID).alias(OID), base.alias(BUCKET))
        out = out.filter(pl.col(BUCKET).is_not_null())
        if copies == 2:
            out = pl.concat([out, out.with_columns(pl.col(BUCKET) + 1)])
        ids = hash_columns(out, [OID, BUCKET], "interval-bucket")
        return out.with_columns(ids.alias(ID)).select(ID, *order, DIFF)

    return Table(KernelNode(table._node, columns, kernel, where))


def interval_join(self: Table, other: Table, self_time: Any, other_time: Any,
                  interval: Interval, *on: Any, behavior: Any = None, how: Any = None,
                  left_instance: Any = None, right_instance: Any = None) -> JoinResult:
    """Join rows of ``self`` and ``other`` whose times satisfy
    ``self_time + lower_bound <= other_time <= self_time + upper_bound`` and the equalities
    ``on``. ``how`` (a ``pw.JoinMode``) keeps rows without a partner; results are revised
    when either side changes. ``behavior`` (a ``common_behavior``; with a cutoff,
    ``keep_results=False``; inner joins only) delays, ignores and forgets the rows of each
    side against that side's own frontier: see ``docs/temporal.md``.

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
    >>> r = clicks.interval_join(views, clicks.t, views.t, pw.temporal.interval(0, 5)).select(
    ...     pw.left.page, pw.right.ad
    ... )
    >>> pw.debug.compute_and_print(r, include_id=False)
    page | ad
    a    | x
    """
    where = user_frame()
    if not isinstance(interval, Interval):
        raise BuildTypeError(f"interval_join needs pw.temporal.interval(lb, ub), got {interval!r}",
                         where)
    mode = join_mode(how, where)
    left_keyed, right_keyed, time_type, same = keyed_sides(
        self, other, self_time, other_time, on, left_instance, right_instance, where
    )
    if behavior is not None:
        from reflow.api.join import JoinMode

        if mode != JoinMode.INNER:
            raise BuildValueError("interval_join supports a behavior with how=pw.JoinMode.INNER "
                             "only", where)
        left_keyed = apply_join_behavior(left_keyed, behavior, time_type, "interval_join", where)
        right_keyed = apply_join_behavior(right_keyed, behavior, time_type, "interval_join",
                                          where)
    try:
        lb = _time.duration_value(interval.lower_bound, time_type, "lower_bound")
        ub = _time.duration_value(interval.upper_bound, time_type, "upper_bound")
    except TypeError as exc:
        raise BuildTypeError(str(exc), where) from None
    if lb > ub:
        raise BuildValueError(f"interval lower bound {interval.lower_bound!r} is above the upper "
                         f"bound {interval.upper_bound!r}", where)
    width = ub - lb
    if width == 0 or (isinstance(width, float) and not math.isfinite(width)):
        left_b = _bucketed(left_keyed, None, 0, 1, where)
        right_b = _bucketed(right_keyed, None, lb, 1, where)
    else:
        left_b = _bucketed(left_keyed, width, 0, 2, where)
        right_b = _bucketed(right_keyed, width, lb, 1, where)
    lt = ex.ThisReference("left", TIME)
    rt = ex.ThisReference("right", TIME)
    condition = ex.BinaryOp(
        "&", ex.BinaryOp(">=", rt, ex.BinaryOp("+", lt, lb)),
        ex.BinaryOp("<=", rt, ex.BinaryOp("+", lt, ub)),
    )
    return pair_join(self, other, left_b, right_b, [KEY, BUCKET], condition, mode, same)


def interval_join_inner(self: Table, other: Table, self_time: Any, other_time: Any, interval: Any,
                        *on: Any, **kwargs: Any) -> JoinResult:
    """``interval_join`` with ``how=pw.JoinMode.INNER``.

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
    >>> r = clicks.interval_join_inner(views, clicks.t, views.t, pw.temporal.interval(0, 5)).select(
    ...     pw.left.page, pw.right.ad
    ... )
    >>> pw.debug.compute_and_print(r, include_id=False)
    page | ad
    a    | x
    """
    from reflow.api.join import JoinMode

    return interval_join(self, other, self_time, other_time, interval, *on,
                        how=JoinMode.INNER, **kwargs)


def interval_join_left(self: Table, other: Table, self_time: Any, other_time: Any, interval: Any,
                       *on: Any, **kwargs: Any) -> JoinResult:
    """``interval_join`` with ``how=pw.JoinMode.LEFT``.

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
    >>> r = clicks.interval_join_left(views, clicks.t, views.t, pw.temporal.interval(0, 5)).select(
    ...     pw.left.page, pw.right.ad
    ... )
    >>> pw.debug.compute_and_print(r, include_id=False)
    page | ad
    a    | x
    b    |
    """
    from reflow.api.join import JoinMode

    return interval_join(self, other, self_time, other_time, interval, *on,
                        how=JoinMode.LEFT, **kwargs)


def interval_join_right(self: Table, other: Table, self_time: Any, other_time: Any, interval: Any,
                        *on: Any, **kwargs: Any) -> JoinResult:
    """``interval_join`` with ``how=pw.JoinMode.RIGHT``.

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
    >>> r = clicks.interval_join_right(views, clicks.t, views.t, pw.temporal.interval(0, 5)).select(
    ...     pw.left.page, pw.right.ad
    ... )
    >>> pw.debug.compute_and_print(r, include_id=False)
    page | ad
         | y
    a    | x
    """
    from reflow.api.join import JoinMode

    return interval_join(self, other, self_time, other_time, interval, *on,
                        how=JoinMode.RIGHT, **kwargs)


def interval_join_outer(self: Table, other: Table, self_time: Any, other_time: Any, interval: Any,
                        *on: Any, **kwargs: Any) -> JoinResult:
    """``interval_join`` with ``how=pw.JoinMode.OUTER``.

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
    >>> r = clicks.interval_join_outer(views, clicks.t, views.t, pw.temporal.interval(0, 5)).select(
    ...     pw.left.page, pw.right.ad
    ... )
    >>> pw.debug.compute_and_print(r, include_id=False)
    page | ad
         | y
    a    | x
    b    |
    """
    from reflow.api.join import JoinMode

    return interval_join(self, other, self_time, other_time, interval, *on,
                        how=JoinMode.OUTER, **kwargs)
