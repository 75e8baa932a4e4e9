"""Set and universe operations under update streams, and their build-time universe checks."""

from __future__ import annotations

import random

import pytest

import reflow as pw
from tests.stateful.streams import random_stream, states
from tests.utils import T, rows, rows_by_id, updates

BASE = """
  | x  | __time__ | __diff__
1 | 10 | 2        | 1
2 | 20 | 2        | 1
3 | 30 | 2        | 1
2 | 20 | 6        | -1
2 | 21 | 6        | 1
3 | 30 | 8        | -1
"""

OTHER = """
  | x   | __time__ | __diff__
2 | 200 | 4        | 1
4 | 400 | 4        | 1
4 | 400 | 6        | -1
3 | 300 | 8        | 1
4 | 401 | 10       | 1
"""


def p(label):
    return pw.pointer_from(label)


# --- update_rows ---------------------------------------------------------------------------------


def test_update_rows_prefers_other_and_adds_new_rows():
    result = T(BASE).update_rows(T(OTHER))
    assert updates(result) == sorted(
        [
            (10, 2, 1), (20, 2, 1), (30, 2, 1),
            (20, 4, -1), (200, 4, 1), (400, 4, 1),
            (400, 6, -1),
            (30, 8, -1), (300, 8, 1),  # other's row takes over the id self just deleted
            (401, 10, 1),
        ],
        key=repr,
    )
    assert rows_by_id(result) == {p(1): (10,), p(2): (200,), p(3): (300,), p(4): (401,)}


def test_update_rows_falls_back_to_self_when_other_row_is_deleted():
    base = T(BASE)
    other = T("""
      | x   | __time__ | __diff__
    1 | 100 | 2        | 1
    1 | 100 | 4        | -1
    1 | 101 | 6        | 1
    """)
    assert updates(base.update_rows(other)) == sorted(
        [
            (100, 2, 1), (20, 2, 1), (30, 2, 1),
            (100, 4, -1), (10, 4, 1),
            (20, 6, -1), (21, 6, 1), (10, 6, -1), (101, 6, 1),
            (30, 8, -1),
        ],
        key=repr,
    )


def test_update_rows_needs_the_same_columns():
    a = T("""
    x
    1
    """)
    b = T("""
    y
    1
    """)
    with pytest.raises(pw.BuildError, match=r"same columns.*columns x.*columns y"):
        a.update_rows(b)


# --- update_cells ---------------------------------------------------------------------------------


def test_update_cells_replaces_only_given_columns():
    base = T("""
      | x  | y | __time__ | __diff__
    1 | 10 | a | 2        | 1
    2 | 20 | b | 2        | 1
    2 | 20 | b | 8        | -1
    2 | 22 | c | 8        | 1
    """)
    patch = T("""
      | x   | __time__ | __diff__
    2 | 200 | 4        | 1
    2 | 200 | 6        | -1
    2 | 201 | 6        | 1
    2 | 201 | 10       | -1
    """).promise_universe_is_subset_of(base)
    result = base.update_cells(patch)
    assert result.column_names() == ["x", "y"]
    assert updates(result) == sorted(
        [
            (10, "a", 2, 1), (20, "b", 2, 1),
            (20, "b", 4, -1), (200, "b", 4, 1),
            (200, "b", 6, -1), (201, "b", 6, 1),
            (201, "b", 8, -1), (201, "c", 8, 1),  # base's own change keeps the patched cell
            (201, "c", 10, -1), (22, "c", 10, 1),  # patch deleted: base's value comes back
        ],
        key=repr,
    )
    assert rows_by_id(base << patch) == rows_by_id(result)


def test_update_cells_ignores_patch_rows_whose_base_row_is_deleted_then_reinserted():
    base = T("""
      | x  | __time__ | __diff__
    1 | 10 | 2        | 1
    1 | 10 | 4        | -1
    1 | 11 | 6        | 1
    """)
    patch = T("""
      | x  | __time__ | __diff__
    1 | 99 | 2        | 1
    """).promise_universe_is_subset_of(base)
    assert updates(base << patch, terminate_on_error=False) == sorted(
        [(99, 2, 1), (99, 4, -1), (99, 6, 1)], key=repr
    )


