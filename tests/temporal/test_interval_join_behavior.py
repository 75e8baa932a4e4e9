"""interval_join with a behavior (inner joins; a cutoff needs keep_results=False): delayed,
late and forgotten rows, deletions and re-inserts. Expected update streams were checked
against the reference implementation (rows released when the input ends appear here at the
time after the last input time)."""

from __future__ import annotations

import datetime
import random

import pytest

import reflow as pw
from tests.utils import T, rows, updates


def _tables():
    a = T("""
       | t  | x | __time__ | __diff__
     1 | 1  | 1 | 2        | 1
     2 | 10 | 2 | 4        | 1
     3 | 4  | 3 | 6        | 1
     4 | 20 | 4 | 8        | 1
     5 | 12 | 5 | 10       | 1
     2 | 10 | 2 | 12       | -1
     6 | 25 | 6 | 14       | 1
    """)
    b = T("""
       | t  | y | __time__ | __diff__
     1 | 2  | 1 | 2        | 1
     2 | 11 | 2 | 6        | 1
     3 | 5  | 3 | 8        | 1
     4 | 21 | 4 | 10       | 1
     5 | 13 | 5 | 12       | 1
     6 | 3  | 6 | 14       | 1
    """)
    return a, b


def _join(behavior, a=None, b=None):
    if a is None:
        a, b = _tables()
    return a.interval_join(b, a.t, b.t, pw.temporal.interval(-2, 2),
                           behavior=behavior).select(x=pw.left.x, y=pw.right.y)


def test_delay_holds_rows_until_the_side_frontier_passes():
    r = _join(pw.temporal.common_behavior(delay=3))
    assert updates(r) == sorted([
        (1, 1, 6, 1), (3, 1, 6, 1), (3, 3, 8, 1), (2, 2, 10, 1), (5, 2, 10, 1),
        (2, 2, 12, -1), (5, 5, 12, 1), (1, 6, 14, 1), (3, 6, 14, 1), (4, 4, 15, 1),
    ], key=repr)
    # a delay only changes when results appear, not what they finally are
    assert rows(r) == rows(_join(None))


def test_cutoff_ignores_late_rows_and_forgets_old_ones():
    r = _join(pw.temporal.common_behavior(cutoff=4, keep_results=False))
    assert updates(r) == sorted([
        (1, 1, 2, 1), (2, 2, 6, 1), (1, 1, 8, -1), (4, 4, 10, 1), (2, 2, 14, -1),
    ], key=repr)


def test_delay_and_cutoff_measure_lateness_after_the_buffer():
    r = _join(pw.temporal.common_behavior(delay=2, cutoff=3, keep_results=False))
    assert updates(r) == sorted([
        (1, 1, 6, 1), (3, 1, 6, 1), (1, 1, 8, -1), (3, 3, 8, 1), (3, 1, 10, -1),
        (3, 3, 10, -1), (2, 2, 10, 1), (5, 2, 10, 1), (2, 2, 12, -1), (5, 5, 12, 1),
        (5, 2, 15, -1), (5, 5, 15, -1), (4, 4, 15, 1),
    ], key=repr)


def _keyed_tables():
    a = T("""
       | t  | k | x | __time__ | __diff__
     1 | 1  | a | 1 | 2        | 1
     2 | 10 | b | 2 | 4        | 1
     3 | 4  | a | 3 | 6        | 1
     4 | 20 | a | 4 | 8        | 1
     3 | 4  | a | 3 | 10       | -1
     3 | 4  | a | 3 | 12       | 1
     5 | 9  | b | 5 | 12       | 1
    """)
    b = T("""
       | t  | k | y | __time__ | __diff__
     1 | 2  | a | 1 | 2        | 1
     2 | 11 | b | 2 | 6        | 1
     3 | 5  | a | 3 | 8        | 1
     4 | 5  | b | 4 | 8        | 1
     5 | 21 | a | 5 | 10       | 1
     6 | 9  | b | 6 | 12       | 1
    """)
    return a, b


@pytest.mark.parametrize(("behavior", "expected"), [
    (pw.temporal.common_behavior(delay=1), [
        (1, 1, 6, 1), (3, 3, 8, 1), (3, 3, 10, -1), (2, 2, 10, 1), (2, 6, 12, 1),
        (3, 3, 12, 1), (5, 2, 12, 1), (5, 6, 12, 1), (4, 5, 13, 1)]),
    (pw.temporal.common_behavior(cutoff=6, keep_results=False), [
        (1, 1, 2, 1), (2, 2, 6, 1), (1, 1, 8, -1), (4, 5, 10, 1)]),
    (pw.temporal.common_behavior(delay=1, cutoff=2, keep_results=False), [
        (1, 1, 6, 1), (1, 1, 8, -1), (3, 3, 8, 1), (2, 2, 10, 1), (3, 3, 12, -1),
        (5, 2, 12, 1), (4, 5, 13, 1)]),
])
def test_behaviors_with_equality_conditions_and_reinserts(behavior, expected):
    a, b = _keyed_tables()
    r = a.interval_join(b, a.t, b.t, pw.temporal.interval(-1, 3), a.k == b.k,
                        behavior=behavior).select(x=pw.left.x, y=pw.right.y)
    assert updates(r) == sorted(expected, key=repr)


