"""Reducers: what ``reduce`` computes over the rows of each group (``pw.reducers``).

A reducer call builds a ``ReducerExpression``; it is only valid inside ``reduce`` and can be
combined with other expressions there (``pw.reducers.sum(pw.this.x) / pw.reducers.count()``).
Results are kept up to date as rows are inserted, updated and deleted.

>>> import reflow as pw
>>> t = pw.debug.table_from_markdown('''
... shop | price
... a    | 3
... a    | 5
... b    | 4
... ''')
>>> r = t.groupby(pw.this.shop).reduce(
...     pw.this.shop, n=pw.reducers.count(), top=pw.reducers.max(pw.this.price)
... )
>>> pw.debug.compute_and_print(r, include_id=False)
shop | n | top
a    | 2 | 5
b    | 1 | 4
"""

from __future__ import annotations

import builtins
import typing
from collections.abc import Callable
from typing import Any

from reflow.api.this import this
from reflow.plan import dtypes as dt
from reflow.plan import expr as ex
from reflow.plan import reducers as kinds
from reflow.plan.reducers import (
    accumulator_reducer,
    stateful_many_reducer,
    stateful_single_reducer,
)


def count(*args: Any) -> ex.ColumnExpression:
    """The number of rows in the group (arguments, if any, are ignored).

    >>> import reflow as pw
    >>> t = pw.debug.table_from_markdown('''
    ... k
    ... a
    ... a
    ... ''')
    >>> pw.debug.compute_and_print(t.reduce(n=pw.reducers.count()), include_id=False)
    n
    2
    """
    return ex.ReducerExpression(kinds.COUNT)


def sum(expression: Any, *, strict: bool = False) -> ex.ColumnExpression:
    """The sum of the values (ints, floats, durations or numpy arrays).

    ``strict=True`` is accepted for float columns (reflow's float sums are already computed
    from the multiset of values, so no rounding accumulates over updates); for any other type
    it is a ``ValueError``, as in Pathway.

    >>> import reflow as pw
    >>> t = pw.debug.table_from_markdown('''
    ... x
    ... 2
    ... 5
    ... ''')
    >>> pw.debug.compute_and_print(t.reduce(s=pw.reducers.sum(pw.this.x)), include_id=False)
    s
    7
    """
    if strict:
        return ex.ReducerExpression(kinds.SUM, expression, strict=True)
    return ex.ReducerExpression(kinds.SUM, expression)


def avg(expression: Any) -> ex.ColumnExpression:
    """The mean of the values, as a float.

    >>> import reflow as pw
    >>> t = pw.debug.table_from_markdown('''
    ... x
    ... 2
    ... 5
    ... ''')
    >>> pw.debug.compute_and_print(t.reduce(m=pw.reducers.avg(pw.this.x)), include_id=False)
    m
    3.5
    """
    return ex.ReducerExpression(kinds.AVG, expression)


def min(expression: Any) -> ex.ColumnExpression:
    """The smallest value (``None`` counts as smaller than every value).

    >>> import reflow as pw
    >>> t = pw.debug.table_from_markdown('''
    ... x
    ... 2
    ... 5
    ... ''')
    >>> pw.debug.compute_and_print(t.reduce(m=pw.reducers.min(pw.this.x)), include_id=False)
    m
    2
    """
    return ex.ReducerExpression(kinds.MIN, expression)


def max(expression: Any) -> ex.ColumnExpression:
    """The largest value.

    >>> import reflow as pw
    >>> t = pw.debug.table_from_markdown('''
    ... x
    ... 2
    ... 5
    ... ''')
    >>> pw.debug.compute_and_print(t.reduce(m=pw.reducers.max(pw.this.x)), include_id=False)
    m
    5
    """
    return ex.ReducerExpression(kinds.MAX, expression)


def argmin(expression: Any, id: Any = None) -> ex.ColumnExpression:
    """The id (or the ``id`` argument's value) of the row holding the smallest value; ties go
    to the smallest row id.

    >>> import reflow as pw
    >>> t = pw.debug.table_from_markdown('''
    ... name | x
    ... a    | 2
    ... b    | 5
    ... ''')
    >>> r = t.reduce(who=pw.reducers.argmin(pw.this.x, pw.this.name))
    >>> pw.debug.compute_and_print(r, include_id=False)
    who
    a
    """
    return ex.ReducerExpression(kinds.ARGMIN, expression, this.id if id is None else id)


def argmax(expression: Any, id: Any = None) -> ex.ColumnExpression:
    """The id (or the ``id`` argument's value) of the row holding the largest value; ties go
    to the smallest row id.

    >>> import reflow as pw
    >>> t = pw.debug.table_from_markdown('''
    ... name | x
    ... a    | 2
    ... b    | 5
    ... ''')
    >>> r = t.reduce(who=pw.reducers.argmax(pw.this.x, pw.this.name))
    >>> pw.debug.compute_and_print(r, include_id=False)
    who
    b
    """
    return ex.ReducerExpression(kinds.ARGMAX, expression, this.id if id is None else id)


