"""Joins: every mode under update streams, checked against a from-scratch join at every time."""

from __future__ import annotations

import random
from collections import Counter

import polars as pl
import pytest

import reflow as pw
from reflow.debug.output import collect_updates
from reflow.engine.operators import join as engine_join
from reflow.engine.state.key_index import KeyIndex
from tests.utils import T, rows, rows_by_id, updates

MODES = ["inner", "left", "right", "outer"]


def _snapshots(table: pw.Table) -> dict[int, dict]:
    """The table's rows after every logical time at which it or any input changed."""
    state: dict = {}
    out: dict[int, dict] = {}
    stream = sorted(collect_updates(table), key=lambda u: (u[0], u[3] > 0))
    for i, (time, row_id, row, diff) in enumerate(stream):
        if diff < 0:
            del state[row_id]
        else:
            state[row_id] = row
        if i + 1 == len(stream) or stream[i + 1][0] != time:
            out[time] = dict(state)
    return out


def _state_at(snapshots: dict[int, dict], time: int) -> dict:
    earlier = [t for t in snapshots if t <= time]
    return snapshots[max(earlier)] if earlier else {}


def _reference(left_rows, right_rows, lkey, rkey, mode, lcols, rcols):
    """From-scratch join of two row lists, as a multiset of output tuples."""
    out = Counter()
    by_key: dict = {}
    for rid, rrow in right_rows.items():
        by_key.setdefault(rkey(rrow), []).append((rid, rrow))
    matched_right = set()
    for lrow in left_rows.values():
        partners = by_key.get(lkey(lrow), [])
        for rid, rrow in partners:
            matched_right.add(rid)
            out[tuple(lrow[c] for c in lcols) + tuple(rrow[c] for c in rcols)] += 1
        if not partners and mode in ("left", "outer"):
            out[tuple(lrow[c] for c in lcols) + (None,) * len(rcols)] += 1
    if mode in ("right", "outer"):
        for rid, rrow in right_rows.items():
            if rid not in matched_right:
                out[(None,) * len(lcols) + tuple(rrow[c] for c in rcols)] += 1
    return out


def _check_every_time(left, right, result, lkey, rkey, mode, lcols, rcols):
    left_snaps, right_snaps = _snapshots(left), _snapshots(right)
    result_snaps = _snapshots(result)
    times = sorted(set(left_snaps) | set(right_snaps) | set(result_snaps))
    names = result.column_names()
    for time in times:
        expected = _reference(
            _state_at(left_snaps, time), _state_at(right_snaps, time), lkey, rkey, mode,
            lcols, rcols,
        )
        got = Counter(tuple(r[n] for n in names) for r in _state_at(result_snaps, time).values())
        assert got == expected, f"at time {time} ({mode} join)"


LEFT_STREAM = """
      | k | a  | __time__ | __diff__
    1 | 1 | a1 | 2        | 1
    2 | 2 | a2 | 2        | 1
    3 | 3 | a3 | 2        | 1
    4 | 1 | a4 | 4        | 1
    2 | 2 | a2 | 6        | -1
    2 | 5 | a2 | 6        | 1
    3 | 3 | a3 | 8        | -1
    3 | 3 | a3 | 12       | 1
    5 | 7 | a5 | 14       | 1
    1 | 1 | a1 | 16       | -1
    4 | 1 | a4 | 16       | -1
    """

RIGHT_STREAM = """
      | k | b  | __time__ | __diff__
    1 | 1 | b1 | 2        | 1
    2 | 2 | b2 | 4        | 1
    3 | 5 | b3 | 4        | 1
    2 | 2 | b2 | 8        | -1
    2 | 3 | b2 | 8        | 1
    1 | 1 | b1 | 10       | -1
    1 | 1 | b1 | 12       | 1
    4 | 7 | b4 | 14       | 1
    3 | 5 | b3 | 16       | -1
    4 | 7 | b4 | 18       | -1
    4 | 7 | b4 | 20       | 1
    """


@pytest.fixture(params=["tuples", "frames"])
def path(request, monkeypatch):
    """Run a test on the join's tuple path (few rows) and again on its columnar path."""
    if request.param == "frames":
        monkeypatch.setattr(engine_join, "_ROWWISE", -1)
    return request.param


