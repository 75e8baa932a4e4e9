"""Reduces made only of count/sum/avg (kept as running sums per group, for every batch size),
compared against a from-scratch computation; and the per-row path with several changes of one
row within a time and with non-finite floats."""

from __future__ import annotations

import math
import random

import pytest

import reflow as pw
from reflow.debug.output import collect_updates
from reflow.engine.operators import reduce as reduce_engine
from reflow.engine.state import invertible
from tests.utils import T, updates


def _snapshots(table: pw.Table) -> dict[int, dict]:
    """The rows of ``table`` by id after every logical time at which it changed; checks that
    every retraction retracts the row emitted before."""
    state: dict = {}
    out: dict[int, dict] = {}
    names = table.column_names()
    stream = sorted(
        collect_updates(table, terminate_on_error=False), key=lambda u: (u[0], u[3] > 0)
    )
    for i, (time, row_id, row, diff) in enumerate(stream):
        values = tuple(row[n] for n in names)
        if diff < 0:
            assert _same(state.pop(row_id), values), "retracted a wrong row"
        else:
            assert row_id not in state, f"row {row_id} inserted twice"
            state[row_id] = values
        if i + 1 == len(stream) or stream[i + 1][0] != time:
            out[time] = dict(state)
    return out


def _same(a: tuple, b: tuple) -> bool:
    return len(a) == len(b) and all(
        (isinstance(x, float) and isinstance(y, float) and math.isnan(x) and math.isnan(y))
        or x == y
        for x, y in zip(a, b, strict=True)
    )


def _state_at(snapshots: dict[int, dict], time: int) -> dict:
    state = max((s for s in snapshots if s <= time), default=None)
    return snapshots[state] if state is not None else {}


def _mixed_stream(rng: random.Random, keys: int, floats: bool):
    """Rows ``(k, x, time, diff)`` in batches of very different sizes: tiny (1-3 rows), mid
    (tens to hundreds) and large (thousands), with inserts, updates (a retraction and an
    insertion), deletions, re-insertions of deleted rows and groups emptied then refilled."""
    live: list[tuple] = []
    dead: list[tuple] = []
    out = []

    def value():
        if floats:
            return rng.choice([0.5, -1.25, 3.0, rng.uniform(-100, 100)])
        return rng.randrange(-20, 20)

    time = 0
    for size in [2000, 1, 2, 3, 150, 1, 40, 1, 700, 2, 1, 3000, 60, 1, 2, 400, 1, 1, 90]:
        time += 2
        for _ in range(size):
            choice = rng.random()
            if live and choice < 0.3:
                row = live.pop(rng.randrange(len(live)))
                dead.append(row)
                out.append((*row, time, -1))
            elif live and choice < 0.55:
                row = live.pop(rng.randrange(len(live)))
                out.append((*row, time, -1))
                new = (row[0], value())
                live.append(new)
                out.append((*new, time, 1))
            elif dead and choice < 0.65:
                row = dead.pop(rng.randrange(len(dead)))
                live.append(row)
                out.append((*row, time, 1))
            else:
                row = (rng.randrange(keys), value())
                live.append(row)
                out.append((*row, time, 1))
        if time == 24:  # empty one group completely
            for row in [r for r in live if r[0] == 0]:
                live.remove(row)
                out.append((*row, time, -1))
    return out


def _expected(stream, until: int) -> dict:
    groups: dict[int, list] = {}
    for k, x, time, diff in stream:
        if time > until:
            break
        if diff > 0:
            groups.setdefault(k, []).append(x)
        else:
            groups[k].remove(x)
    result = {}
    for k, xs in groups.items():
        if not xs:
            continue
        result[pw.pointer_from(k)] = (k, len(xs), sum(xs), sum(xs) / len(xs), len(set(xs)))
    return result