def any(expression: Any) -> ex.ColumnExpression:
    """Some value of the group (deterministically, the one of the row with the smallest id).

    >>> import reflow as pw
    >>> t = pw.debug.table_from_markdown('''
    ... x
    ... 7
    ... ''')
    >>> pw.debug.compute_and_print(t.reduce(v=pw.reducers.any(pw.this.x)), include_id=False)
    v
    7
    """
    return ex.ReducerExpression(kinds.ANY, expression)


def unique(expression: Any) -> ex.ColumnExpression:
    """The value shared by every row of the group; an error value when rows disagree.

    >>> import reflow as pw
    >>> t = pw.debug.table_from_markdown('''
    ... k | x
    ... a | 1
    ... a | 1
    ... ''')
    >>> r = t.groupby(pw.this.k).reduce(v=pw.reducers.unique(pw.this.x))
    >>> pw.debug.compute_and_print(r, include_id=False)
    v
    1
    """
    return ex.ReducerExpression(kinds.UNIQUE, expression)


def tuple(expression: Any, *, skip_nones: bool = False) -> ex.ColumnExpression:
    """All values, ordered by the groupby's ``sort_by`` (then by row id).

    >>> import reflow as pw
    >>> t = pw.debug.table_from_markdown('''
    ... x | t
    ... 5 | 2
    ... 3 | 1
    ... ''')
    >>> r = t.groupby(sort_by=pw.this.t).reduce(v=pw.reducers.tuple(pw.this.x))
    >>> pw.debug.compute_and_print(r, include_id=False)
    v
    (3, 5)
    """
    return ex.ReducerExpression(kinds.TUPLE, expression, skip_nones=skip_nones)


def sorted_tuple(expression: Any, *, skip_nones: bool = False) -> ex.ColumnExpression:
    """All values, sorted (``None`` first).

    >>> import reflow as pw
    >>> t = pw.debug.table_from_markdown('''
    ... x
    ... 5
    ... 3
    ... ''')
    >>> r = t.reduce(v=pw.reducers.sorted_tuple(pw.this.x))
    >>> pw.debug.compute_and_print(r, include_id=False)
    v
    (3, 5)
    """
    return ex.ReducerExpression(kinds.SORTED_TUPLE, expression, skip_nones=skip_nones)


def ndarray(expression: Any, *, skip_nones: bool = False) -> ex.ColumnExpression:
    """All values as a numpy array, in the same order as ``tuple``.

    >>> import reflow as pw
    >>> t = pw.debug.table_from_markdown('''
    ... x
    ... 5
    ... ''')
    >>> r = t.reduce(v=pw.reducers.ndarray(pw.this.x))
    >>> pw.debug.table_to_dicts(r)[1]["v"].popitem()[1].tolist()
    [5]
    """
    return ex.ReducerExpression(kinds.NDARRAY, expression, skip_nones=skip_nones)


def count_distinct(*args: Any) -> ex.ColumnExpression:
    """The number of distinct values (or tuples of values, with several arguments).

    >>> import reflow as pw
    >>> t = pw.debug.table_from_markdown('''
    ... x
    ... 1
    ... 1
    ... 2
    ... ''')
    >>> r = t.reduce(n=pw.reducers.count_distinct(pw.this.x))
    >>> pw.debug.compute_and_print(r, include_id=False)
    n
    2
    """
    return ex.ReducerExpression(kinds.COUNT_DISTINCT, *args)


def count_distinct_approximate(*args: Any, precision: int = 12) -> ex.ColumnExpression:
    """An estimate of the number of distinct values (reflow computes it exactly).

    >>> import reflow as pw
    >>> t = pw.debug.table_from_markdown('''
    ... x
    ... 1
    ... 2
    ... ''')
    >>> r = t.reduce(n=pw.reducers.count_distinct_approximate(pw.this.x))
    >>> pw.debug.compute_and_print(r, include_id=False)
    n
    2
    """
    del precision
    return ex.ReducerExpression(kinds.COUNT_DISTINCT_APPROX, *args)


def earliest(expression: Any) -> ex.ColumnExpression:
    """The value of the row that arrived at the earliest logical time.

    >>> import reflow as pw
    >>> t = pw.debug.table_from_markdown('''
    ... x | __time__
    ... 5 | 4
    ... 3 | 2
    ... ''')
    >>> r = t.reduce(v=pw.reducers.earliest(pw.this.x))
    >>> pw.debug.compute_and_print(r, include_id=False)
    v
    3
    """
    return ex.ReducerExpression(kinds.EARLIEST, expression)


def latest(expression: Any) -> ex.ColumnExpression:
    """The value of the row that arrived at the latest logical time.

    >>> import reflow as pw
    >>> t = pw.debug.table_from_markdown('''
    ... x | __time__
    ... 5 | 4
    ... 3 | 2
    ... ''')
    >>> r = t.reduce(v=pw.reducers.latest(pw.this.x))
    >>> pw.debug.compute_and_print(r, include_id=False)
    v
    5
    """
    return ex.ReducerExpression(kinds.LATEST, expression)