@pytest.mark.parametrize("mode", MODES)
def test_every_mode_matches_a_from_scratch_join_at_every_time(mode, path):
    left, right = T(LEFT_STREAM), T(RIGHT_STREAM)
    result = left.join(right, left.k == right.k, how=mode).select(
        lk=pw.left.k, a=pw.left.a, rk=pw.right.k, b=pw.right.b
    )
    _check_every_time(
        left, right, result, lambda r: r["k"], lambda r: r["k"], mode, ["k", "a"], ["k", "b"]
    )


@pytest.mark.parametrize("mode", MODES)
def test_several_conditions_match_a_from_scratch_join_at_every_time(mode, path):
    # Two conditions: the key is a hash of two columns, computed by the join's key kernel.
    left = T(LEFT_STREAM).with_columns(p=pw.this.k % 2)
    right = T(RIGHT_STREAM).with_columns(p=pw.this.k % 2)
    result = left.join(right, left.k == right.k, left.p == right.p, how=mode).select(
        lk=pw.left.k, a=pw.left.a, rk=pw.right.k, b=pw.right.b
    )
    _check_every_time(
        left, right, result, lambda r: (r["k"], r["p"]), lambda r: (r["k"], r["p"]), mode,
        ["k", "a"], ["k", "b"],
    )


@pytest.mark.parametrize("mode", MODES)
def test_tuple_and_columnar_paths_give_the_same_ids_with_several_conditions(mode, monkeypatch):
    left = T(LEFT_STREAM).with_columns(p=pw.this.k % 2)
    right = T(RIGHT_STREAM).with_columns(p=pw.this.k % 2)
    result = left.join(right, left.k == right.k, left.p == right.p, how=mode).select(
        pw.left.a, pw.right.b
    )
    by_tuples = rows_by_id(result)
    monkeypatch.setattr(engine_join, "_ROWWISE", -1)
    assert rows_by_id(result) == by_tuples


@pytest.mark.parametrize("mode", MODES)
def test_named_join_methods_match_how(mode):
    left, right = T(LEFT_STREAM), T(RIGHT_STREAM)
    method = getattr(left, f"join_{mode}")
    via_method = method(right, left.k == right.k).select(pw.left.a, pw.right.b)
    via_how = left.join(right, left.k == right.k, how=pw.JoinMode[mode.upper()]).select(
        pw.left.a, pw.right.b
    )
    assert updates(via_method) == updates(via_how)


def test_inner_join_update_stream_is_minimal():
    left = T(
        """
          | k | a  | __time__ | __diff__
        1 | 1 | x  | 2        | 1
        1 | 1 | x  | 4        | -1
        1 | 1 | y  | 4        | 1
        1 | 1 | y  | 6        | -1
        1 | 1 | y  | 8        | 1
        """
    )
    right = T(
        """
          | k | b | __time__
        1 | 1 | p | 2
        """
    )
    result = left.join(right, left.k == right.k).select(pw.left.a, pw.right.b)
    assert updates(result) == sorted(
        [("x", "p", 2, 1), ("x", "p", 4, -1), ("y", "p", 4, 1), ("y", "p", 6, -1),
         ("y", "p", 8, 1)],
        key=repr,
    )


def test_outer_join_revises_when_a_match_appears_and_disappears(path):
    left = T(
        """
          | k | a | __time__
        1 | 1 | x | 2
        """
    )
    right = T(
        """
          | k | b | __time__ | __diff__
        1 | 1 | p | 4        | 1
        2 | 1 | q | 6        | 1
        1 | 1 | p | 8        | -1
        2 | 1 | q | 10       | -1
        """
    )
    result = left.join_left(right, left.k == right.k).select(pw.left.a, pw.right.b)
    assert updates(result) == sorted(
        [
            ("x", None, 2, 1),
            ("x", None, 4, -1), ("x", "p", 4, 1),
            ("x", "q", 6, 1),
            ("x", "p", 8, -1),
            ("x", "q", 10, -1), ("x", None, 10, 1),
        ],
        key=repr,
    )