# How a batch is processed: (TINY_ROWS, SMALL_ROWS, FEW_ROWS, FEW_GROUPS) of
# reflow.engine.state.invertible ("few": every batch without count_distinct in plain Python).
PATHS = {
    "polars": (0, 0, 0, 0),
    "numpy": (0, 10**9, 0, 0),
    "default": (invertible.TINY_ROWS, invertible.SMALL_ROWS, invertible.FEW_ROWS,
                invertible.FEW_GROUPS),
    "python": (10**9, 10**9, 0, 0),
    "few": (0, 0, 10**9, 10**9),
}
ALL_PATHS = ["polars", "numpy", "python", "few"]


def use_path(monkeypatch, path: str) -> None:
    tiny, small, few_rows, few_groups = PATHS[path]
    monkeypatch.setattr(invertible, "TINY_ROWS", tiny)
    monkeypatch.setattr(invertible, "SMALL_ROWS", small)
    monkeypatch.setattr(invertible, "FEW_ROWS", few_rows)
    monkeypatch.setattr(invertible, "FEW_GROUPS", few_groups)


@pytest.mark.parametrize(
    ("path", "distinct"),
    # count_distinct takes a batch off the numpy path, so "numpy" runs without it.
    [("polars", True), ("python", True), ("default", True), ("numpy", False), ("polars", False),
     ("few", False), ("default", False)],
)
@pytest.mark.parametrize("floats", [False, True], ids=["int", "float"])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_invertible_reducers_match_from_scratch_after_every_time(
    monkeypatch, path, distinct, floats, seed
):
    use_path(monkeypatch, path)
    rng = random.Random(seed)
    stream = _mixed_stream(rng, keys=30, floats=floats)
    x_type = float if floats else int
    t = pw.debug.table_from_rows(pw.schema_from_types(k=int, x=x_type), stream, is_stream=True)
    reducers = {"n": pw.reducers.count(), "s": pw.reducers.sum(t.x), "mean": pw.reducers.avg(t.x)}
    if distinct:
        reducers["cd"] = pw.reducers.count_distinct(t.x)
    r = t.groupby(t.k).reduce(t.k, **reducers)
    snapshots = _snapshots(r)
    for time in sorted({row[2] for row in stream}):
        got = _state_at(snapshots, time)
        expected = _expected(stream, time)
        assert got.keys() == expected.keys(), f"groups differ at time {time}"
        for gid, row in expected.items():
            want = row if distinct else row[:-1]
            assert got[gid] == pytest.approx(want, rel=1e-9, abs=1e-9), f"time {time}"


@pytest.mark.parametrize("path", ALL_PATHS)
def test_update_stream_insert_update_delete_reinsert(monkeypatch, path):
    use_path(monkeypatch, path)
    t = T("""
      | k | x | __time__ | __diff__
    1 | a | 1 | 2        | 1
    2 | a | 5 | 2        | 1
    3 | b | 7 | 2        | 1
    2 | a | 5 | 4        | -1
    2 | a | 6 | 4        | 1
    3 | b | 7 | 6        | -1
    3 | b | 7 | 8        | 1
    4 | c | 2 | 8        | 1
    4 | c | 2 | 10       | -1
    1 | a | 1 | 10       | -1
    """)
    r = t.groupby(t.k).reduce(
        t.k, n=pw.reducers.count(), s=pw.reducers.sum(t.x), m=pw.reducers.avg(t.x)
    )
    assert updates(r) == sorted(
        [
            ("a", 2, 6, 3.0, 2, 1),
            ("b", 1, 7, 7.0, 2, 1),
            ("a", 2, 6, 3.0, 4, -1),
            ("a", 2, 7, 3.5, 4, 1),
            ("b", 1, 7, 7.0, 6, -1),
            ("b", 1, 7, 7.0, 8, 1),
            ("c", 1, 2, 2.0, 8, 1),
            ("c", 1, 2, 2.0, 10, -1),
            ("a", 2, 7, 3.5, 10, -1),
            ("a", 1, 6, 6.0, 10, 1),
        ],
        key=repr,
    )