def _wrapper(reducer: kinds.Reducer) -> Callable[..., ex.ColumnExpression]:
    """The function users call to apply a user-defined reducer."""

    def wrapper(*args: Any) -> ex.ColumnExpression:
        return ex.ReducerExpression(reducer, *args)

    return wrapper


def stateful_many(
    combine_many: Callable[[Any, list[builtins.tuple[list, int]]], Any],
) -> Callable[..., ex.ColumnExpression]:
    """A reducer from ``combine_many(state, [(args, diff), ...]) -> state``, called once per
    group and logical time with the group's changes (``state`` is ``None`` at first).

    >>> import reflow as pw
    >>> @pw.reducers.stateful_many
    ... def total(state, rows):
    ...     for args, diff in rows:
    ...         state = (state or 0) + args[0] * diff
    ...     return state
    >>> t = pw.debug.table_from_markdown('''
    ... x
    ... 2
    ... 5
    ... ''')
    >>> pw.debug.compute_and_print(t.reduce(s=total(pw.this.x)), include_id=False)
    s
    7
    """
    return _wrapper(stateful_many_reducer(combine_many))


def stateful_single(combine_single: Callable[..., Any]) -> Callable[..., ex.ColumnExpression]:
    """A reducer from ``combine_single(state, *args) -> state``, called once per inserted row;
    deleting a row makes the group's result an error.

    >>> import reflow as pw
    >>> @pw.reducers.stateful_single
    ... def product(state, x):
    ...     return (state or 1) * x
    >>> t = pw.debug.table_from_markdown('''
    ... x
    ... 2
    ... 5
    ... ''')
    >>> pw.debug.compute_and_print(t.reduce(p=product(pw.this.x)), include_id=False)
    p
    10
    """
    return _wrapper(stateful_single_reducer(combine_single))


def _stub(function: Callable) -> Callable:
    function.__reflow_stub__ = True  # type: ignore[attr-defined]
    return function


class BaseCustomAccumulator:
    """Base class of user accumulators for ``udf_reducer``.

    Implement ``from_row(row)`` (a classmethod building an accumulator from one row's argument
    values), ``update(other)`` (merge ``other`` into ``self``) and ``compute_result()``.
    Optionally ``neutral()`` (the empty accumulator) and ``retract(other)`` (remove ``other``),
    which lets deletions be processed without revisiting the group's rows.

    >>> import reflow as pw
    >>> class Span(pw.BaseCustomAccumulator):
    ...     def __init__(self, lo, hi):
    ...         self.lo, self.hi = lo, hi
    ...     @classmethod
    ...     def from_row(cls, row):
    ...         return cls(row[0], row[0])
    ...     def update(self, other):
    ...         self.lo = other.lo if other.lo < self.lo else self.lo
    ...         self.hi = other.hi if other.hi > self.hi else self.hi
    ...     def compute_result(self) -> int:
    ...         return self.hi - self.lo
    >>> span = pw.reducers.udf_reducer(Span)
    >>> t = pw.debug.table_from_markdown('''
    ... x
    ... 2
    ... 9
    ... ''')
    >>> pw.debug.compute_and_print(t.reduce(s=span(pw.this.x)), include_id=False)
    s
    7
    """

    @classmethod
    @_stub
    def neutral(cls) -> BaseCustomAccumulator:
        raise NotImplementedError

    @classmethod
    def from_row(cls, row: list[Any]) -> BaseCustomAccumulator:
        raise NotImplementedError

    def update(self, other: BaseCustomAccumulator) -> None:
        raise NotImplementedError

    @_stub
    def retract(self, other: BaseCustomAccumulator) -> None:
        raise NotImplementedError

    def compute_result(self) -> Any:
        raise NotImplementedError


def udf_reducer(
    reducer_cls: type[BaseCustomAccumulator],
) -> Callable[..., ex.ColumnExpression]:
    """A reducer from a ``BaseCustomAccumulator`` subclass; its result type is the return
    annotation of ``compute_result`` (see ``BaseCustomAccumulator`` for an example)."""
    try:
        hints = typing.get_type_hints(reducer_cls.compute_result)
    except Exception:  # noqa: BLE001 - unresolvable annotations: fall back to Any
        hints = {}
    result = dt.wrap(hints["return"]) if "return" in hints else dt.ANY
    return _wrapper(accumulator_reducer(reducer_cls, result))


__all__ = [
    "BaseCustomAccumulator",
    "any",
    "argmax",
    "argmin",
    "avg",
    "count",
    "count_distinct",
    "count_distinct_approximate",
    "earliest",
    "latest",
    "max",
    "min",
    "ndarray",
    "sorted_tuple",
    "stateful_many",
    "stateful_single",
    "sum",
    "tuple",
    "udf_reducer",
    "unique",
]
