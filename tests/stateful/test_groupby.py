"""groupby/reduce: keys, ids, expressions over reducers, update streams, errors, and agreement
with a from-scratch computation on both the per-row and the vectorized (large batch) paths."""

from __future__ import annotations

import random

import pytest

import reflow as pw
from reflow.debug.output import collect_updates
from reflow.engine.operators import reduce as reduce_engine
from tests.utils import T, rows, rows_by_id, updates


def _snapshots(table: pw.Table) -> dict[int, dict]:
    """The rows of ``table`` by id after every logical time at which it changed."""
    state: dict = {}
    out: dict[int, dict] = {}
    names = table.column_names()
    stream = sorted(
        collect_updates(table, terminate_on_error=False), key=lambda u: (u[0], u[3] > 0)
    )
    for i, (time, row_id, row, diff) in enumerate(stream):
        if diff < 0:
            assert state.pop(row_id) == tuple(row[n] for n in names), "retracted a wrong row"
        else:
            assert row_id not in state, f"row {row_id} inserted twice"
            state[row_id] = tuple(row[n] for n in names)
        if i + 1 == len(stream) or stream[i + 1][0] != time:
            out[time] = dict(state)
    return out


def test_group_columns_through_this_and_table():
    t = T("""
    k | k2 | x
    a | 1  | 10
    a | 1  | 20
    a | 2  | 5
    b | 1  | 7
    """)
    r = t.groupby(pw.this.k, t.k2).reduce(t.k, pw.this.k2, total=pw.reducers.sum(pw.this.x))
    assert r.column_names() == ["k", "k2", "total"]
    assert rows(r) == [("a", 1, 30), ("a", 2, 5), ("b", 1, 7)]


def test_group_ids_are_pointers_from_key():
    t = T("""
    k | x
    a | 1
    b | 2
    """)
    r = t.groupby(t.k).reduce(t.k, s=pw.reducers.sum(t.x))
    assert rows_by_id(r) == {pw.pointer_from("a"): ("a", 1), pw.pointer_from("b"): ("b", 2)}


def test_expressions_over_reducers_and_keys():
    t = T("""
    k | x
    1 | 2
    1 | 4
    2 | 9
    """)
    r = t.groupby(t.k).reduce(
        key_plus=pw.this.k + 100,
        mean=pw.reducers.sum(pw.this.x) / pw.reducers.count(),
        spread=pw.reducers.max(t.x) - pw.reducers.min(t.x),
        label=pw.if_else(pw.reducers.count() > 1, "many", "one"),
    )
    assert r.column_names() == ["key_plus", "mean", "spread", "label"]
    assert rows(r) == [(101, 3.0, 2, "many"), (102, 9.0, 0, "one")]


def test_reduce_output_order_and_renaming():
    t = T("""
    k | x
    a | 1
    """)
    r = t.groupby(t.k).reduce(n=pw.reducers.count(), key=pw.this.k)
    assert r.column_names() == ["n", "key"]
    assert rows(r) == [(1, "a")]


def test_update_stream_insert_update_delete_reinsert():
    t = T("""
      | k | x | __time__ | __diff__
    1 | a | 1 | 2        | 1
    2 | a | 5 | 2        | 1
    3 | b | 7 | 2        | 1
    2 | a | 5 | 4        | -1
    2 | a | 6 | 4        | 1
    3 | b | 7 | 6        | -1
    3 | b | 8 | 8        | 1
    """)
    r = t.groupby(t.k).reduce(t.k, s=pw.reducers.sum(t.x), n=pw.reducers.count())
    assert updates(r) == sorted(
        [
            ("a", 6, 2, 2, 1),
            ("b", 7, 1, 2, 1),
            ("a", 6, 2, 4, -1),
            ("a", 7, 2, 4, 1),
            ("b", 7, 1, 6, -1),
            ("b", 8, 1, 8, 1),
        ],
        key=repr,
    )


def test_group_disappears_when_last_row_is_deleted():
    t = T("""
      | k | x | __time__ | __diff__
    1 | a | 1 | 2        | 1
    2 | b | 2 | 2        | 1
    2 | b | 2 | 4        | -1
    """)
    r = t.groupby(t.k).reduce(t.k, n=pw.reducers.count())
    assert rows(r) == [("a", 1)]
    assert ("b", 1, 4, -1) in updates(r)


def test_unchanged_result_emits_nothing():
    t = T("""
      | k | x | __time__ | __diff__
    1 | a | 1 | 2        | 1
    2 | a | 9 | 2        | 1
    1 | a | 1 | 4        | -1
    1 | a | 2 | 4        | 1
    """)
    r = t.groupby(t.k).reduce(t.k, top=pw.reducers.max(t.x))
    assert updates(r) == [("a", 9, 2, 1)]


