"""Temporal joins: asof_join, interval_join, window_join and asof_now_join, with equality
conditions, out-of-order and deleted rows, and agreement with brute-force computations."""

from __future__ import annotations

import datetime
import random

import pytest

import reflow as pw
from tests.utils import T, rows, rows_by_id, updates

LEFT = """
t  | k | x | __time__
1  | a | 1 | 2
5  | a | 2 | 2
10 | a | 3 | 4
7  | b | 4 | 4
"""
RIGHT = """
t  | k | y  | __time__
2  | a | 10 | 2
6  | a | 20 | 4
4  | b | 30 | 4
4  | a | 40 | 6
"""


def _asof(how, direction):
    a, b = T(LEFT), T(RIGHT)
    return a.asof_join(
        b, a.t, b.t, a.k == b.k, how=how, direction=direction, defaults={b.y: -1}
    ).select(pw.left.x, pw.right.y, lt=a.t, rt=b.t)


B, F, N = (pw.temporal.Direction.BACKWARD, pw.temporal.Direction.FORWARD,
           pw.temporal.Direction.NEAREST)


@pytest.mark.parametrize(("how", "direction", "expected"), [
    (pw.JoinMode.LEFT, B, [(1, -1, 1, None), (2, 40, 5, 4), (3, 20, 10, 6), (4, 30, 7, 4)]),
    (pw.JoinMode.LEFT, F, [(1, 10, 1, 2), (2, 20, 5, 6), (3, -1, 10, None), (4, -1, 7, None)]),
    (pw.JoinMode.LEFT, N, [(1, 10, 1, 2), (2, 20, 5, 6), (3, 20, 10, 6), (4, 30, 7, 4)]),
    (pw.JoinMode.RIGHT, B, [(None, 30, None, 4), (1, 10, 1, 2), (1, 40, 1, 4), (2, 20, 5, 6)]),
    (pw.JoinMode.RIGHT, F, [(2, 10, 5, 2), (2, 40, 5, 4), (3, 20, 10, 6), (4, 30, 7, 4)]),
    (pw.JoinMode.OUTER, B, [
        (None, 30, None, 4), (1, -1, 1, None), (1, 10, 1, 2), (1, 40, 1, 4), (2, 20, 5, 6),
        (2, 40, 5, 4), (3, 20, 10, 6), (4, 30, 7, 4)]),
])
def test_asof_join_modes_and_directions(how, direction, expected):
    assert rows(_asof(how, direction)) == sorted(expected, key=repr)


def test_asof_join_revises_when_the_right_side_changes():
    a, b = T(LEFT), T(RIGHT)
    r = a.asof_join_left(b, a.t, b.t, a.k == b.k).select(pw.left.x, pw.right.y)
    assert updates(r) == sorted([
        (1, None, 2, 1), (2, 10, 2, 1), (3, 20, 4, 1), (4, 30, 4, 1),
        (2, 10, 6, -1), (2, 40, 6, 1),
    ], key=repr)


def test_asof_join_deletions_on_both_sides():
    a = T("""
      | t | x | __time__ | __diff__
    1 | 5 | 1 | 2        | 1
    2 | 9 | 2 | 2        | 1
    2 | 9 | 2 | 6        | -1
    """)
    b = T("""
      | t | y  | __time__ | __diff__
    1 | 4 | 10 | 2        | 1
    2 | 8 | 20 | 2        | 1
    2 | 8 | 20 | 4        | -1
    """)
    r = a.asof_join_left(b, a.t, b.t).select(pw.left.x, pw.right.y)
    assert updates(r) == sorted([
        (1, 10, 2, 1), (2, 20, 2, 1), (2, 20, 4, -1), (2, 10, 4, 1), (2, 10, 6, -1),
    ], key=repr)


def test_asof_join_outer_variant_and_this_columns():
    a, b = T(LEFT), T(RIGHT)
    r = a.asof_join_outer(b, a.t, b.t, a.k == b.k).select(pw.this.k, pw.left.x, pw.right.y)
    assert ("b", 4, 30) in rows(r)
    assert (None, None, 30) not in rows(r)


