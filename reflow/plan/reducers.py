"""Reducer kinds: the result type of each reducer and the engine aggregate computing it.

``pw.reducers.sum(x)`` (``reflow.api.reducers``) builds a ``ReducerExpression`` naming one of
these kinds; the plan asks the kind for its result dtype when the expression is resolved and
for an engine ``Aggregate`` when the reduce is lowered.

>>> from reflow.plan import dtypes as dt
>>> from reflow.plan.reducers import AVG, SUM
>>> SUM.result_type(dt.INT), AVG.result_type(dt.INT)
(INT, FLOAT)
>>> type(SUM.aggregate([dt.INT])).__name__
'Sum'
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any

from reflow.engine.state import aggregates as agg
from reflow.plan import dtypes as dt


class Reducer:
    """A reducer kind: its name, result type and engine implementation."""

    can_fail: bool | Callable[[list[dt.DType]], bool] = False

    def __init__(
        self,
        name: str,
        result: Callable[..., dt.DType],
        make: Callable[..., agg.Aggregate],
        can_fail: bool | Callable[[list[dt.DType]], bool] = False,
    ) -> None:
        self.name = name
        self._result = result
        self._make = make
        self.can_fail = can_fail

    def can_fail_for(self, arg_types: list[dt.DType]) -> bool:
        """Whether the result for arguments of ``arg_types`` can be an error value by itself
        (e.g. an int sum beyond int64), not only because an argument holds one."""
        if callable(self.can_fail):
            return bool(self.can_fail(arg_types))
        return bool(self.can_fail)

    def result_type(self, *arg_types: dt.DType, **kwargs: Any) -> dt.DType:
        """The dtype of the reducer's result for arguments of ``arg_types``."""
        return self._result(*arg_types, **kwargs)

    def aggregate(self, arg_types: list[dt.DType], **kwargs: Any) -> agg.Aggregate:
        """The engine implementation for arguments of ``arg_types``."""
        return self._make(arg_types, **kwargs)

    def __repr__(self) -> str:
        return f"pw.reducers.{self.name}"


def _unsupported(name: str, arg: dt.DType) -> TypeError:
    return TypeError(f"reducer {name} does not support a column of type {arg!r}")


def _sum_type(arg: dt.DType, strict: bool = False, **_: Any) -> dt.DType:
    if strict and arg.strip_optional() != dt.FLOAT:
        raise ValueError(f"sum(strict=True) needs a float column, got {arg!r}")
    if arg in (dt.INT, dt.FLOAT, dt.DURATION, dt.ANY) or isinstance(arg, dt.Array):
        return arg
    raise _unsupported("sum", arg)


def _make_sum(types: list[dt.DType], **_: Any) -> agg.Aggregate:
    if isinstance(types[0], dt.Array) or types[0] == dt.ANY:
        return agg.ArraySum()
    if types[0] == dt.DURATION:
        return agg.Sum(datetime.timedelta(0))
    return agg.Sum(0.0 if types[0] == dt.FLOAT else 0)


def _avg_type(arg: dt.DType, **_: Any) -> dt.DType:
    if arg in (dt.INT, dt.FLOAT):
        return dt.FLOAT
    raise _unsupported("avg", arg)


def _same_type(name: str) -> Callable[..., dt.DType]:
    def result(arg: dt.DType, *_: Any, **__: Any) -> dt.DType:
        if arg == dt.NONE:
            raise _unsupported(name, arg)
        return arg

    return result


def _id_type(arg: dt.DType, id_type: dt.DType = dt.POINTER, **_: Any) -> dt.DType:
    return id_type


def _tuple_type(arg: dt.DType, skip_nones: bool = False, **_: Any) -> dt.DType:
    return dt.List(arg.strip_optional() if skip_nones else arg)


def _fixed(
    name: str, result: Callable[..., dt.DType], aggregate: Callable[[], agg.Aggregate],
    can_fail: bool = False,
) -> Reducer:
    """A reducer whose engine implementation takes no parameters."""
    return Reducer(name, result, lambda types, **_: aggregate(), can_fail)


def _same(name: str, aggregate: Callable[[], agg.Aggregate], can_fail: bool = False) -> Reducer:
    """A reducer whose result has the type of its argument."""
    return _fixed(name, _same_type(name), aggregate, can_fail)


def _collecting(
    name: str, result: Callable[..., dt.DType], aggregate: Callable[[bool], agg.Aggregate]
) -> Reducer:
    """A reducer gathering all values, which takes the ``skip_nones`` option."""
    return Reducer(name, result, lambda types, skip_nones=False: aggregate(skip_nones))


COUNT = _fixed("count", lambda **_: dt.INT, agg.Count)
SUM = Reducer(
    "sum", _sum_type, _make_sum, can_fail=lambda types: types[0].strip_optional() == dt.INT
)
AVG = _fixed("avg", _avg_type, agg.Avg)
MIN = _same("min", agg.Min)
MAX = _same("max", agg.Max)
ARGMIN = _fixed("argmin", _id_type, agg.ArgMin)
ARGMAX = _fixed("argmax", _id_type, agg.ArgMax)
ANY = _same("any", agg.AnyValue)
UNIQUE = _same("unique", agg.Unique, can_fail=True)
TUPLE = _collecting("tuple", _tuple_type, agg.Tuple)
SORTED_TUPLE = _collecting("sorted_tuple", _tuple_type, agg.SortedTuple)
NDARRAY = _collecting("ndarray", lambda arg, skip_nones=False: dt.Array(), agg.NdArray)
COUNT_DISTINCT = _fixed("count_distinct", lambda *a, **_: dt.INT, agg.CountDistinct)
COUNT_DISTINCT_APPROX = _fixed(
    "count_distinct_approximate", lambda *a, **_: dt.INT, agg.CountDistinct
)
EARLIEST = _same("earliest", agg.Earliest)
LATEST = _same("latest", agg.Latest)


def _any_type(*_: Any, **__: Any) -> dt.DType:
    return dt.ANY


def stateful_many_reducer(combine_many: Callable[..., Any]) -> Reducer:
    """The kind of ``pw.reducers.stateful_many(combine_many)``."""
    return _fixed("stateful_many", _any_type, lambda: agg.StatefulMany(combine_many), True)


def stateful_single_reducer(combine_single: Callable[..., Any]) -> Reducer:
    """The kind of ``pw.reducers.stateful_single(combine_single)``."""
    return _fixed("stateful_single", _any_type, lambda: agg.StatefulSingle(combine_single), True)


def accumulator_reducer(accumulator: type, result: dt.DType) -> Reducer:
    """The kind of ``pw.reducers.udf_reducer(accumulator)``, whose result is ``result``."""
    return _fixed(
        f"udf_reducer({accumulator.__name__})", lambda *a, **k: result,
        lambda: agg.Accumulate(accumulator), True,
    )