@pytest.mark.parametrize("path", ALL_PATHS)
def test_update_that_leaves_the_result_unchanged_emits_nothing(monkeypatch, path):
    use_path(monkeypatch, path)
    t = T("""
      | k | x | __time__ | __diff__
    1 | a | 1 | 2        | 1
    2 | a | 5 | 2        | 1
    1 | a | 1 | 4        | -1
    1 | a | 5 | 4        | 1
    2 | a | 5 | 4        | -1
    2 | a | 1 | 4        | 1
    """)
    r = t.groupby(t.k).reduce(t.k, n=pw.reducers.count(), s=pw.reducers.sum(t.x))
    assert updates(r) == [("a", 2, 6, 2, 1)]


@pytest.mark.parametrize("path", ALL_PATHS)
def test_group_by_id_global_and_several_keys(monkeypatch, path):
    use_path(monkeypatch, path)
    t = T("""
      | a | b   | x   | __time__ | __diff__
    1 | 1 | 0.5 | 10  | 2        | 1
    2 | 1 | 0.5 | 20  | 2        | 1
    3 | 2 | 2.5 | 30  | 2        | 1
    4 | 1 | 1.5 | 40  | 2        | 1
    2 | 1 | 0.5 | 20  | 4        | -1
    3 | 2 | 2.5 | 30  | 4        | -1
    3 | 2 | 2.5 | 31  | 4        | 1
    """)
    # float keys are hashed, not looked up by value
    by_two = t.groupby(t.a, t.b).reduce(t.a, t.b, s=pw.reducers.sum(t.x))
    assert updates(by_two) == sorted(
        [
            (1, 0.5, 30, 2, 1),
            (2, 2.5, 30, 2, 1),
            (1, 1.5, 40, 2, 1),
            (1, 0.5, 30, 4, -1),
            (1, 0.5, 10, 4, 1),
            (2, 2.5, 30, 4, -1),
            (2, 2.5, 31, 4, 1),
        ],
        key=repr,
    )
    total = t.reduce(n=pw.reducers.count(), s=pw.reducers.sum(t.x))
    assert updates(total) == sorted([(4, 100, 2, 1), (4, 100, 4, -1), (3, 81, 4, 1)], key=repr)
    a, b = pw.Pointer(5), pw.Pointer(5 + 2**64)
    stream = [(a, 1, 2, 1), (b, 10, 2, 1), (a, 2, 2, 1), (a, 1, 4, -1), (b, 30, 4, 1)]
    keyed = pw.debug.table_from_rows(
        pw.schema_from_types(g=pw.Pointer, x=int), stream, is_stream=True
    )
    by_id = keyed.groupby(id=keyed.g).reduce(n=pw.reducers.count(), s=pw.reducers.sum(keyed.x))
    snapshots = _snapshots(by_id)
    assert snapshots[2] == {a: (2, 3), b: (1, 10)}
    assert snapshots[4] == {a: (1, 2), b: (2, 40)}