def _random_table(rnd: random.Random, value: str, n: int = 25) -> tuple[str, list]:
    live: dict[int, tuple] = {}
    lines = [f"  | t | k | {value} | __time__ | __diff__"]
    for step in range(n):
        time = 2 * (step // 4 + 1)
        if live and rnd.random() < 0.25:
            key = rnd.choice(sorted(live))
            t, k, v = live.pop(key)
            lines.append(f"{key} | {t} | {k} | {v} | {time} | -1")
        else:
            key = step + 1
            t, k, v = rnd.randint(0, 30), rnd.choice("pq"), rnd.randint(0, 99)
            live[key] = (t, k, v)
            lines.append(f"{key} | {t} | {k} | {v} | {time} | 1")
    return "\n".join(lines), list(live.values())


@pytest.mark.parametrize("seed", range(3))
def test_temporal_joins_equal_brute_force(seed):
    rnd = random.Random(seed)
    ltext, lrows = _random_table(rnd, "x")
    rtext, rrows = _random_table(rnd, "y")
    a, b = T(ltext), T(rtext)

    inner = a.interval_join(b, a.t, b.t, pw.temporal.interval(-3, 2), a.k == b.k).select(
        pw.left.x, pw.right.y)
    expected = [(x, y) for (lt, lk, x) in lrows for (rt, rk, y) in rrows
                if lk == rk and lt - 3 <= rt <= lt + 2]
    assert rows(inner) == sorted(expected, key=repr)

    left = a.interval_join_left(b, a.t, b.t, pw.temporal.interval(-3, 2), a.k == b.k).select(
        pw.left.x, pw.right.y)
    unmatched = [(x, None) for (lt, lk, x) in lrows
                 if not any(lk == rk and lt - 3 <= rt <= lt + 2 for (rt, rk, _) in rrows)]
    assert rows(left) == sorted(expected + unmatched, key=repr)

    windowed = a.window_join(b, a.t, b.t, pw.temporal.sliding(hop=5, duration=10),
                             a.k == b.k).select(pw.left.x, pw.right.y)
    expected_w = []
    for (lt, lk, x) in lrows:
        for (rt, rk, y) in rrows:
            if lk != rk:
                continue
            for start in range(-10, 40, 5):
                if start <= lt < start + 10 and start <= rt < start + 10:
                    expected_w.append((x, y))
    assert rows(windowed) == sorted(expected_w, key=repr)

    asof = a.asof_join_left(b, a.t, b.t, a.k == b.k).select(pw.left.x, rt=pw.right.t)
    expected_a = []
    for (lt, lk, x) in lrows:
        times = [rt for (rt, rk, _) in rrows if rk == lk and rt <= lt]
        expected_a.append((x, max(times) if times else None))
    assert rows(asof) == sorted(expected_a, key=repr)


# --- interval_join --------------------------------------------------------------------------
def test_interval_join_modes():
    a, b = T(LEFT), T(RIGHT)

    def run(how):
        return rows(a.interval_join(b, a.t, b.t, pw.temporal.interval(-2, 1), a.k == b.k,
                                    how=how).select(pw.left.x, pw.right.y))

    inner = [(1, 10), (2, 20), (2, 40)]
    assert run(pw.JoinMode.INNER) == sorted(inner, key=repr)
    assert run(pw.JoinMode.LEFT) == sorted([*inner, (3, None), (4, None)], key=repr)
    assert run(pw.JoinMode.RIGHT) == sorted([*inner, (None, 30)], key=repr)
    assert run(pw.JoinMode.OUTER) == sorted([*inner, (3, None), (4, None), (None, 30)],
                                            key=repr)
    variants = [a.interval_join_inner, a.interval_join_left, a.interval_join_right,
                a.interval_join_outer]
    for variant, how in zip(variants, [pw.JoinMode.INNER, pw.JoinMode.LEFT,
                                       pw.JoinMode.RIGHT, pw.JoinMode.OUTER], strict=True):
        got = rows(variant(b, a.t, b.t, pw.temporal.interval(-2, 1), a.k == b.k).select(
            pw.left.x, pw.right.y))
        assert got == run(how)


def test_interval_join_update_stream_when_a_partner_arrives_and_leaves():
    a = T("""
    t | x | __time__
    5 | 1 | 2
    """)
    b = T("""
      | t | y  | __time__ | __diff__
    1 | 6 | 10 | 4        | 1
    1 | 6 | 10 | 6        | -1
    """)
    r = a.interval_join_left(b, a.t, b.t, pw.temporal.interval(0, 1)).select(
        pw.left.x, pw.right.y)
    assert updates(r) == sorted([
        (1, None, 2, 1), (1, None, 4, -1), (1, 10, 4, 1), (1, 10, 6, -1), (1, None, 6, 1),
    ], key=repr)


def test_interval_join_zero_width_and_float_and_datetime():
    a = T("""
    t   | x
    1.5 | 1
    2.0 | 2
    """)
    b = T("""
    t   | y
    2.0 | 5
    """)
    assert rows(a.interval_join(b, a.t, b.t, pw.temporal.interval(0.5, 0.5)).select(
        pw.left.x, pw.right.y)) == [(1, 5)]
    fmt = "%Y-%m-%dT%H:%M:%S"
    c = T("""
    ts                  | x
    2024-01-01T10:00:00 | 1
    """).select(t=pw.this.ts.dt.strptime(fmt), x=pw.this.x)
    d = T("""
    ts                  | y
    2024-01-01T10:00:50 | 7
    2024-01-01T10:02:00 | 8
    """).select(t=pw.this.ts.dt.strptime(fmt), y=pw.this.y)
    r = c.interval_join(d, c.t, d.t, pw.temporal.interval(datetime.timedelta(0),
                                                          datetime.timedelta(minutes=1)))
    assert rows(r.select(pw.left.x, pw.right.y)) == [(1, 7)]
    with pytest.raises(pw.BuildError, match="timedelta"):
        c.interval_join(d, c.t, d.t, pw.temporal.interval(0, 60))


# --- window_join ------------------------------------------------------------------------------
def test_window_join_tumbling_modes():
    a, b = T(LEFT), T(RIGHT)

    def run(how):
        return rows(a.window_join(b, a.t, b.t, pw.temporal.tumbling(5), a.k == b.k,
                                  how=how).select(pw.left.x, pw.right.y))

    inner = [(1, 10), (1, 40), (2, 20)]
    assert run(pw.JoinMode.INNER) == sorted(inner, key=repr)
    assert run(pw.JoinMode.OUTER) == sorted([*inner, (3, None), (4, None), (None, 30)],
                                            key=repr)
    assert rows(a.window_join_right(b, a.t, b.t, pw.temporal.tumbling(5), a.k == b.k).select(
        pw.left.x, pw.right.y)) == sorted([*inner, (None, 30)], key=repr)


def test_window_join_sessions_are_formed_from_both_sides():
    a = T("""
      | t  | k | x | __time__ | __diff__
    1 | 1  | a | 1 | 2        | 1
    2 | 4  | a | 2 | 2        | 1
    3 | 10 | a | 3 | 2        | 1
    4 | 30 | a | 4 | 2        | 1
    5 | 6  | a | 5 | 4        | 1
    5 | 6  | a | 5 | 6        | -1
    """)
    b = T("""
    t  | k | y  | __time__
    2  | a | 10 | 2
    7  | a | 20 | 2
    12 | b | 30 | 2
    """)
    r = a.window_join_outer(b, a.t, b.t, pw.temporal.session(max_gap=3), a.k == b.k).select(
        pw.left.x, pw.right.y)
    # sessions of key a: {1, 2, 4}, {7}, {10}, {30}; at time 4, x=5 (t=6) bridges the first two
    assert rows(r) == sorted([(1, 10), (2, 10), (3, None), (4, None), (None, 20), (None, 30)],
                             key=repr)
    stream = updates(r)
    assert (1, 20, 4, 1) in stream and (1, 20, 6, -1) in stream
    with pytest.raises(pw.BuildError, match="tumbling, sliding and session"):
        a.window_join(b, a.t, b.t, pw.temporal.intervals_over(at=a.t, lower_bound=0,
                                                               upper_bound=1))


# --- asof_now_join -----------------------------------------------------------------------------
QUERIES = """
  | k | x | __time__ | __diff__
1 | a | 1 | 2        | 1
2 | b | 2 | 2        | 1
1 | a | 1 | 6        | -1
3 | a | 3 | 8        | 1
"""
DATA = """
  | k | y  | __time__ | __diff__
1 | a | 10 | 2        | 1
1 | a | 10 | 4        | -1
2 | a | 20 | 4        | 1
"""


def test_asof_now_join_answers_once_and_is_not_revised():
    q, d = T(QUERIES), T(DATA)
    r = q.asof_now_join(d, q.k == d.k).select(pw.left.x, pw.right.y)
    assert updates(r) == sorted([(1, 10, 2, 1), (1, 10, 6, -1), (3, 20, 8, 1)], key=repr)
    left = q.asof_now_join_left(d, q.k == d.k).select(pw.left.x, pw.right.y)
    assert updates(left) == sorted([
        (1, 10, 2, 1), (2, None, 2, 1), (1, 10, 6, -1), (3, 20, 8, 1)], key=repr)


def test_asof_now_join_with_left_ids():
    q, d = T(QUERIES), T(DATA)
    r = q.asof_now_join_inner(d, q.k == d.k, id=q.id).select(pw.left.x)
    ids = {row_id for row_id in _ids(r)}
    assert ids <= set(_ids(q))


def _ids(table):
    from tests.utils import rows_by_id

    return list(rows_by_id(table))


def test_window_join_outer_keeps_a_row_in_each_window_without_partner():
    a = T("""
    t | x
    5 | 1
    """)
    b = T("""
    t | y
    3 | 7
    """)
    r = a.window_join_outer(b, a.t, b.t, pw.temporal.sliding(hop=2, duration=4)).select(
        pw.left.x, pw.right.y)
    # windows of 5: [2,6) and [4,8); of 3: [0,4) and [2,6): they meet in [2,6) only
    assert rows(r) == sorted([(1, 7), (1, None), (None, 7)], key=repr)


def test_window_join_tumbling_ids_agree_between_window_assignments():
    # Times without a null take the numpy window assignment, a batch with a null time the
    # general one: a row inserted by one and deleted through the other leaves no pair, and
    # the pairs have the ids of a static run (where no time is null).
    a = T("""
      | t | x | __time__ | __diff__
    1 | 1 | 1 | 2        | 1
    2 | 6 | 2 | 2        | 1
    1 | 1 | 1 | 4        | -1
    3 |   | 3 | 4        | 1
    5 | 3 | 5 | 4        | 1
    4 | 7 | 4 | 6        | 1
    2 | 6 | 2 | 8        | -1
    """)
    b = T("""
      | t | y  | __time__
    1 | 2 | 10 | 2
    2 |   | 30 | 2
    3 | 8 | 20 | 2
    """)
    a_final = T("""
      | t | x
    5 | 3 | 5
    4 | 7 | 4
    """)
    b_final = T("""
      | t | y
    1 | 2 | 10
    3 | 8 | 20
    """)

    def joined(left, right, how):
        return left.window_join(right, left.t, right.t, pw.temporal.tumbling(5),
                                how=how).select(pw.left.x, pw.right.y)

    inner = joined(a, b, pw.JoinMode.INNER)
    assert updates(inner) == sorted([
        (1, 10, 2, 1), (2, 20, 2, 1), (1, 10, 4, -1), (5, 10, 4, 1), (4, 20, 6, 1),
        (2, 20, 8, -1),
    ], key=repr)
    for how in (pw.JoinMode.INNER, pw.JoinMode.LEFT, pw.JoinMode.OUTER):
        assert rows_by_id(joined(a, b, how)) == rows_by_id(joined(a_final, b_final, how))
    assert sorted(rows_by_id(inner).values()) == [(4, 20), (5, 10)]
