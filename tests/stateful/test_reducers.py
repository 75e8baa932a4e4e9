"""Every reducer under update streams: insertions, updates, deletions (including of the current
extreme) and deletion followed by re-insertion; error values; user-defined reducers."""

from __future__ import annotations

import datetime

import numpy as np
import pytest

import reflow as pw
from reflow.debug.output import collect_updates
from tests.utils import T, rows

# One group ``g`` changing over time; labels identify rows, so a label repeated at a later time
# with __diff__ -1 deletes that row, and then +1 inserts it again (possibly with a new value).
STREAM = """
  | g | x | __time__ | __diff__
1 | a | 4 | 2        | 1
2 | a | 9 | 2        | 1
3 | a | 1 | 2        | 1
2 | a | 9 | 4        | -1
3 | a | 1 | 6        | -1
3 | a | 7 | 6        | 1
1 | a | 4 | 8        | -1
2 | a | 2 | 10       | 1
"""
# Live values of group ``a`` after each time, in row-label order.
LIVE = {2: [4, 9, 1], 4: [4, 1], 6: [4, 7], 8: [7], 10: [2, 7]}


def _per_time(table: pw.Table, column: str, times=(2, 4, 6, 8, 10)) -> dict[int, object]:
    """The value of ``column`` in the (single) row of ``table`` after each of ``times``."""
    state: dict = {}
    out: dict[int, object] = {}
    pending = sorted(
        collect_updates(table, terminate_on_error=False), key=lambda u: (u[0], u[3] > 0)
    )
    for time in times:
        while pending and pending[0][0] <= time:
            _, row_id, row, diff = pending.pop(0)
            if diff < 0:
                del state[row_id]
            else:
                state[row_id] = row[column]
        assert len(state) <= 1
        out[time] = next(iter(state.values())) if state else None
    return out


def _reduce(reducer, stream: str = STREAM) -> dict[int, object]:
    t = T(stream)
    return _per_time(t.groupby(t.g).reduce(v=reducer(t)), "v")


def _expect(fn) -> dict[int, object]:
    return {time: fn(values) for time, values in LIVE.items()}


@pytest.mark.parametrize(
    ("reducer", "expected"),
    [
        (lambda t: pw.reducers.count(), len),
        (lambda t: pw.reducers.count(t.x), len),
        (lambda t: pw.reducers.sum(t.x), sum),
        (lambda t: pw.reducers.avg(t.x), lambda v: sum(v) / len(v)),
        (lambda t: pw.reducers.min(t.x), min),
        (lambda t: pw.reducers.max(t.x), max),
        (lambda t: pw.reducers.sorted_tuple(t.x), lambda v: tuple(sorted(v))),
        (lambda t: pw.reducers.count_distinct(t.x), lambda v: len(set(v))),
        (lambda t: pw.reducers.count_distinct_approximate(t.x), lambda v: len(set(v))),
    ],
)
def test_order_insensitive_reducers_follow_the_stream(reducer, expected):
    assert _reduce(reducer) == _expect(expected)


def test_min_and_max_survive_deleting_the_current_extreme():
    # time 4 deletes the max (9), time 6 the min (1) and time 8 the row holding 4.
    assert _reduce(lambda t: pw.reducers.max(t.x)) == {2: 9, 4: 4, 6: 7, 8: 7, 10: 7}
    assert _reduce(lambda t: pw.reducers.min(t.x)) == {2: 1, 4: 1, 6: 4, 8: 7, 10: 2}


def test_argmin_argmax_return_row_ids_and_follow_deletions():
    t = T(STREAM)
    label = {pw.pointer_from(i): i for i in range(1, 4)}
    r = t.groupby(t.g).reduce(lo=pw.reducers.argmin(t.x), hi=pw.reducers.argmax(t.x))
    lo = {time: label[v] for time, v in _per_time(r, "lo").items()}
    hi = {time: label[v] for time, v in _per_time(r, "hi").items()}
    assert lo == {2: 3, 4: 3, 6: 1, 8: 3, 10: 2}
    assert hi == {2: 2, 4: 1, 6: 3, 8: 3, 10: 3}


def test_argmax_with_explicit_id_column_and_ties():
    t = T("""
    name | x
    p    | 5
    q    | 5
    r    | 1
    """)
    r = t.reduce(top=pw.reducers.argmax(t.x, t.name), bottom=pw.reducers.argmin(t.x, t.name))
    ((top, bottom),) = rows(r)
    assert top in ("p", "q") and bottom == "r"
    # Ties are broken by row id, the same way on every run.
    assert rows(r) == rows(
        t.reduce(top=pw.reducers.argmax(t.x, t.name), bottom=pw.reducers.argmin(t.x, t.name))
    )