@pytest.mark.parametrize("path", ALL_PATHS)
def test_error_values_make_the_result_an_error_until_removed(monkeypatch, path):
    use_path(monkeypatch, path)
    t = T("""
      | k | a | b | __time__ | __diff__
    1 | x | 6 | 2 | 2        | 1
    2 | x | 1 | 0 | 2        | 1
    3 | y | 4 | 2 | 2        | 1
    4 | z | 4 | 0 | 2        | 1
    2 | x | 1 | 0 | 4        | -1
    4 | z | 4 | 0 | 6        | -1
    """)
    q = t.select(pw.this.k, v=pw.this.a // pw.this.b)
    r = q.groupby(pw.this.k).reduce(
        pw.this.k,
        s=pw.reducers.sum(pw.this.v),
        m=pw.reducers.avg(pw.this.v),
        n=pw.reducers.count(),
        cd=pw.reducers.count_distinct(pw.this.v),
    )
    snapshots = _snapshots(r)
    error = (pw.ERROR, pw.ERROR)
    assert sorted(snapshots[2].values(), key=repr) == [
        ("x", *error, 2, pw.ERROR),
        ("y", 2, 2.0, 1, 1),
        ("z", *error, 1, pw.ERROR),
    ]
    assert sorted(snapshots[4].values(), key=repr) == [
        ("x", 3, 3.0, 1, 1),
        ("y", 2, 2.0, 1, 1),
        ("z", *error, 1, pw.ERROR),
    ]
    assert sorted(snapshots[6].values(), key=repr) == [("x", 3, 3.0, 1, 1), ("y", 2, 2.0, 1, 1)]


@pytest.mark.parametrize("extra", [False, True], ids=["running-sums", "per-row"])
@pytest.mark.parametrize("bulk_min_rows", [1, 10**9], ids=["bulk", "small"])
def test_float_sums_recover_after_retracting_non_finite_values(monkeypatch, extra, bulk_min_rows):
    monkeypatch.setattr(reduce_engine, "BULK_MIN_ROWS", bulk_min_rows)
    t = T("""
      | k | x    | __time__ | __diff__
    1 | a | inf  | 2        | 1
    2 | a | -inf | 2        | 1
    3 | a | 1.5  | 2        | 1
    4 | b | nan  | 2        | 1
    5 | b | 2.5  | 2        | 1
    6 | c | inf  | 2        | 1
    7 | c | 1.0  | 2        | 1
    1 | a | inf  | 4        | -1
    4 | b | nan  | 4        | -1
    2 | a | -inf | 6        | -1
    6 | c | inf  | 6        | -1
    """)
    reducers = {"s": pw.reducers.sum(t.x), "m": pw.reducers.avg(t.x)}
    if extra:
        reducers["hi"] = pw.reducers.max(t.k)  # not invertible: the per-row path
    r = t.groupby(t.k).reduce(t.k, **reducers)
    snapshots = _snapshots(r)

    def values(time):
        return {row[0]: row[1:3] for row in snapshots[time].values()}

    at2 = values(2)
    assert math.isnan(at2["a"][0]) and math.isnan(at2["a"][1])
    assert math.isnan(at2["b"][0]) and math.isnan(at2["b"][1])
    assert at2["c"] == (math.inf, math.inf)
    assert values(4) == {"a": (-math.inf, -math.inf), "b": (2.5, 2.5), "c": (math.inf, math.inf)}
    assert values(6) == {"a": (1.5, 1.5), "b": (2.5, 2.5), "c": (1.0, 1.0)}


@pytest.mark.parametrize("bulk_min_rows", [1, 10**9], ids=["bulk", "small"])
def test_per_row_path_with_several_changes_of_one_row_within_a_time(monkeypatch, bulk_min_rows):
    # The row with id 1 is updated 3 -> 9 -> 3 within time 2, and row 2 is inserted, deleted
    # and inserted again with another value.
    monkeypatch.setattr(reduce_engine, "BULK_MIN_ROWS", bulk_min_rows)
    t = T("""
      | k | x | __time__ | __diff__
    1 | a | 3 | 2        | 1
    1 | a | 3 | 2        | -1
    1 | a | 9 | 2        | 1
    1 | a | 9 | 2        | -1
    1 | a | 3 | 2        | 1
    2 | a | 5 | 2        | 1
    2 | a | 5 | 2        | -1
    2 | a | 4 | 2        | 1
    1 | a | 3 | 4        | -1
    1 | a | 7 | 4        | 1
    1 | a | 7 | 4        | -1
    1 | a | 6 | 4        | 1
    """)
    r = t.groupby(t.k).reduce(
        t.k,
        n=pw.reducers.count(),
        s=pw.reducers.sum(t.x),
        hi=pw.reducers.max(t.x),
        lo=pw.reducers.min(t.x),
    )
    snapshots = _snapshots(r)
    assert list(snapshots[2].values()) == [("a", 2, 7, 4, 3)]
    assert list(snapshots[4].values()) == [("a", 2, 10, 6, 4)]


@pytest.mark.parametrize("path", ALL_PATHS)
def test_count_distinct_of_several_columns_with_nan_and_none(monkeypatch, path):
    use_path(monkeypatch, path)
    t = T("""
      | k | a   | b | __time__ | __diff__
    1 | x | nan | 1 | 2        | 1
    2 | x | nan | 1 | 2        | 1
    3 | x | 0.5 | 1 | 2        | 1
    4 | x | 0.5 | 2 | 2        | 1
    5 | y | 1.5 |   | 2        | 1
    6 | y | 1.5 |   | 2        | 1
    1 | x | nan | 1 | 4        | -1
    3 | x | 0.5 | 1 | 4        | -1
    6 | y | 1.5 |   | 4        | -1
    2 | x | nan | 1 | 6        | -1
    """)
    r = t.groupby(t.k).reduce(
        t.k, one=pw.reducers.count_distinct(t.a), two=pw.reducers.count_distinct(t.a, t.b)
    )
    snapshots = _snapshots(r)

    def values(time):
        return sorted(snapshots[time].values())

    assert values(2) == [("x", 2, 3), ("y", 1, 1)]
    assert values(4) == [("x", 2, 2), ("y", 1, 1)]
    assert values(6) == [("x", 1, 1), ("y", 1, 1)]


@pytest.mark.parametrize("path", ALL_PATHS)
@pytest.mark.parametrize("seed", [1, 2])
def test_reduce_without_reducers_keeps_the_distinct_keys(monkeypatch, path, seed):
    """``groupby(k).reduce(k)`` keeps only a row count per group: a key appears with its
    first row and goes with its last, over tiny and large batches with retractions."""
    use_path(monkeypatch, path)
    stream = _mixed_stream(random.Random(seed), keys=30, floats=False)
    t = pw.debug.table_from_rows(pw.schema_from_types(k=int, x=int), stream, is_stream=True)
    distinct = t.groupby(t.k).reduce(t.k)
    assert invertible.supports([], [])  # so the reduce below keeps running sums
    snapshots = _snapshots(distinct)
    for time in sorted({row[2] for row in stream}):
        expected = {gid: (row[0],) for gid, row in _expected(stream, time).items()}
        assert _state_at(snapshots, time) == expected, f"time {time}"
    both = t.groupby(t.k, t.x).reduce(t.k, t.x)
    final = {(k, x) for k, x in _state_at(_snapshots(both), 10**9).values()}
    assert final == {(k, x) for k, xs in _live(stream).items() for x in xs}


def _live(stream) -> dict[int, list]:
    groups: dict[int, list] = {}
    for k, x, _, diff in stream:
        if diff > 0:
            groups.setdefault(k, []).append(x)
        else:
            groups[k].remove(x)
    return {k: xs for k, xs in groups.items() if xs}


@pytest.mark.parametrize("path", ALL_PATHS)
def test_many_new_groups_reuse_freed_slots_and_grow_the_arrays(monkeypatch, path):
    # More groups in one batch than the initial capacity (1,024); then groups emptied (their
    # slots freed) and a batch mixing existing groups, more new groups than freed slots and
    # groups refilled; ties: several rows per group in one batch.
    use_path(monkeypatch, path)
    stream = [(k, k % 7, 2, 1) for k in range(3000)] + [(k, 1, 2, 1) for k in range(0, 3000, 3)]
    stream += [(k, k % 7, 4, -1) for k in range(1000, 2500)]
    stream += [(k, 1, 4, -1) for k in range(1002, 2500, 3)]
    stream += [(k, 2, 6, 1) for k in range(2000, 5000)] + [(k, 5, 6, 1) for k in range(0, 600)]
    stream += [(k, 0, 8, -1) for k in range(0, 3000, 7) if not 1000 <= k < 2500]
    t = pw.debug.table_from_rows(pw.schema_from_types(k=int, x=int), stream, is_stream=True)
    r = t.groupby(t.k).reduce(
        t.k, n=pw.reducers.count(), s=pw.reducers.sum(t.x), mean=pw.reducers.avg(t.x)
    )
    snapshots = _snapshots(r)
    for time in (2, 4, 6, 8):
        expected = {gid: row[:-1] for gid, row in _expected(stream, time).items()}
        assert _state_at(snapshots, time) == expected, f"time {time}"