def test_update_cells_requires_subset_universe():
    base = T("""
      | x
    1 | 10
    """)
    patch = T("""
      | x
    2 | 11
    """)
    with pytest.raises(pw.BuildError, match=r"subset.*promise_universe_is_subset_of"):
        base << patch
    filtered = base.filter(pw.this.x > 5).select(x=pw.this.x + 1)
    assert rows(base << filtered) == [(11,)]


def test_update_cells_rejects_unknown_columns():
    base = T("""
      | x
    1 | 10
    """)
    patch = base.select(z=pw.this.x)
    with pytest.raises(pw.BuildError, match=r"'z'.*not columns"):
        base.update_cells(patch)


# --- restrict, difference, intersect ------------------------------------------------------------


def test_restrict_follows_both_sides():
    base = T(BASE)
    keep = T("""
      | k | __time__ | __diff__
    1 | 0 | 2        | 1
    2 | 0 | 4        | 1
    1 | 0 | 6        | -1
    1 | 0 | 10       | 1
    """).promise_universe_is_subset_of(base)
    result = base.restrict(keep)
    assert result.column_names() == ["x"]
    assert updates(result) == sorted(
        [
            (10, 2, 1), (20, 4, 1),
            (10, 6, -1), (20, 6, -1), (21, 6, 1),
            (10, 10, 1),
        ],
        key=repr,
    )


def test_restrict_requires_subset():
    a = T("""
      | x
    1 | 10
    """)
    b = T("""
      | y
    2 | 1
    """)
    with pytest.raises(pw.BuildError, match=r"columns y.*subset.*columns x"):
        a.restrict(b)


def test_difference_and_intersect_by_ids():
    base = T(BASE)
    other = T(OTHER)
    assert updates(base.difference(other)) == sorted(
        [
            (10, 2, 1), (20, 2, 1), (30, 2, 1),
            (20, 4, -1),
            (30, 8, -1),
        ],
        key=repr,
    )
    assert updates(base.intersect(other)) == sorted(
        [(20, 4, 1), (20, 6, -1), (21, 6, 1)], key=repr
    )


def test_intersect_of_several_tables():
    a = T("""
      | x
    1 | 1
    2 | 2
    3 | 3
    """)
    b = T("""
      | y
    2 | 0
    3 | 0
    """)
    c = T("""
      | z | __time__ | __diff__
    3 | 0 | 2        | 1
    2 | 0 | 4        | 1
    3 | 0 | 4        | -1
    """)
    assert updates(a.intersect(b, c)) == sorted([(3, 2, 1), (2, 4, 1), (3, 4, -1)], key=repr)


# --- with_universe_of and promises ---------------------------------------------------------------


def test_with_universe_of_keeps_rows_and_enables_update_cells():
    a = T("""
      | x  | __time__ | __diff__
    1 | 10 | 2        | 1
    2 | 20 | 2        | 1
    2 | 20 | 4        | -1
    2 | 21 | 4        | 1
    """)
    b = T("""
      | y | __time__ | __diff__
    1 | 1 | 2        | 1
    2 | 2 | 2        | 1
    """)
    moved = a.with_universe_of(b)
    assert updates(moved) == sorted([(10, 2, 1), (20, 2, 1), (20, 4, -1), (21, 4, 1)], key=repr)
    # b's universe is now a subset of moved's, so update_cells is allowed.
    assert rows(moved << b.select(x=pw.this.y)) == [(1,), (2,)]


def test_with_universe_of_reports_mismatched_ids():
    a = T("""
      | x  | __time__ | __diff__
    1 | 10 | 2        | 1
    2 | 20 | 2        | 1
    """)
    b = T("""
      | y | __time__ | __diff__
    1 | 1 | 2        | 1
    3 | 3 | 4        | 1
    """)
    moved = a.with_universe_of(b)
    log = pw.global_error_log().select(pw.this.message)
    assert rows(moved, terminate_on_error=False) == [(10,)]
    messages = [m for (m,) in rows(log, terminate_on_error=False) if "with_universe_of" in m]
    assert len(messages) == 2
    assert any("columns x" in m and "no row with the same id in <table with columns y>" in m
               for m in messages)