def test_tuple_is_in_row_id_order_and_ndarray_matches_it():
    t = T(STREAM)
    r = t.groupby(t.g).reduce(tup=pw.reducers.tuple(t.x), arr=pw.reducers.ndarray(t.x))
    tuples = _per_time(r, "tup")
    arrays = _per_time(r, "arr")
    for time, values in LIVE.items():
        assert sorted(tuples[time]) == sorted(values)
        assert list(arrays[time]) == list(tuples[time])
        assert isinstance(arrays[time], np.ndarray)


def test_tuple_and_sorted_tuple_skip_nones():
    t = T("""
    g | x
    a | 3
    a | None
    a | 1
    """)
    r = t.groupby(t.g).reduce(
        all=pw.reducers.sorted_tuple(t.x),
        some=pw.reducers.sorted_tuple(t.x, skip_nones=True),
        raw=pw.reducers.tuple(t.x, skip_nones=True),
        lo=pw.reducers.min(t.x),
        hi=pw.reducers.max(t.x),
    )
    ((all_, some, raw, lo, hi),) = rows(r)
    assert all_ == (None, 1, 3) and some == (1, 3) and sorted(raw) == [1, 3]
    assert lo is None and hi == 3
    assert r.typehints()["some"] == tuple[int, ...]


def test_any_gives_a_value_of_the_group():
    t = T(STREAM)
    values = _per_time(t.groupby(t.g).reduce(v=pw.reducers.any(t.x)), "v")
    for time, live in LIVE.items():
        assert values[time] in live


def test_unique_gives_error_when_values_differ():
    t = T("""
      | g | x | __time__ | __diff__
    1 | a | 1 | 2        | 1
    2 | a | 1 | 2        | 1
    3 | a | 2 | 4        | 1
    3 | a | 2 | 6        | -1
    """)
    r = t.groupby(t.g).reduce(u=pw.reducers.unique(t.x))
    assert _per_time(r, "u", (2, 4, 6)) == {2: 1, 4: pw.ERROR, 6: 1}
    log = pw.global_error_log()
    messages = [row[0] for row in rows(log.select(pw.this.message), terminate_on_error=False)]
    assert any("more than one distinct value" in m for m in messages)


def test_earliest_and_latest_follow_arrival_time():
    earliest = _reduce(lambda t: pw.reducers.earliest(t.x))
    latest = _reduce(lambda t: pw.reducers.latest(t.x))
    # Arrivals: 4, 9, 1 at time 2; 7 (row 3 again) at 6; 2 (row 2 again) at 10.
    assert earliest == {2: earliest[2], 4: earliest[4], 6: 4, 8: 7, 10: 7}
    assert earliest[2] in (4, 9, 1) and earliest[4] in (4, 1)
    assert latest[6] == 7 and latest[8] == 7 and latest[10] == 2


def test_sum_of_floats_and_arrays():
    t = T("""
    g | x
    a | 1.5
    a | 2.25
    """)
    assert rows(t.reduce(s=pw.reducers.sum(t.x), m=pw.reducers.avg(t.x))) == [(3.75, 1.875)]
    arrays = pw.debug.table_from_rows(
        pw.schema_from_types(v=np.ndarray), [(np.array([1, 2]),), (np.array([10, 20]),)]
    )
    ((total,),) = rows(arrays.reduce(s=pw.reducers.sum(pw.this.v)))
    assert total.tolist() == [11, 22]


def test_reducers_on_strings_and_dates():
    t = pw.debug.table_from_rows(
        pw.schema_from_types(g=str, name=str, when=pw.DateTimeNaive),
        [
            ("a", "bob", datetime.datetime(2024, 1, 2)),
            ("a", "alice", datetime.datetime(2024, 3, 1)),
        ],
    )
    r = t.groupby(t.g).reduce(first=pw.reducers.min(t.name), last=pw.reducers.max(t.when))
    ((first, last),) = rows(r)
    assert first == "alice" and last.month == 3


