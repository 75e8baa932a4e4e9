"""Engine-side implementations of reducers.

An ``Aggregate`` turns the rows of one group into one value. The reduce operator keeps, per
group, the multiset of live rows; each aggregate says how its value is maintained:

- ``KIND_ACC``: an invertible accumulator updated by each inserted or retracted row (count,
  sum, avg, count_distinct); the cost of a change does not depend on the size of the group.
- ``KIND_ROWS``: computed from the group's live rows (min, max, tuple, ...); the cost is at
  most proportional to the size of the changed group, never to the whole state. Those that pick
  one row (min, max, argmin, ...) give ``key``/``pick`` so the operator keeps the winner without
  rescanning the group until the winning row is deleted.
- ``KIND_STATEFUL``: a state folded over the sequence of changes (``stateful_single``,
  ``stateful_many``, accumulators with ``retract``).

A row handed to an aggregate is ``(row_id, values, time, sort_key)``: ``values`` holds the
aggregate's own argument values, ``time`` the logical time the row arrived and ``sort_key`` the
value of the ``sort_by`` expression (or ``None``). Rows come ordered by ``(sort_key, row_id)``
when the aggregate is ``ordered``, and rows with multiplicity ``m > 1`` are repeated ``m`` times.

Aggregates that can also run on a whole batch give a Polars aggregation (``polars``) used by the
operator when a large batch is processed in one vectorized pass; it must agree with the Python
path on every input.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import polars as pl

KIND_ACC = "acc"
KIND_ROWS = "rows"
KIND_STATEFUL = "stateful"

Row = tuple[int, tuple, int, Any]


class AggregateError(Exception):
    """Raised by an aggregate whose result is an error value for this group."""


class Aggregate:
    """Base class: how one reducer is computed over the rows of a group."""

    kind = KIND_ROWS
    name = "aggregate"
    ordered = False  # whether ``compute`` needs rows in ``(sort_key, row_id)`` order
    uses_time = False  # whether ``compute`` reads the rows' arrival times

    # --- KIND_ROWS ---------------------------------------------------------------------------
    def compute(self, rows: Sequence[Row]) -> Any:
        raise NotImplementedError

    # Aggregates that pick one row (min, max, argmin, ...) also define ``key(row)`` (the row
    # with the smallest key wins) and ``pick(row)`` (the result taken from the winning row), so
    # the operator can keep the winner up to date without rescanning the group, rescanning
    # only when the winning row is deleted. ``compute`` must agree with them.
    key: Callable[[Row], Any] | None = None

    def pick(self, row: Row) -> Any:
        return row[1][0]

    # --- KIND_ACC ----------------------------------------------------------------------------
    def acc_new(self) -> list:
        raise NotImplementedError

    def acc_add(self, acc: list, values: tuple, mult: int) -> None:
        raise NotImplementedError

    def acc_result(self, acc: list) -> Any:
        raise NotImplementedError

    # --- KIND_STATEFUL -------------------------------------------------------------------------
    def state_new(self) -> Any:
        return None

    def state_apply(self, state: Any, changes: Sequence[tuple[tuple, int]]) -> Any:
        raise NotImplementedError

    def state_result(self, state: Any) -> Any:
        return state

    # --- bulk --------------------------------------------------------------------------------
    def polars_failed(self, args: Sequence[str]) -> pl.Expr | None:
        """Where the result of ``polars(args)`` is an error value by itself (``None``: never)."""
        return None

    def polars(self, args: Sequence[str]) -> pl.Expr | None:
        """An aggregation over a group's rows (columns ``args``, ``_id``, ``_time``, ``_mult``
        with ``_mult > 0``), or ``None`` when only the Python path exists."""
        return None


def _order_key(value: Any) -> tuple:
    """Ordering where ``None`` sorts before every other value."""
    return (value is not None, value)


class Count(Aggregate):
    kind = KIND_ACC
    name = "count"

    def acc_new(self) -> list:
        return [0]

    def acc_add(self, acc: list, values: tuple, mult: int) -> None:
        acc[0] += mult

    def acc_result(self, acc: list) -> Any:
        return acc[0]

    def polars(self, args: Sequence[str]) -> pl.Expr | None:
        return pl.col("_mult").sum()


class Sum(Aggregate):
    kind = KIND_ACC
    name = "sum"

    def __init__(self, zero: Any = 0) -> None:
        self.zero = zero

    def acc_new(self) -> list:
        return [self.zero, 0, 0, 0]  # sum of finite values, counts of inf, -inf and NaN

    def acc_add(self, acc: list, values: tuple, mult: int) -> None:
        value = values[0]
        if value is not None:
            if isinstance(value, float) and not math.isfinite(value):
                acc[_non_finite_slot(value)] += mult
            else:
                acc[0] = acc[0] + value * mult

    def acc_result(self, acc: list) -> Any:
        total = acc[0]
        if type(total) is int and not INT64_MIN <= total <= INT64_MAX:
            raise AggregateError(f"integer overflow: the sum {total} does not fit in int64")
        return _with_non_finite(total, acc)

    def polars(self, args: Sequence[str]) -> pl.Expr | None:
        if type(self.zero) is int:
            # Summed exactly in int128; a total beyond int64 is an error (``polars_failed``).
            total = (pl.col(args[0]).cast(pl.Int128) * pl.col("_mult")).sum()
            return pl.when(_outside_int64(total)).then(None).otherwise(total)
        return (pl.col(args[0]) * pl.col("_mult")).sum()

    def polars_failed(self, args: Sequence[str]) -> pl.Expr | None:
        if type(self.zero) is int:
            return _outside_int64((pl.col(args[0]).cast(pl.Int128) * pl.col("_mult")).sum())
        return None


INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def _outside_int64(value: pl.Expr) -> pl.Expr:
    return ((value < INT64_MIN) | (value > INT64_MAX)).fill_null(False)


def _non_finite_slot(value: float) -> int:
    """Where a running float sum counts a non-finite ``value``: 1 for inf, 2 for -inf, 3 for
    NaN. Keeping them apart from the finite total lets them be retracted exactly."""
    if value != value:
        return 3
    return 1 if value > 0 else 2


def _with_non_finite(total: Any, acc: list) -> Any:
    """``total`` combined with the non-finite values counted in ``acc[1:4]``."""
    if acc[3] > 0 or (acc[1] > 0 and acc[2] > 0):
        return math.nan
    if acc[1] > 0:
        return math.inf
    if acc[2] > 0:
        return -math.inf
    return total


class ArraySum(Aggregate):
    """Element-wise sum of numpy arrays."""

    name = "sum"

    def compute(self, rows: Sequence[Row]) -> Any:
        total = None
        for _, values, _, _ in rows:
            if values[0] is not None:
                total = values[0] if total is None else total + values[0]
        return total


class Avg(Aggregate):
    kind = KIND_ACC
    name = "avg"

    def acc_new(self) -> list:
        # sum of finite values, counts of inf, -inf and NaN, number of non-null values
        return [0.0, 0, 0, 0, 0]

    def acc_add(self, acc: list, values: tuple, mult: int) -> None:
        value = values[0]
        if value is not None:
            if isinstance(value, float) and not math.isfinite(value):
                acc[_non_finite_slot(value)] += mult
            else:
                acc[0] += value * mult
            acc[4] += mult

    def acc_result(self, acc: list) -> Any:
        return _with_non_finite(acc[0], acc) / acc[4] if acc[4] else None

    def polars(self, args: Sequence[str]) -> pl.Expr | None:
        weighted = (pl.col(args[0]).cast(pl.Float64) * pl.col("_mult")).sum()
        count = pl.col("_mult").filter(pl.col(args[0]).is_not_null()).sum()
        return pl.when(count > 0).then(weighted / count).otherwise(None)


class Min(Aggregate):
    name = "min"

    @staticmethod
    def key(row: Row) -> Any:
        return _order_key(row[1][0])

    def compute(self, rows: Sequence[Row]) -> Any:
        return min((values[0] for _, values, _, _ in rows), key=_order_key)

    def polars(self, args: Sequence[str]) -> pl.Expr | None:
        col = pl.col(args[0])
        return pl.when(col.null_count() > 0).then(None).otherwise(col.min())


class Max(Aggregate):
    name = "max"

    @staticmethod
    def key(row: Row) -> Any:
        return _Reverse(_order_key(row[1][0]))

    def compute(self, rows: Sequence[Row]) -> Any:
        return max((values[0] for _, values, _, _ in rows), key=_order_key)

    def polars(self, args: Sequence[str]) -> pl.Expr | None:
        return pl.col(args[0]).max()


class ArgMin(Aggregate):
    """The second argument (a row id by default) of the row with the smallest first argument;
    ties go to the smallest row id."""

    name = "argmin"

    @staticmethod
    def key(row: Row) -> Any:
        return (_order_key(row[1][0]), row[0])

    def pick(self, row: Row) -> Any:
        return row[1][1]

    def compute(self, rows: Sequence[Row]) -> Any:
        return self.pick(min(rows, key=self.key))

    def polars(self, args: Sequence[str]) -> pl.Expr | None:
        value = pl.col(args[0])
        return pl.col(args[1]).sort_by([value.is_not_null(), value, pl.col("_id")]).first()


class ArgMax(Aggregate):
    """Like ``ArgMin`` for the largest value; ties go to the smallest row id."""

    name = "argmax"

    @staticmethod
    def key(row: Row) -> Any:
        return (_Reverse(_order_key(row[1][0])), row[0])

    def pick(self, row: Row) -> Any:
        return row[1][1]

    def compute(self, rows: Sequence[Row]) -> Any:
        return self.pick(min(rows, key=self.key))

    def polars(self, args: Sequence[str]) -> pl.Expr | None:
        value = pl.col(args[0])
        return pl.col(args[1]).sort_by(
            [value.is_not_null(), value, pl.col("_id")], descending=[True, True, False]
        ).first()


class _Reverse:
    """Reverses the order of a key, so "smallest key wins" also expresses maxima."""

    __slots__ = ("key",)

    def __init__(self, key: Any) -> None:
        self.key = key

    def __lt__(self, other: _Reverse) -> bool:
        return other.key < self.key

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Reverse) and other.key == self.key

    __hash__ = None  # type: ignore[assignment]


class AnyValue(Aggregate):
    """The value of the row with the smallest row id (deterministic)."""

    name = "any"

    @staticmethod
    def key(row: Row) -> Any:
        return row[0]

    def compute(self, rows: Sequence[Row]) -> Any:
        return self.pick(min(rows, key=self.key))

    def polars(self, args: Sequence[str]) -> pl.Expr | None:
        return pl.col(args[0]).sort_by(pl.col("_id")).first()


class Unique(Aggregate):
    name = "unique"

    def compute(self, rows: Sequence[Row]) -> Any:
        distinct = {_hashable(values[0]) for _, values, _, _ in rows}
        if len(distinct) > 1:
            raise AggregateError(
                f"unique: more than one distinct value in the group ({len(distinct)} values)"
            )
        return rows[0][1][0]


class Tuple(Aggregate):
    """Values in row order (``sort_by`` then row id)."""

    name = "tuple"
    ordered = True

    def __init__(self, skip_nones: bool = False) -> None:
        self.skip_nones = skip_nones

    def compute(self, rows: Sequence[Row]) -> Any:
        values = [values[0] for _, values, _, _ in rows]
        if self.skip_nones:
            values = [v for v in values if v is not None]
        return tuple(values)


class SortedTuple(Tuple):
    name = "sorted_tuple"

    def compute(self, rows: Sequence[Row]) -> Any:
        return tuple(sorted(super().compute(rows), key=_order_key))


class NdArray(Tuple):
    name = "ndarray"

    def compute(self, rows: Sequence[Row]) -> Any:
        import numpy as np

        return np.array(super().compute(rows))


class CountDistinct(Aggregate):
    """Kept as a count per distinct value, so a change costs O(1)."""

    kind = KIND_ACC
    name = "count_distinct"

    def acc_new(self) -> list:
        return [{}, 0]  # count per distinct value, number of values with a positive count

    def acc_add(self, acc: list, values: tuple, mult: int) -> None:
        counts = acc[0]
        key = tuple(distinct_key(v) for v in values)
        before = counts.get(key, 0)
        after = before + mult
        if after:
            counts[key] = after
        else:
            del counts[key]
        acc[1] += (after > 0) - (before > 0)

    def acc_result(self, acc: list) -> Any:
        return acc[1]

    def compute(self, rows: Sequence[Row]) -> Any:
        return len({tuple(distinct_key(v) for v in values) for _, values, _, _ in rows})

    def polars(self, args: Sequence[str]) -> pl.Expr | None:
        if len(args) == 1:
            return pl.col(args[0]).n_unique()
        return pl.struct(list(args)).n_unique()


class Earliest(Aggregate):
    """The value of the row that arrived first (ties: smallest row id)."""

    name = "earliest"
    uses_time = True

    @staticmethod
    def key(row: Row) -> Any:
        return (row[2], row[0])

    def compute(self, rows: Sequence[Row]) -> Any:
        return self.pick(min(rows, key=self.key))

    def polars(self, args: Sequence[str]) -> pl.Expr | None:
        return pl.col(args[0]).sort_by([pl.col("_time"), pl.col("_id")]).first()


class Latest(Aggregate):
    """The value of the row that arrived last (ties: largest row id)."""

    name = "latest"
    uses_time = True

    @staticmethod
    def key(row: Row) -> Any:
        return _Reverse((row[2], row[0]))

    def compute(self, rows: Sequence[Row]) -> Any:
        return self.pick(min(rows, key=self.key))

    def polars(self, args: Sequence[str]) -> pl.Expr | None:
        return pl.col(args[0]).sort_by([pl.col("_time"), pl.col("_id")]).last()


class StatefulMany(Aggregate):
    """``combine(state, [(args, diff), ...]) -> state``, called once per group and batch."""

    kind = KIND_STATEFUL
    name = "stateful_many"

    def __init__(self, combine: Callable[[Any, list[tuple[list, int]]], Any]) -> None:
        self.combine = combine

    def state_apply(self, state: Any, changes: Sequence[tuple[tuple, int]]) -> Any:
        return self.combine(state, [(list(values), diff) for values, diff in changes])


class StatefulSingle(Aggregate):
    """``combine(state, *args) -> state``, called once per inserted row; no deletions."""

    kind = KIND_STATEFUL
    name = "stateful_single"

    def __init__(self, combine: Callable[..., Any]) -> None:
        self.combine = combine

    def state_apply(self, state: Any, changes: Sequence[tuple[tuple, int]]) -> Any:
        for values, diff in changes:
            if diff < 0:
                raise AggregateError("stateful_single does not accept deletions or updates")
            for _ in range(diff):
                state = self.combine(state, *values)
        return state


class Accumulate(Aggregate):
    """A user accumulator class (``from_row``, ``update``, ``compute_result`` and optionally
    ``neutral`` and ``retract``), folded over the rows of the group."""

    name = "udf_reducer"
    ordered = True

    def __init__(self, accumulator: type[Any]) -> None:
        self.accumulator = accumulator
        self.has_neutral = _overrides(accumulator, "neutral")
        if _overrides(accumulator, "retract"):
            self.kind = KIND_STATEFUL

    def _start(self) -> Any:
        return self.accumulator.neutral() if self.has_neutral else None

    def _merge(self, acc: Any, values: tuple) -> Any:
        item = self.accumulator.from_row(list(values))
        if acc is None:
            return item
        acc.update(item)
        return acc

    def compute(self, rows: Sequence[Row]) -> Any:
        acc = self._start()
        for _, values, _, _ in rows:
            acc = self._merge(acc, values)
        return None if acc is None else acc.compute_result()

    def state_new(self) -> Any:
        return [self._start(), 0]

    def state_apply(self, state: Any, changes: Sequence[tuple[tuple, int]]) -> Any:
        acc, count = state
        for values, diff in changes:
            for _ in range(abs(diff)):
                if diff > 0:
                    acc = self._merge(acc, values)
                else:
                    acc.retract(self.accumulator.from_row(list(values)))
            count += diff
        return [acc, count]

    def state_result(self, state: Any) -> Any:
        acc, count = state
        if acc is None or (count == 0 and not self.has_neutral):
            return None
        return acc.compute_result()


def _overrides(cls: type, name: str) -> bool:
    """Whether ``cls`` defines ``name`` itself rather than inheriting the base stub."""
    for klass in cls.__mro__:
        if name in klass.__dict__:
            member = klass.__dict__[name]
            return not getattr(getattr(member, "__func__", member), "__reflow_stub__", False)
    return False


def _hashable(value: Any) -> Any:
    try:
        hash(value)
    except TypeError:
        return ("__repr__", repr(value))
    return value


class _NaN:
    """The one key every float NaN is counted under by count_distinct (NaN != NaN)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "NaN"


_NAN_KEY = _NaN()


def distinct_key(value: Any) -> Any:
    """``value`` as count_distinct tells values apart: hashable, every NaN the same."""
    if isinstance(value, float) and value != value:
        return _NAN_KEY
    return _hashable(value)