def test_full_outer_join_both_sides_change_at_the_same_time(path):
    left = T(
        """
          | k | a | __time__ | __diff__
        1 | 1 | x | 2        | 1
        1 | 1 | x | 4        | -1
        2 | 2 | y | 4        | 1
        """
    )
    right = T(
        """
          | k | b | __time__ | __diff__
        1 | 2 | p | 2        | 1
        1 | 2 | p | 4        | -1
        2 | 1 | q | 4        | 1
        """
    )
    result = left.join_outer(right, left.k == right.k).select(pw.left.a, pw.right.b)
    assert updates(result) == sorted(
        [
            ("x", None, 2, 1), (None, "p", 2, 1),
            ("x", None, 4, -1), (None, "p", 4, -1),
            ("y", None, 4, 1), (None, "q", 4, 1),
        ],
        key=repr,
    )


def test_simultaneous_insert_on_both_sides_pairs_once(path):
    left = T(
        """
          | k | a | __time__
        1 | 1 | x | 2
        2 | 1 | y | 2
        """
    )
    right = T(
        """
          | k | b | __time__
        1 | 1 | p | 2
        2 | 1 | q | 2
        """
    )
    result = left.join(right, left.k == right.k).select(pw.left.a, pw.right.b)
    assert updates(result) == sorted(
        [("x", "p", 2, 1), ("x", "q", 2, 1), ("y", "p", 2, 1), ("y", "q", 2, 1)], key=repr
    )


def test_several_conditions():
    left = T(
        """
          | a | b | x  | __time__
        1 | 1 | 1 | l1 | 2
        2 | 1 | 2 | l2 | 2
        2 | 1 | 1 | l2 | 4
        """
    )
    right = T(
        """
          | c | d | y
        1 | 1 | 1 | r1
        2 | 1 | 2 | r2
        """
    )
    result = left.join(right, left.a == right.c, left.b == right.d).select(
        pw.left.x, pw.right.y
    )
    assert updates(result) == sorted(
        [("l1", "r1", 2, 1), ("l2", "r2", 2, 1), ("l2", "r2", 4, -1), ("l2", "r1", 4, 1)],
        key=repr,
    )


def test_cross_join_without_conditions():
    left = T(
        """
        a
        1
        2
        """
    )
    right = T(
        """
        b
        x
        y
        """
    )
    assert rows(left.join(right).select(pw.left.a, pw.right.b)) == [
        (1, "x"), (1, "y"), (2, "x"), (2, "y")
    ]


def test_none_keys_match_each_other():
    left = T(
        """
        k    | a
        1    | x
        None | y
        """
    )
    right = T(
        """
        k    | b
        None | q
        5    | r
        """
    )
    assert rows(left.join(right, left.k == right.k).select(pw.left.a, pw.right.b)) == [
        ("y", "q")
    ]


def test_id_from_left_keeps_left_ids_and_follows_updates(path):
    left = T(
        """
          | k | a | __time__ | __diff__
        1 | 1 | x | 2        | 1
        2 | 2 | y | 2        | 1
        2 | 2 | y | 4        | -1
        2 | 1 | y | 4        | 1
        """
    )
    right = T(
        """
          | k | b
        1 | 1 | p
        2 | 2 | q
        """
    )
    result = left.join_left(right, left.k == right.k, id=left.id).select(
        pw.left.a, pw.right.b
    )
    left_ids = set(rows_by_id(left))
    assert set(rows_by_id(result)) == left_ids
    assert sorted(rows_by_id(result).values()) == [("x", "p"), ("y", "p")]
    static_left = T(
        """
        k | a
        1 | x
        3 | z
        """
    )
    via_right = static_left.join_right(right, pw.left.k == pw.right.k, id=pw.right.id).select(
        pw.left.a, pw.right.b
    )
    assert rows_by_id(via_right) == {
        row_id: (("x" if b == "p" else None), b) for row_id, (_, b) in rows_by_id(right).items()
    }


def test_id_from_left_fails_when_a_left_row_matches_two_rows():
    left = T(
        """
        k | a
        1 | x
        """
    )
    right = T(
        """
        k | b
        1 | p
        1 | q
        """
    )
    result = left.join(right, left.k == right.k, id=left.id).select(pw.right.b)
    with pytest.raises(Exception, match="several rows"):
        rows(result)


def test_default_ids_hash_the_pair_and_are_stable_across_pipelines():
    left = T(
        """
        k | a
        1 | x
        """
    )
    right = T(
        """
        k | b
        1 | p
        """
    )
    r1 = left.join(right, left.k == right.k).select(pw.left.a)
    r2 = left.join(right, left.k == right.k).select(pw.right.b)
    assert set(rows_by_id(r1)) == set(rows_by_id(r2))
    assert not set(rows_by_id(r1)) & set(rows_by_id(left))