def test_error_values_make_every_kind_of_reducer_an_error():
    t = T("""
      | g | a | b | __time__ | __diff__
    1 | x | 4 | 2 | 2        | 1
    2 | x | 1 | 0 | 4        | 1
    2 | x | 1 | 0 | 6        | -1
    """)
    q = t.select(pw.this.g, v=pw.this.a // pw.this.b)
    r = q.groupby(pw.this.g).reduce(
        s=pw.reducers.sum(pw.this.v),
        m=pw.reducers.max(pw.this.v),
        tup=pw.reducers.tuple(pw.this.v),
        n=pw.reducers.count(),
    )
    times = (2, 4, 6)
    assert _per_time(r, "s", times) == {2: 2, 4: pw.ERROR, 6: 2}
    assert _per_time(r, "m", times) == {2: 2, 4: pw.ERROR, 6: 2}
    assert _per_time(r, "tup", times) == {2: (2,), 4: pw.ERROR, 6: (2,)}
    assert _per_time(r, "n", times) == {2: 1, 4: 2, 6: 1}


# --- user-defined reducers ----------------------------------------------------------------------
def test_stateful_many_sees_each_batch_of_changes():
    calls = []

    @pw.reducers.stateful_many
    def weighted(state, changes):
        calls.append(len(changes))
        for args, diff in changes:
            state = (state or 0) + args[0] * diff
        return state

    assert _reduce(lambda t: weighted(t.x)) == _expect(sum)
    assert all(n > 0 for n in calls)


def test_stateful_single_counts_insertions_and_rejects_deletions():
    @pw.reducers.stateful_single
    def concat(state, x):
        return (state or "") + str(x)

    t = T("""
      | g | x | __time__ | __diff__
    1 | a | 1 | 2        | 1
    2 | a | 2 | 4        | 1
    """)
    assert _per_time(t.groupby(t.g).reduce(v=concat(t.x)), "v", (2, 4)) == {2: "1", 4: "12"}
    deleting = T("""
      | g | x | __time__ | __diff__
    1 | a | 1 | 2        | 1
    2 | a | 2 | 2        | 1
    2 | a | 2 | 4        | -1
    """)
    result = deleting.groupby(deleting.g).reduce(v=concat(deleting.x))
    assert _per_time(result, "v", (2, 4))[4] is pw.ERROR


class _Sum(pw.BaseCustomAccumulator):
    def __init__(self, total: int) -> None:
        self.total = total

    @classmethod
    def from_row(cls, row):
        return cls(row[0])

    def update(self, other):
        self.total += other.total

    def compute_result(self) -> int:
        return self.total


class _RetractingSum(_Sum):
    retracted = 0

    @classmethod
    def neutral(cls):
        return cls(0)

    def retract(self, other):
        type(self).retracted += 1
        self.total -= other.total


def test_udf_reducer_without_retract_recomputes_from_rows():
    summed = pw.reducers.udf_reducer(_Sum)
    assert _reduce(lambda t: summed(t.x)) == _expect(sum)
    t = T(STREAM)
    assert t.reduce(v=summed(t.x)).typehints()["v"] is int


def test_udf_reducer_with_retract_uses_it():
    summed = pw.reducers.udf_reducer(_RetractingSum)
    _RetractingSum.retracted = 0
    assert _reduce(lambda t: summed(t.x)) == _expect(sum)
    assert _RetractingSum.retracted == 3


def test_udf_reducer_exception_is_an_error_value():
    class Failing(_Sum):
        def compute_result(self) -> int:
            if self.total > 10:
                raise ValueError("too big")
            return self.total

    failing = pw.reducers.udf_reducer(Failing)
    values = _reduce(lambda t: failing(t.x))
    assert values[2] is pw.ERROR and values[4] == 5 and values[10] == 9


@pytest.mark.parametrize("bulk_min_rows", [1, 10**9])
def test_sum_of_durations(monkeypatch, bulk_min_rows):
    from reflow.engine.operators import reduce as reduce_engine

    monkeypatch.setattr(reduce_engine, "BULK_MIN_ROWS", bulk_min_rows)
    day = datetime.timedelta(days=1)
    t = pw.debug.table_from_rows(
        pw.schema_from_types(g=str, d=pw.Duration),
        [("a", day, 2, 1), ("a", 2 * day, 2, 1), ("a", day, 4, -1)],
        is_stream=True,
    )
    r = t.groupby(t.g).reduce(total=pw.reducers.sum(t.d))
    assert _per_time(r, "total", (2, 4)) == {2: 3 * day, 4: 2 * day}


def test_row_inserted_and_deleted_in_one_time_never_wins():
    t = T("""
      | g | x  | __time__ | __diff__
    1 | a | 5  | 2        | 1
    2 | a | 99 | 4        | 1
    2 | a | 99 | 4        | -1
    3 | a | -9 | 4        | 1
    3 | a | -9 | 4        | -1
    """)
    r = t.groupby(t.g).reduce(
        hi=pw.reducers.max(t.x),
        lo=pw.reducers.min(t.x),
        top=pw.reducers.argmax(t.x),
        late=pw.reducers.latest(t.x),
        n=pw.reducers.count(),
    )
    assert rows(r) == [(5, 5, pw.pointer_from(1), 5, 1)]


def test_global_max_follows_deletions_of_the_maximum():
    values = list(range(50))
    stream = [(v, 2, 1) for v in values]
    time = 4
    for v in sorted(values, reverse=True)[:10]:  # delete the current maximum, ten times
        stream.append((v, time, -1))
        time += 2
    t = pw.debug.table_from_rows(pw.schema_from_types(x=int), stream, is_stream=True)
    r = t.reduce(hi=pw.reducers.max(t.x), n=pw.reducers.count())
    assert _per_time(r, "hi", tuple(range(2, time, 2))) == {
        2: 49,
        **{4 + 2 * i: 48 - i for i in range(10)},
    }