def test_datetime_times_with_timedelta_behavior():
    a = T("""
    t                   | x | __time__
    2024-01-01T00:00:00 | 1 | 2
    2024-01-01T00:10:00 | 2 | 4
    2024-01-01T00:01:00 | 3 | 6
    """)
    b = T("""
    t                   | y | __time__
    2024-01-01T00:00:30 | 1 | 2
    2024-01-01T00:10:30 | 2 | 4
    2024-01-01T00:01:30 | 3 | 6
    """)
    a = a.with_columns(t=a.t.dt.strptime("%Y-%m-%dT%H:%M:%S"))
    b = b.with_columns(t=b.t.dt.strptime("%Y-%m-%dT%H:%M:%S"))
    minute = datetime.timedelta(minutes=1)
    r = a.interval_join(b, a.t, b.t, pw.temporal.interval(-minute, minute),
                        behavior=pw.temporal.common_behavior(
                            cutoff=5 * minute, keep_results=False)).select(pw.left.x, pw.right.y)
    # the rows at minute 1 arrive after minute 10 was seen: too late, ignored; the rows at
    # minute 0 would be forgotten at a later time, but no input comes after
    assert updates(r) == sorted([(1, 1, 2, 1), (2, 2, 4, 1)], key=repr)


@pytest.mark.parametrize("seed", range(3))
def test_delay_only_final_result_equals_from_scratch(seed):
    rnd = random.Random(seed)
    sides = []
    finals = []
    for name in "xy":
        live: dict[int, tuple[int, int]] = {}
        lines = [f"  | t | {name} | __time__ | __diff__"]
        for step in range(50):
            time = 2 * (step // 4 + 1)
            if live and rnd.random() < 0.3:
                key = rnd.choice(sorted(live))
                tt, v = live.pop(key)
                lines.append(f"{key} | {tt} | {v} | {time} | -1")
            else:
                tt, v = rnd.randint(0, 40), step
                live[step + 1] = (tt, v)
                lines.append(f"{step + 1} | {tt} | {v} | {time} | 1")
        sides.append(T("\n".join(lines)))
        finals.append(list(live.values()))
    a, b = sides
    r = a.interval_join(b, a.t, b.t, pw.temporal.interval(-2, 3),
                        behavior=pw.temporal.common_behavior(delay=4)).select(
        pw.left.x, pw.right.y)
    expected = [(x, y) for ta, x in finals[0] for tb, y in finals[1] if ta - 2 <= tb <= ta + 3]
    assert rows(r) == sorted(expected, key=repr)


def test_unsupported_behavior_combinations_are_refused():
    a, b = _tables()
    with pytest.raises(pw.BuildError, match="INNER only"):
        a.interval_join_left(b, a.t, b.t, pw.temporal.interval(-1, 1),
                             behavior=pw.temporal.common_behavior(delay=1))
    with pytest.raises(pw.BuildError, match="keep_results=False"):
        a.interval_join(b, a.t, b.t, pw.temporal.interval(-1, 1),
                        behavior=pw.temporal.common_behavior(cutoff=1))
    with pytest.raises(pw.BuildError, match="common_behavior"):
        a.interval_join(b, a.t, b.t, pw.temporal.interval(-1, 1),
                        behavior=pw.temporal.exactly_once_behavior())


@pytest.mark.parametrize(("cutoff", "expected"), [
    (0, [(1, 1, 2, 1), (1, 1, 4, -1), (2, 2, 6, 1), (2, 2, 8, -1), (4, 4, 10, 1),
         (4, 4, 14, -1)]),
    (1, [(1, 1, 2, 1), (2, 2, 6, 1), (1, 1, 8, -1), (4, 4, 10, 1), (2, 2, 14, -1)]),
])
def test_small_cutoffs_forget_at_the_next_input_of_the_side(cutoff, expected):
    # deletions of rows already forgotten (or ignored) change nothing
    a = T("""
       | t  | x | __time__ | __diff__
     1 | 1  | 1 | 2        | 1
     2 | 10 | 2 | 4        | 1
     3 | 4  | 3 | 6        | 1
     4 | 20 | 4 | 8        | 1
     5 | 12 | 5 | 10       | 1
     2 | 10 | 2 | 12       | -1
     6 | 25 | 6 | 14       | 1
     4 | 20 | 4 | 16       | -1
    """)
    b = T("""
       | t  | y | __time__ | __diff__
     1 | 2  | 1 | 2        | 1
     2 | 11 | 2 | 6        | 1
     3 | 5  | 3 | 8        | 1
     4 | 21 | 4 | 10       | 1
     5 | 13 | 5 | 12       | 1
     6 | 3  | 6 | 14       | 1
     2 | 11 | 2 | 14       | -1
     7 | 30 | 7 | 16       | 1
     5 | 13 | 5 | 18       | -1
    """)
    r = _join(pw.temporal.common_behavior(cutoff=cutoff, keep_results=False), a, b)
    assert updates(r) == sorted(expected, key=repr)