def test_instances_add_an_equality():
    left = T(
        """
          | k | g | a  | __time__
        1 | 1 | 1 | x  | 2
        2 | 1 | 2 | y  | 2
        2 | 1 | 1 | y  | 4
        """
    )
    right = T(
        """
          | k | g | b
        1 | 1 | 1 | p
        2 | 1 | 2 | q
        """
    )
    result = left.join(
        right, left.k == right.k, left_instance=left.g, right_instance=right.g
    ).select(pw.left.a, pw.right.b)
    assert updates(result) == sorted(
        [("x", "p", 2, 1), ("y", "q", 2, 1), ("y", "q", 4, -1), ("y", "p", 4, 1)], key=repr
    )


def test_this_resolves_unique_names_and_equal_join_columns():
    left = T(
        """
        k | a
        1 | x
        2 | y
        """
    )
    right = T(
        """
        k | b
        1 | p
        3 | q
        """
    )
    inner = left.join(right, left.k == right.k).select(pw.this.k, pw.this.a, pw.this.b)
    assert rows(inner) == [(1, "x", "p")]
    outer = left.join_outer(right, left.k == right.k).select(pw.this.k, pw.this.a, pw.this.b)
    assert rows(outer) == sorted([(1, "x", "p"), (2, "y", None), (3, None, "q")], key=repr)
    right_join = left.join_right(right, left.k == right.k).select(pw.this.k, pw.this.b)
    assert rows(right_join) == [(1, "p"), (3, "q")]


def test_outer_join_columns_are_optional():
    left = T(
        """
        k | a
        1 | 5
        """
    )
    right = T(
        """
        k | b
        2 | 6
        """
    )
    result = left.join_left(right, left.k == right.k).select(pw.left.a, pw.right.b)
    assert result.typehints() == {"a": int, "b": int | None}
    outer = left.join_outer(right, left.k == right.k).select(pw.left.a, pw.right.b)
    assert outer.typehints() == {"a": int | None, "b": int | None}


def test_select_accepts_table_references_and_expressions_across_sides():
    left = T(
        """
        k | a
        1 | 5
        """
    )
    right = T(
        """
        k | b
        1 | 6
        """
    )
    result = left.join(right, left.k == right.k).select(left.a, *pw.right, s=left.a + right.b)
    assert result.column_names() == ["a", "k", "b", "s"]
    assert rows(result) == [(5, 1, 6, 11)]


def test_filter_on_join_result_follows_updates():
    left = T(
        """
          | k | a | __time__
        1 | 1 | 1 | 2
        1 | 1 | 9 | 4
        """
    )
    right = T(
        """
          | k | b
        1 | 1 | 5
        """
    )
    result = left.join(right, left.k == right.k).filter(pw.left.a > pw.right.b).select(
        pw.left.a
    )
    assert updates(result) == [(9, 4, 1)]


def test_join_of_int_and_float_keys():
    left = T(
        """
        k | a
        1 | x
        """
    )
    right = T(
        """
        k   | b
        1.0 | p
        """
    )
    assert rows(left.join(right, left.k == right.k).select(pw.left.a, pw.right.b)) == [
        ("x", "p")
    ]


def test_big_batches_then_small_updates():
    n = 5000
    left = pw.debug.table_from_rows(
        pw.schema_from_types(k=int, a=int), [(i % 3000, i) for i in range(n)]
    )
    right_rows = [(i, i * 10, 2, 1) for i in range(0, 3000, 2)]
    right_rows += [(4, 40, 4, -1), (4, 41, 4, 1), (1, 10, 4, 1)]
    right = pw.debug.table_from_rows(
        pw.schema_from_types(k=int, b=int), right_rows, is_stream=True
    )
    for mode in MODES:
        result = left.join(right, left.k == right.k, how=mode).select(
            lk=pw.left.k, a=pw.left.a, rk=pw.right.k, b=pw.right.b
        )
        _check_every_time(
            left, right, result, lambda r: r["k"], lambda r: r["k"], mode, ["k", "a"],
            ["k", "b"],
        )