def test_global_reduce_empty_and_non_empty():
    empty = T("""
    x
    1
    """).filter(pw.this.x > 5)
    assert rows(empty.reduce(n=pw.reducers.count(), s=pw.reducers.sum(pw.this.x))) == []
    t = T("""
    x
    1
    4
    """)
    r = t.reduce(n=pw.reducers.count(), s=pw.reducers.sum(pw.this.x))
    assert rows_by_id(r) == {pw.pointer_from(): (2, 5)}


@pytest.mark.parametrize("bulk_min_rows", [1, 10**9])
def test_global_reduce_row_appears_and_disappears(monkeypatch, bulk_min_rows):
    monkeypatch.setattr(reduce_engine, "BULK_MIN_ROWS", bulk_min_rows)
    t = T("""
      | x | __time__ | __diff__
    1 | 3 | 2        | 1
    1 | 3 | 4        | -1
    2 | 5 | 6        | 1
    """)
    r = t.reduce(s=pw.reducers.sum(pw.this.x))
    assert updates(r) == sorted([(3, 2, 1), (3, 4, -1), (5, 6, 1)], key=repr)


@pytest.mark.parametrize("bulk_min_rows", [1, 10**9])
def test_groupby_id_uses_the_pointer_as_group_id(monkeypatch, bulk_min_rows):
    monkeypatch.setattr(reduce_engine, "BULK_MIN_ROWS", bulk_min_rows)
    t = T("""
    k | x
    a | 1
    a | 2
    b | 3
    """)
    p = t.select(x=pw.this.x, ptr=t.pointer_from(pw.this.k))
    r = p.groupby(id=p.ptr).reduce(n=pw.reducers.count())
    assert rows_by_id(r) == {pw.pointer_from("a"): (2,), pw.pointer_from("b"): (1,)}
    r2 = p.groupby(p.ptr, id=p.ptr).reduce(p.ptr, n=pw.reducers.count())
    assert rows_by_id(r2)[pw.pointer_from("a")] == (pw.pointer_from("a"), 2)


def test_groupby_row_id_and_instance():
    t = T("""
      | k | i | x
    1 | a | 1 | 1
    2 | a | 1 | 2
    3 | a | 2 | 3
    """)
    by_id = t.groupby(t.id).reduce(s=pw.reducers.sum(t.x))
    assert rows(by_id) == [(1,), (2,), (3,)]
    r = t.groupby(t.k, instance=t.i).reduce(t.k, t.i, s=pw.reducers.sum(t.x))
    assert rows_by_id(r) == {
        pw.pointer_from("a", 1): ("a", 1, 3),
        pw.pointer_from("a", 2): ("a", 2, 3),
    }


def test_sort_by_orders_tuple():
    t = T("""
    k | x | order
    a | 1 | 3
    a | 2 | 1
    a | 3 | 2
    """)
    r = t.groupby(t.k, sort_by=t.order).reduce(xs=pw.reducers.tuple(t.x))
    assert rows(r) == [((2, 3, 1),)]


def test_groupby_of_a_filtered_and_selected_table():
    t = T("""
    k | x
    a | 1
    a | 10
    b | 3
    """)
    big = t.filter(pw.this.x > 2).select(pw.this.k, y=pw.this.x * 2)
    r = big.groupby(pw.this.k).reduce(pw.this.k, s=pw.reducers.sum(pw.this.y))
    assert rows(r) == [("a", 20), ("b", 6)]


def test_chained_groupby():
    t = T("""
    k | x
    a | 1
    a | 2
    b | 3
    """)
    per_key = t.groupby(t.k).reduce(t.k, n=pw.reducers.count())
    per_count = per_key.groupby(pw.this.n).reduce(pw.this.n, keys=pw.reducers.count())
    assert rows(per_count) == [(1, 1), (2, 1)]