def test_promise_universe_is_equal_to_allows_update_cells_both_ways():
    a = T("""
      | x
    1 | 10
    """)
    b = T("""
      | x
    1 | 11
    """)
    assert a.promise_universe_is_equal_to(b) is a
    assert rows(a << b) == [(11,)]
    assert rows(b << a) == [(10,)]


# --- concat ---------------------------------------------------------------------------------------


def test_concat_requires_disjoint_universes():
    a = T("""
      | x
    1 | 10
    """)
    b = T("""
      | x
    2 | 20
    """)
    with pytest.raises(pw.BuildError, match=r"disjoint.*concat_reindex.*promise_universes"):
        a.concat(b)
    a.promise_universes_are_disjoint(b)
    assert rows(a.concat(b)) == [(10,), (20,)]
    # Subsets of disjoint universes are disjoint too.
    assert rows(a.filter(pw.this.x > 0).concat(b.filter(pw.this.x > 0))) == [(10,), (20,)]


def test_concat_streams_and_universe_is_superset():
    a = T(BASE)
    b = T("""
      | x   | __time__ | __diff__
    7 | 70  | 2        | 1
    7 | 70  | 4        | -1
    7 | 71  | 6        | 1
    """)
    a.promise_universes_are_disjoint(b)
    both = a.concat(b)
    assert rows_by_id(both) == {p(1): (10,), p(2): (21,), p(7): (71,)}
    assert rows(both.restrict(a)) == [(10,), (21,)]


def test_concat_needs_matching_columns():
    a = T("""
      | x
    1 | 10
    """)
    b = T("""
      | y
    2 | 20
    """)
    with pytest.raises(pw.BuildError, match="same columns"):
        a.concat(b)


def test_concat_reindex_gives_new_ids_and_follows_updates():
    a = T(BASE)
    result = a.concat_reindex(a)
    out = rows_by_id(result)
    assert sorted(out.values()) == [(10,), (10,), (21,), (21,)]
    assert not set(out) & {p(1), p(2), p(3)}
    again = rows_by_id(a.concat_reindex(a))
    assert again == out  # ids are deterministic


# --- random streams against a from-scratch computation at every time ---------------------------


def _oracle_case(seed):
    rng = random.Random(seed)
    left_text, left_times = random_stream(rng, list(range(1, 7)), 6, range(5))
    right_text, right_times = random_stream(rng, list(range(3, 10)), 6, range(5))
    times = sorted(set(left_times) | set(right_times))
    return T(left_text), T(right_text), times


@pytest.mark.parametrize("seed", range(6))
def test_random_streams_match_from_scratch(seed):
    left, right, times = _oracle_case(seed)
    left_states = states(left, times)
    right_states = states(right, times)
    right_sub = right.promise_universe_is_subset_of(left)
    cases = {
        "update_rows": (left.update_rows(right),
                        lambda a, b: {**a, **b}),
        "update_cells": (left << right_sub,
                         lambda a, b: {k: (b.get(k, v)) for k, v in a.items()}),
        "restrict": (left.restrict(right_sub),
                     lambda a, b: {k: v for k, v in a.items() if k in b}),
        "difference": (left.difference(right),
                       lambda a, b: {k: v for k, v in a.items() if k not in b}),
        "intersect": (left.intersect(right),
                      lambda a, b: {k: v for k, v in a.items() if k in b}),
    }
    for name, (table, expected) in cases.items():
        got = states(table, times)
        for time in times:
            want = expected(left_states[time], right_states[time])
            assert got[time] == want, f"{name} at time {time}"
    reindexed = states(left.concat_reindex(right), times)
    for time in times:
        want = sorted([*left_states[time].values(), *right_states[time].values()])
        assert sorted(reindexed[time].values()) == want


