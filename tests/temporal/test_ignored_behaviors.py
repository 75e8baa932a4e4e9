"""Session and intervals_over windows with a behavior (accepted and ignored, as in the
reference API) and intervals_over windows per instance. Expected update streams were
checked against the reference implementation."""

from __future__ import annotations

import random

import pytest

import reflow as pw
from tests.utils import T, rows, updates

BEHAVIORS = [
    None,
    pw.temporal.common_behavior(delay=5, cutoff=2, keep_results=False),
    pw.temporal.common_behavior(cutoff=0, keep_results=True),
    pw.temporal.exactly_once_behavior(),
    pw.temporal.exactly_once_behavior(shift=3),
]


@pytest.mark.parametrize("behavior", BEHAVIORS)
def test_session_behavior_is_ignored_with_late_events(behavior):
    # 3 and 4 arrive after the frontier has moved to 20 and 40: still merged into [1, ...]
    t = T("""
    t  | v | __time__
    1  | 1 | 2
    2  | 2 | 2
    20 | 3 | 4
    3  | 4 | 6
    40 | 5 | 8
    4  | 6 | 10
    """)
    r = t.windowby(t.t, window=pw.temporal.session(max_gap=3), behavior=behavior).reduce(
        pw.this._pw_window_start, pw.this._pw_window_end, total=pw.reducers.sum(pw.this.v))
    assert updates(r) == sorted([
        (1, 2, 3, 2, 1),
        (20, 20, 3, 4, 1),
        (1, 2, 3, 6, -1),
        (1, 3, 7, 6, 1),
        (40, 40, 5, 8, 1),
        (1, 3, 7, 10, -1),
        (1, 4, 13, 10, 1),
    ], key=repr)


@pytest.mark.parametrize("behavior", BEHAVIORS[1:3])
def test_session_behavior_split_and_merge_with_deletions(behavior):
    t = T("""
      | t  | k | __time__ | __diff__
    1 | 1  | a | 2        | 1
    2 | 3  | a | 2        | 1
    3 | 5  | a | 2        | 1
    4 | 30 | b | 4        | 1
    2 | 3  | a | 6        | -1
    5 | 2  | b | 8        | 1
    2 | 3  | a | 10       | 1
    """)

    def run(b):
        return t.windowby(t.t, window=pw.temporal.session(max_gap=3), behavior=b,
                          instance=t.k).reduce(pw.this._pw_instance, pw.this._pw_window_start,
                                               pw.this._pw_window_end, n=pw.reducers.count())

    assert updates(run(behavior)) == updates(run(None))
    assert rows(run(behavior)) == [("a", 1, 5, 3), ("b", 2, 2, 1), ("b", 30, 30, 1)]


def test_session_rejects_a_non_behavior():
    t = T("""
    t
    1
    """)
    with pytest.raises(pw.BuildError, match="behavior= must be"):
        t.windowby(t.t, window=pw.temporal.session(max_gap=2), behavior=3)


def _intervals_stream():
    t = T("""
       | t  | k | v | __time__ | __diff__
     1 | 5  | a | 1 | 2        | 1
     2 | 6  | b | 2 | 2        | 1
     3 | 3  | a | 4 | 4        | 1
     1 | 5  | a | 1 | 6        | -1
     4 | 11 | b | 8 | 6        | 1
     1 | 5  | a | 1 | 8        | 1
     2 | 6  | b | 2 | 8        | -1
     2 | 6  | b | 3 | 8        | 1
    """)
    at = T("""
       | a  | __time__ | __diff__
     1 | 6  | 2        | 1
     2 | 20 | 2        | 1
     3 | 12 | 6        | 1
     2 | 20 | 8        | -1
    """)
    return t, at


@pytest.mark.parametrize("behavior", [None, pw.temporal.common_behavior(cutoff=1)])
def test_intervals_over_with_instance_update_stream(behavior):
    t, at = _intervals_stream()
    r = t.windowby(
        t.t, window=pw.temporal.intervals_over(at=at.a, lower_bound=-3, upper_bound=1),
        instance=t.k, behavior=behavior,
    ).reduce(pw.this._pw_window_location, i=pw.this._pw_instance, n=pw.reducers.count(),
             total=pw.reducers.sum(pw.coalesce(pw.this.v, 0)))
    assert updates(r) == sorted([
        (6, "a", 1, 1, 2, 1),
        (6, "b", 1, 2, 2, 1),
        (20, None, 1, 0, 2, 1),
        (6, "a", 1, 1, 4, -1),
        (6, "a", 2, 5, 4, 1),
        (6, "a", 2, 5, 6, -1),
        (6, "a", 1, 4, 6, 1),
        (12, "b", 1, 8, 6, 1),
        (6, "a", 1, 4, 8, -1),
        (6, "b", 1, 2, 8, -1),
        (20, None, 1, 0, 8, -1),
        (6, "a", 2, 5, 8, 1),
        (6, "b", 1, 3, 8, 1),
    ], key=repr)


def test_intervals_over_instance_at_own_column_counts_duplicate_locations():
    # windows are per location: two rows at time 2 give two copies of the same window
    t = T("""
    t | k | __time__
    1 | a | 2
    2 | b | 2
    5 | a | 4
    3 | a | 6
    4 | b | 8
    2 | a | 10
    """)
    r = t.windowby(
        t.t, window=pw.temporal.intervals_over(at=t.t, lower_bound=-2, upper_bound=0),
        instance=t.k,
    ).reduce(pw.this._pw_instance, pw.this._pw_window_start, pw.this._pw_window_end,
             n=pw.reducers.count())
    assert rows(r) == sorted([
        ("a", -1, 1, 1), ("a", 0, 2, 4), ("a", 1, 3, 3), ("a", 2, 4, 2), ("a", 3, 5, 2),
        ("b", 0, 2, 2), ("b", 1, 3, 1), ("b", 2, 4, 2), ("b", 3, 5, 1),
    ], key=repr)


@pytest.mark.parametrize("seed", range(3))
def test_intervals_over_instance_equal_from_scratch(seed):
    rnd = random.Random(seed)
    live: dict[int, tuple[int, str, int]] = {}
    lines = ["  | t | k | v | __time__ | __diff__"]
    for step in range(80):
        time = 2 * (step // 4 + 1)
        if live and rnd.random() < 0.3:
            key = rnd.choice(sorted(live))
            tt, k, v = live.pop(key)
            lines.append(f"{key} | {tt} | {k} | {v} | {time} | -1")
        else:
            tt, k, v = rnd.randint(0, 40), rnd.choice("xy"), rnd.randint(-3, 9)
            live[step + 1] = (tt, k, v)
            lines.append(f"{step + 1} | {tt} | {k} | {v} | {time} | 1")
    t = T("\n".join(lines))
    at = T("""
    a
    3
    10
    17
    25
    60
    """)
    r = t.windowby(
        t.t, window=pw.temporal.intervals_over(at=at.a, lower_bound=-4, upper_bound=2,
                                                is_outer=False),
        instance=t.k, behavior=pw.temporal.common_behavior(delay=1, cutoff=1),
    ).reduce(pw.this._pw_window_location, pw.this._pw_instance,
             total=pw.reducers.sum(pw.this.v), n=pw.reducers.count())
    expected = []
    for a in (3, 10, 17, 25, 60):
        for k in "xy":
            inside = [v for tt, kk, v in live.values() if kk == k and a - 4 <= tt <= a + 2]
            if inside:
                expected.append((a, k, sum(inside), len(inside)))
    assert rows(r) == sorted(expected, key=repr)