# --- errors -------------------------------------------------------------------------------------
def test_error_value_in_input_gives_error_in_aggregate_until_removed():
    t = T("""
      | k | a | b | __time__ | __diff__
    1 | x | 6 | 2 | 2        | 1
    2 | x | 1 | 0 | 2        | 1
    3 | y | 4 | 2 | 2        | 1
    2 | x | 1 | 0 | 4        | -1
    """)
    q = t.select(pw.this.k, v=pw.this.a // pw.this.b)
    r = q.groupby(pw.this.k).reduce(pw.this.k, s=pw.reducers.sum(pw.this.v), n=pw.reducers.count())
    snapshots = _snapshots(r)
    assert sorted(snapshots[2].values(), key=repr) == [("x", pw.ERROR, 2), ("y", 2, 1)]
    assert sorted(snapshots[4].values(), key=repr) == [("x", 3, 1), ("y", 2, 1)]


def test_rows_with_error_in_key_are_left_out():
    t = T("""
    a | b
    1 | 0
    4 | 2
    """)
    q = t.select(key=pw.this.a // pw.this.b, x=pw.this.a)
    r = q.groupby(pw.this.key).reduce(pw.this.key, n=pw.reducers.count())
    assert rows(r, terminate_on_error=False) == [(2, 1)]


def test_build_error_unknown_column():
    t = T("""
    k | x
    a | 1
    """)
    with pytest.raises(pw.BuildError, match="no column 'nope'"):
        t.groupby(pw.this.nope)
    with pytest.raises(pw.BuildError, match="no column 'nope'"):
        t.groupby(t.k).reduce(s=pw.reducers.sum(pw.this.nope))


def test_build_error_non_grouping_column_outside_reducer():
    t = T("""
    k | x
    a | 1
    """)
    with pytest.raises(pw.BuildError, match=r"'x' is used in reduce.*neither a grouping column"):
        t.groupby(t.k).reduce(t.x)
    with pytest.raises(pw.BuildError, match=r"'x'.*pw\.reducers\.any"):
        t.groupby(t.k).reduce(y=pw.this.x + 1)
    with pytest.raises(pw.BuildError, match="neither a grouping column"):
        t.reduce(pw.this.k)


def test_build_error_misused_reducers():
    t = T("""
    k | x
    a | 1
    """)
    with pytest.raises(pw.BuildError, match="cannot be nested"):
        t.reduce(s=pw.reducers.sum(pw.reducers.count()))
    with pytest.raises(pw.BuildError, match="only be used inside reduce"):
        t.select(s=pw.reducers.sum(pw.this.x))
    with pytest.raises(pw.BuildError, match="does not support"):
        t.reduce(s=pw.reducers.sum(pw.this.k))
    with pytest.raises(pw.BuildError, match="column references"):
        t.groupby(pw.this.x + 1)
    with pytest.raises(pw.BuildError, match="Pointer"):
        t.groupby(id=t.x)


# --- agreement with a from-scratch computation ----------------------------------------------------
def _random_stream(rng: random.Random, steps: int, first_batch: int, keys: int):
    """Rows ``(k, x, time, diff)``: a large first batch, then small changes (updates as a
    retraction plus an insertion, deletions, re-insertions), and a large batch again."""
    live: list[tuple[int, int]] = []
    out = []

    def insert(time):
        row = (rng.randrange(keys), rng.randrange(-50, 50))
        live.append(row)
        out.append((*row, time, 1))

    def delete(time):
        row = live.pop(rng.randrange(len(live)))
        out.append((*row, time, -1))

    for _ in range(first_batch):
        insert(2)
    time = 2
    for step in range(steps):
        time += 2
        size = first_batch // 2 if step == steps // 2 else rng.randint(1, 4)
        for _ in range(size):
            choice = rng.random()
            if live and choice < 0.4:
                delete(time)
            elif live and choice < 0.7:
                delete(time)
                insert(time)
            else:
                insert(time)
    return out


def _expected(stream, until: int) -> dict:
    groups: dict[int, list[int]] = {}
    for k, x, time, diff in stream:
        if time > until:
            break
        if diff > 0:
            groups.setdefault(k, []).append(x)
        else:
            groups[k].remove(x)
    return {
        pw.pointer_from(k): (k, sum(xs), len(xs), max(xs), min(xs), sum(xs) / len(xs))
        for k, xs in groups.items()
        if xs
    }


@pytest.mark.parametrize(
    ("bulk_min_rows", "state_ratio"),
    [(1, 4), (10**9, 4), (64, 4), (1, 10**9)],
    ids=["mixed", "per-row", "mixed-large", "vectorized"],
)
@pytest.mark.parametrize("seed", [1, 2])
def test_matches_from_scratch_after_every_time(monkeypatch, bulk_min_rows, state_ratio, seed):
    monkeypatch.setattr(reduce_engine, "BULK_MIN_ROWS", bulk_min_rows)
    monkeypatch.setattr(reduce_engine, "BULK_STATE_RATIO", state_ratio)
    rng = random.Random(seed)
    stream = _random_stream(rng, steps=24, first_batch=300, keys=40)
    t = pw.debug.table_from_rows(pw.schema_from_types(k=int, x=int), stream, is_stream=True)
    r = t.groupby(t.k).reduce(
        t.k,
        s=pw.reducers.sum(t.x),
        n=pw.reducers.count(),
        hi=pw.reducers.max(t.x),
        lo=pw.reducers.min(t.x),
        mean=pw.reducers.avg(t.x),
    )
    snapshots = _snapshots(r)
    times = sorted({time for _, _, time, _ in stream})
    for time in times:
        state = max((s for s in snapshots if s <= time), default=None)
        got = snapshots[state] if state is not None else {}
        assert got == _expected(stream, time), f"differs at time {time}"


def test_bulk_path_order_sensitive_reducers_agree_with_row_path(monkeypatch):
    rng = random.Random(7)
    stream = _random_stream(rng, steps=10, first_batch=200, keys=15)

    def run(threshold, ratio=4):
        monkeypatch.setattr(reduce_engine, "BULK_MIN_ROWS", threshold)
        monkeypatch.setattr(reduce_engine, "BULK_STATE_RATIO", ratio)
        t = pw.debug.table_from_rows(pw.schema_from_types(k=int, x=int), stream, is_stream=True)
        r = t.groupby(t.k).reduce(
            t.k,
            am=pw.reducers.argmax(t.x),
            an=pw.reducers.argmin(t.x),
            any=pw.reducers.any(t.x),
            cd=pw.reducers.count_distinct(t.x),
            e=pw.reducers.earliest(t.x),
            la=pw.reducers.latest(t.x),
        )
        return _snapshots(r)

    per_row = run(10**9)
    assert run(1) == per_row
    assert run(1, ratio=10**9) == per_row


@pytest.mark.parametrize("bulk_min_rows", [1, 10**9])
def test_groups_sharing_the_low_64_bits_of_their_id_stay_apart(monkeypatch, bulk_min_rows):
    # The columnar state sorts rows by the low 64 bits of the group id; groups that share them
    # must still be told apart, both when aggregating and when moved to the per-row tier.
    monkeypatch.setattr(reduce_engine, "BULK_MIN_ROWS", bulk_min_rows)
    a, b = pw.Pointer(5), pw.Pointer(5 + 2**64)
    stream = [
        (a, 1, 2, 1),
        (b, 10, 2, 1),
        (a, 2, 2, 1),
        (b, 20, 2, 1),
        (a, 1, 4, -1),
        (b, 30, 4, 1),
    ]
    t = pw.debug.table_from_rows(pw.schema_from_types(g=pw.Pointer, x=int), stream, is_stream=True)
    r = t.groupby(id=t.g).reduce(s=pw.reducers.sum(t.x), top=pw.reducers.max(t.x))
    snapshots = _snapshots(r)
    assert snapshots[2] == {a: (3, 2), b: (30, 20)}
    assert snapshots[4] == {a: (2, 2), b: (60, 30)}


def test_both_paths_agree_with_nones_and_error_values(monkeypatch):
    rng = random.Random(11)
    live: list[tuple] = []
    stream = []
    for time in range(2, 30, 2):
        for _ in range(60 if time == 2 else rng.randint(1, 5)):
            if live and rng.random() < 0.4:
                stream.append((*live.pop(rng.randrange(len(live))), time, -1))
            else:
                row = (rng.randrange(6), rng.choice([None, *range(-5, 5)]), rng.randrange(3))
                live.append(row)
                stream.append((*row, time, 1))

    def run(threshold, ratio=4):
        monkeypatch.setattr(reduce_engine, "BULK_MIN_ROWS", threshold)
        monkeypatch.setattr(reduce_engine, "BULK_STATE_RATIO", ratio)
        t = pw.debug.table_from_rows(
            pw.schema_from_types(k=int, x=int | None, d=int), stream, is_stream=True
        )
        # ``k // d`` fails where d == 0 (those rows have no group); ``x // d`` gives error
        # values inside groups.
        q = t.select(
            key=pw.this.k // (pw.this.d + 1), g=pw.this.k % 3, x=pw.this.x, e=pw.this.k // pw.this.d
        )
        by_key = q.groupby(pw.this.e).reduce(pw.this.e, n=pw.reducers.count())
        by_group = q.groupby(pw.this.g).reduce(
            pw.this.g,
            s=pw.reducers.sum(pw.coalesce(pw.this.x, 0)),
            lo=pw.reducers.min(pw.this.x),
            hi=pw.reducers.max(pw.this.x),
            mean=pw.reducers.avg(pw.coalesce(pw.this.x, 0)),
            am=pw.reducers.argmax(pw.this.x),
            an=pw.reducers.argmin(pw.this.x),
            cd=pw.reducers.count_distinct(pw.this.x),
            err=pw.reducers.max(pw.this.key // pw.this.x),
        )
        return _snapshots(by_key), _snapshots(by_group)

    per_row = run(10**9)
    assert run(1) == per_row
    assert run(1, ratio=10**9) == per_row