def test_error_cells_pass_through_update_rows_and_update_cells():
    base = T("""
      | x  | y
    1 | 10 | 0
    2 | 20 | 1
    """)
    patch = base.select(x=100 // pw.this.y)
    assert rows_by_id(base.select(pw.this.x) << patch, terminate_on_error=False) == {
        p(1): (pw.ERROR,), p(2): (100,)
    }
    assert rows_by_id(base.select(pw.this.x).update_rows(patch), terminate_on_error=False) == {
        p(1): (pw.ERROR,),
        p(2): (100,),
    }
    assert rows_by_id(patch.update_rows(base.select(pw.this.x)), terminate_on_error=False) == {
        p(1): (10,),
        p(2): (20,),
    }


def test_many_rows_at_once_then_updates_match_from_scratch():
    lines = ["  | c0 | __time__ | __diff__"]
    lines += [f"{i} | {i % 7} | 2 | 1" for i in range(500)]
    lines += [f"{i} | {i % 7} | 4 | -1" for i in range(0, 500, 3)]
    lines += [f"{i} | 99 | 4 | 1" for i in range(0, 500, 6)]
    left = T("\n".join(lines))
    right = T(
        "\n".join(
            ["  | c0 | __time__ | __diff__"]
            + [f"{i} | {i} | 2 | 1" for i in range(250, 800)]
            + [f"{i} | {i} | 6 | -1" for i in range(250, 300)]
        )
    )
    times = [2, 4, 6]
    ls, rs = states(left, times), states(right, times)
    got_rows = states(left.update_rows(right), times)
    got_diff = states(left.difference(right), times)
    for time in times:
        assert got_rows[time] == {**ls[time], **rs[time]}
        assert got_diff[time] == {k: v for k, v in ls[time].items() if k not in rs[time]}


def test_broken_subset_promise_is_reported_and_the_row_ignored():
    base = T("""
      | x  | __time__ | __diff__
    1 | 10 | 2        | 1
    1 | 10 | 4        | -1
    """)
    patch = T("""
      | x  | __time__ | __diff__
    1 | 99 | 2        | 1
    2 | 50 | 2        | 1
    """).promise_universe_is_subset_of(base)
    cells = base << patch
    kept = base.restrict(patch)
    log = pw.global_error_log().select(pw.this.operator, pw.this.message)
    assert updates(cells, terminate_on_error=False) == sorted([(99, 2, 1), (99, 4, -1)], key=repr)
    assert updates(kept, terminate_on_error=False) == sorted([(10, 2, 1), (10, 4, -1)], key=repr)
    messages = [m for (_, m) in rows(log, terminate_on_error=False)]
    assert sum("update_cells(): row" in m and "columns x" in m for m in messages) == 2
    assert sum("restrict(): row" in m for m in messages) == 2


def test_zip_node_puts_same_id_columns_side_by_side():
    from reflow.plan.universe_nodes import ZipNode

    a = T("""
      | x  | __time__ | __diff__
    1 | 10 | 2        | 1
    2 | 20 | 2        | 1
    2 | 20 | 4        | -1
    2 | 21 | 4        | 1
    """)
    b = a.select(y=pw.this.x * 2)
    zipped = pw.Table(ZipNode([a._node, b._node], "test"))
    assert zipped.column_names() == ["x", "y"]
    assert updates(zipped) == sorted(
        [(10, 20, 2, 1), (20, 40, 2, 1), (20, 40, 4, -1), (21, 42, 4, 1)], key=repr
    )


def test_incompatible_column_types_are_a_build_error_and_int_float_unify():
    ints = T("""
      | x
    1 | 1
    """)
    strs = T("""
      | x
    2 | a
    """)
    floats = T("""
      | x
    2 | 2.5
    """)
    with pytest.raises(pw.BuildError, match=r"column 'x' has incompatible types"):
        ints.update_rows(strs)
    merged = ints.update_rows(floats)
    assert merged.typehints()["x"] is float
    assert rows(merged) == [(1.0,), (2.5,)]


def test_row_store_keeps_only_batches_with_live_rows():
    import polars as pl

    from reflow.engine.state.row_store import RowStore

    store = RowStore({"x": pl.Int64})
    schema = {"_id": pl.UInt128, "x": pl.Int64, "_diff": pl.Int64}
    for i in range(50):
        # Insert the new version before retracting the old one: the order must not matter.
        store.apply(pl.DataFrame({"_id": [1, 2], "x": [i, i], "_diff": [1, 1]}, schema=schema))
        if i:
            store.apply(
                pl.DataFrame({"_id": [1, 2], "x": [i - 1] * 2, "_diff": [-1, -1]}, schema=schema)
            )
        store.collect()
    assert len(store) == 2 and not store.extra
    assert len(store.chunks) == 2  # the null row and the latest batch
    assert store.gather([store.ref(1), store.ref(2)])["x"].to_list() == [49, 49]