def _stream(rng, rounds, size, first, n_keys):
    """Rows ``(k, v, time, diff)``: a first load with repeated keys (``None`` among them),
    then at each later time ``size`` changes, half retractions of live rows."""
    keys = [*range(n_keys), None]
    live = [(rng.choice(keys), v) for v in range(first)]
    out = [(k, v, 2, 1) for k, v in live]
    serial = first
    for time in range(4, 4 + 2 * rounds, 2):
        rng.shuffle(live)
        gone, live = live[: size // 2], live[size // 2 :]
        out += [(k, v, time, -1) for k, v in gone]
        for _ in range(size - size // 2):
            serial += 1
            live.append((rng.choice(keys), serial))
            out.append((*live[-1], time, 1))
    return out


@pytest.mark.parametrize("mode", MODES)
def test_large_deltas_on_both_sides_at_the_same_times(mode):
    # Deltas of hundreds of rows on both sides at each time run the columnar path and index
    # the changes in bulk, over a first load whose keys repeat.
    rng = random.Random(7)
    schema = pw.schema_from_types(k=int | None, v=int)
    left = pw.debug.table_from_rows(schema, _stream(rng, 3, 600, 3000, 120), is_stream=True)
    right = pw.debug.table_from_rows(schema, _stream(rng, 3, 300, 400, 150), is_stream=True)
    result = left.join(right, left.k == right.k, how=mode).select(
        lk=pw.left.k, a=pw.left.v, rk=pw.right.k, b=pw.right.v
    )
    _check_every_time(
        left, right, result, lambda r: r["k"], lambda r: r["k"], mode, ["k", "v"], ["k", "v"]
    )


def test_fallible_columns_pass_through_a_join():
    left = T(
        """
        k | a
        1 | 0
        2 | 2
        """
    ).select(pw.this.k, inv=10 // pw.this.a)
    right = T(
        """
        k | b
        1 | p
        2 | q
        """
    )
    result = left.join(right, left.k == right.k).select(pw.left.inv, pw.right.b)
    assert rows(result, terminate_on_error=False) == sorted([(pw.ERROR, "p"), (5, "q")], key=repr)


@pytest.mark.parametrize("mode", ["inner", "left"])
def test_fallible_key_column_under_updates(mode, path):
    # The key column can hold errors (10 // 0): both paths join on its values alike.
    left = T(
        """
          | a | x | __time__ | __diff__
        1 | 5 | p | 2        | 1
        2 | 0 | q | 2        | 1
        3 | 2 | r | 4        | 1
        1 | 5 | p | 6        | -1
        """
    ).select(pw.this.x, k=10 // pw.this.a)
    right = T(
        """
          | k | b | __time__ | __diff__
        1 | 2 | B | 2        | 1
        2 | 5 | F | 4        | 1
        1 | 2 | B | 6        | -1
        """
    )
    result = left.join(right, left.k == right.k, how=mode).select(pw.left.x, pw.right.b)
    expected = [("p", "B", 2, 1), ("r", "F", 4, 1), ("p", "B", 6, -1)]
    if mode == "left":
        expected.append(("q", None, 2, 1))  # the row whose key is an error has no partner
    assert updates(result, terminate_on_error=False) == sorted(expected, key=repr)


@pytest.mark.parametrize("mode", ["left", "outer"])
def test_missing_side_is_none_for_bool_and_error_columns(mode, path):
    left = T(
        """
          | k | flag  | d | __time__ | __diff__
        1 | 1 | True  | 0 | 2        | 1
        2 | 2 | False | 5 | 2        | 1
        2 | 2 | False | 5 | 4        | -1
        """
    ).select(pw.this.k, pw.this.flag, q=10 // pw.this.d)
    right = T(
        """
          | k | ok    | __time__
        1 | 1 | False | 2
        2 | 3 | True  | 4
        """
    )
    result = left.join(right, left.k == right.k, how=mode).select(
        pw.left.flag, pw.left.q, pw.right.ok
    )
    expected = [(True, pw.ERROR, False, 2, 1), (False, 2, None, 2, 1), (False, 2, None, 4, -1)]
    if mode == "outer":
        expected.append((None, None, True, 4, 1))
    assert updates(result, terminate_on_error=False) == sorted(expected, key=repr)


def test_key_index_compacts_cancelled_rows():
    index = KeyIndex()
    schema = {"_key": pl.Int64, "v": pl.Int64, "_diff": pl.Int64}
    index.insert(pl.DataFrame({"_key": [1, 2], "v": [0, 0], "_diff": [1, 1]}))
    for i in range(1, 6000):
        index.insert_rows([(1, i - 1, -1), (1, i, 1)], schema)
    assert index.count(1) == 1 and index.count(2) == 1 and len(index) == 2
    live = [r for r in index.lookup_rows([1]) if r[2] > 0]
    assert sum(r[2] for r in index.lookup_rows([1])) == 1
    assert (1, 5999, 1) in live
    # Cancelled rows were compacted away: the log stays proportional to the live rows.
    assert index.size([1]) < 5000
    frame = index.lookup([1])
    assert frame is not None and frame["_diff"].sum() == 1


# --- build errors ----------------------------------------------------------------------------
@pytest.fixture
def two_tables():
    left = T(
        """
        k | a | s
        1 | x | u
        """
    )
    right = T(
        """
        k | b | s
        1 | p | v
        """
    )
    return left, right


def test_condition_must_be_an_equality(two_tables):
    left, right = two_tables
    with pytest.raises(pw.BuildError, match=r"left_table\.column == right_table\.column"):
        left.join(right, left.k < right.k)


def test_condition_sides_must_be_left_then_right(two_tables):
    left, right = two_tables
    with pytest.raises(pw.BuildError, match="swap"):
        left.join(right, right.k == left.k)
    with pytest.raises(pw.BuildError, match="both sides refer to the left"):
        left.join(right, left.k == left.a)


def test_condition_types_must_be_compatible(two_tables):
    left, right = two_tables
    with pytest.raises(pw.BuildError, match="incompatible types"):
        left.join(right, left.k == right.b)


def test_unknown_and_ambiguous_columns_in_select(two_tables):
    left, right = two_tables
    joined = left.join(right, left.k == right.k)
    with pytest.raises(pw.BuildError, match="no column 'zzz' in either table"):
        joined.select(pw.this.zzz)
    with pytest.raises(pw.BuildError, match="no column 'zzz' in the left table"):
        joined.select(pw.left.zzz)
    with pytest.raises(pw.BuildError, match="appears in both"):
        joined.select(pw.this.s)


def test_id_side_must_be_kept_by_the_mode(two_tables):
    left, right = two_tables
    with pytest.raises(pw.BuildError, match="cannot be used in a outer join"):
        left.join_outer(right, left.k == right.k, id=left.id)
    with pytest.raises(pw.BuildError, match="cannot be used in a left join"):
        left.join_left(right, left.k == right.k, id=right.id)


def test_instances_must_come_together(two_tables):
    left, right = two_tables
    with pytest.raises(pw.BuildError, match="together"):
        left.join(right, left.k == right.k, left_instance=left.a)


def test_self_join_needs_a_copy(two_tables):
    left, _ = two_tables
    with pytest.raises(pw.BuildError, match="copy"):
        left.join(left, pw.left.k == pw.right.k)
    other = left.copy()
    assert rows(left.join(other, left.k == other.k).select(pw.left.a, b=pw.right.a)) == [
        ("x", "x")
    ]


def test_groupby_and_reduce_on_a_join_follow_updates(path):
    orders = T(
        """
          | customer | amount | __time__ | __diff__
        1 | 1        | 10     | 2        | 1
        2 | 1        | 5      | 2        | 1
        3 | 2        | 7      | 2        | 1
        2 | 1        | 5      | 4        | -1
        2 | 2        | 5      | 4        | 1
        """
    )
    customers = T(
        """
          | cid | name  | __time__
        1 | 1   | Alice | 2
        2 | 2   | Bob   | 2
        2 | 2   | Robert| 6
        """
    )
    joined = orders.join(customers, orders.customer == customers.cid)
    totals = joined.groupby(pw.right.name).reduce(
        pw.right.name, total=pw.reducers.sum(pw.left.amount)
    )
    assert updates(totals) == sorted(
        [
            ("Alice", 15, 2, 1), ("Bob", 7, 2, 1),
            ("Alice", 15, 4, -1), ("Alice", 10, 4, 1), ("Bob", 7, 4, -1), ("Bob", 12, 4, 1),
            ("Bob", 12, 6, -1), ("Robert", 12, 6, 1),
        ],
        key=repr,
    )
    overall = joined.reduce(n=pw.reducers.count(), top=pw.reducers.max(pw.this.amount))
    assert rows(overall) == [(3, 10)]


@pytest.mark.parametrize("mode", MODES)
def test_tuple_and_columnar_paths_give_the_same_ids(mode, monkeypatch):
    left, right = T(LEFT_STREAM), T(RIGHT_STREAM)
    result = left.join(right, left.k == right.k, how=mode).select(pw.left.a, pw.right.b)
    by_tuples = rows_by_id(result)
    monkeypatch.setattr(engine_join, "_ROWWISE", -1)
    assert rows_by_id(result) == by_tuples


def _mixed_stream(rng, times, keys, sizes):
    """Rows ``(k, v, s, time, diff)``: at each of ``times`` a delta of a size drawn from
    ``sizes`` (0: no change), half of it (or less) retractions of live rows; a third of the
    insertions bring back a row retracted earlier (the log then holds it three times)."""
    live: list[tuple] = []
    retracted: list[tuple] = []
    out = []
    serial = 0
    for time in times:
        size = rng.choice(sizes)
        rng.shuffle(live)
        cut = rng.randint(0, min(len(live), size // 2))
        gone, live = live[:cut], live[cut:]
        out += [(*row, time, -1) for row in gone]
        back = [row for row in retracted if row[1] not in {r[1] for r in live}]
        retracted = [row for row in retracted if row not in back] + gone
        for _ in range(size - cut):
            if back and rng.random() < 0.33:
                live.append(back.pop())
            else:
                serial += 1
                live.append((rng.choice(keys), serial, rng.choice(["x", "y", None])))
            out.append((*live[-1], time, 1))
        retracted += back
    return out


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("seed", range(2))
@pytest.mark.parametrize("partners", ["few", "many"])
def test_tuple_path_gives_the_columnar_paths_stream_under_random_deltas(
    mode, seed, partners, monkeypatch
):
    # Random deltas of 1 to 400 rows on either side or both at once (retractions, repeated
    # and None keys): small calls take the tuple path, large ones the columnar path, and
    # with "many" partners most small calls have too many partner rows for the tuple path
    # and fall back. The update stream, ids included, must be the one of the columnar path
    # alone, and the result at every time the from-scratch join's.
    if partners == "many":
        monkeypatch.setattr(engine_join, "_PARTNER_LIMIT", 6)
        # Large calls look the partner rows up instead of joining with the whole log.
        monkeypatch.setattr(engine_join, "_WHOLE_LOG", 0)
    process = engine_join.JoinOperator.process

    def consolidated_process(self, time, deltas, ctx):
        # The join says it emits consolidated deltas: no row twice, no zero diff.
        out = process(self, time, deltas, ctx)
        if out is not None:
            values = [row[:-1] for row in out.rows()]
            assert len(set(values)) == len(values) and 0 not in out["_diff"].to_list()
        return out

    monkeypatch.setattr(engine_join.JoinOperator, "process", consolidated_process)
    rng = random.Random(seed)
    keys = [*range(40), None] if partners == "many" else [*range(300), None]
    times = list(range(2, 28, 2))
    sizes = [0, 0, 1, 3, 20, 150, 256, 257, 400]
    schema = pw.schema_from_types(k=int | None, v=int, s=str | None)
    left = pw.debug.table_from_rows(schema, _mixed_stream(rng, times, keys, sizes),
                                    is_stream=True)
    right = pw.debug.table_from_rows(schema, _mixed_stream(rng, times, keys, sizes),
                                     is_stream=True)
    result = left.join(right, left.k == right.k, how=mode).select(
        lk=pw.left.k, a=pw.left.v, ls=pw.left.s, rk=pw.right.k, b=pw.right.v, rs=pw.right.s
    )
    mixed = sorted(collect_updates(result), key=repr)
    _check_every_time(
        left, right, result, lambda r: r["k"], lambda r: r["k"], mode, ["k", "v", "s"],
        ["k", "v", "s"],
    )
    monkeypatch.setattr(engine_join, "_ROWWISE", -1)
    assert sorted(collect_updates(result), key=repr) == mixed
