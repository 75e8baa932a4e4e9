"""windowby: tumbling, sliding and session windows over int, float and datetime times, with
out-of-order events, deletions and agreement with a from-scratch computation."""

from __future__ import annotations

import datetime
import math
import random

import pytest

import reflow as pw
from tests.utils import T, rows, updates


def _sum_per_window(table: pw.Table, window) -> pw.Table:
    return table.windowby(table.t, window=window).reduce(
        start=pw.this._pw_window_start,
        end=pw.this._pw_window_end,
        n=pw.reducers.count(),
        total=pw.reducers.sum(pw.this.v),
    )


def test_tumbling_int_out_of_order_with_update_stream():
    t = T("""
    t  | v | __time__
    1  | 1 | 2
    12 | 2 | 4
    5  | 3 | 6
    21 | 4 | 8
    3  | 5 | 10
    """)
    r = _sum_per_window(t, pw.temporal.tumbling(10))
    assert rows(r) == [(0, 10, 3, 9), (10, 20, 1, 2), (20, 30, 1, 4)]
    assert updates(r) == sorted([
        (0, 10, 1, 1, 2, 1),
        (10, 20, 1, 2, 4, 1),
        (0, 10, 1, 1, 6, -1),
        (0, 10, 2, 4, 6, 1),
        (20, 30, 1, 4, 8, 1),
        (0, 10, 2, 4, 10, -1),
        (0, 10, 3, 9, 10, 1),
    ], key=repr)


def test_tumbling_deletion_and_reinsert_empties_and_refills_a_window():
    t = T("""
      | t  | v | __time__ | __diff__
    1 | 1  | 1 | 2        | 1
    2 | 15 | 2 | 2        | 1
    1 | 1  | 1 | 4        | -1
    1 | 2  | 7 | 6        | 1
    2 | 15 | 2 | 6        | -1
    """)
    r = _sum_per_window(t, pw.temporal.tumbling(10))
    assert rows(r) == [(0, 10, 1, 7)]
    assert updates(r) == sorted([
        (0, 10, 1, 1, 2, 1),
        (10, 20, 1, 2, 2, 1),
        (0, 10, 1, 1, 4, -1),
        (0, 10, 1, 7, 6, 1),
        (10, 20, 1, 2, 6, -1),
    ], key=repr)


def test_tumbling_origin_and_negative_times():
    t = T("""
    t  | v
    -4 | 1
    -1 | 2
    3  | 3
    """)
    r = _sum_per_window(t, pw.temporal.tumbling(5))
    assert rows(r) == sorted([(-5, 0, 2, 3), (0, 5, 1, 3)], key=repr)
    # with an explicit origin no window starts before it: t=-4 falls into none
    r = _sum_per_window(t, pw.temporal.tumbling(5, origin=-2))
    assert rows(r) == sorted([(-2, 3, 1, 2), (3, 8, 1, 3)], key=repr)
    slid = _sum_per_window(t, pw.temporal.sliding(hop=2, duration=4, origin=-1))
    assert rows(slid) == sorted([(-1, 3, 1, 2), (1, 5, 1, 3), (3, 7, 1, 3)], key=repr)


def test_sliding_duration_and_ratio_agree():
    t = T("""
    t | v
    1 | 1
    5 | 2
    6 | 4
    """)
    by_duration = _sum_per_window(t, pw.temporal.sliding(hop=2, duration=4))
    by_ratio = _sum_per_window(t, pw.temporal.sliding(hop=2, ratio=2))
    expected = sorted([(-2, 2, 1, 1), (0, 4, 1, 1), (2, 6, 1, 2), (4, 8, 2, 6), (6, 10, 1, 4)],
                      key=repr)
    assert rows(by_duration) == expected
    assert rows(by_ratio) == expected


def test_float_times():
    t = T("""
    t   | v
    0.5 | 1
    1.4 | 2
    1.6 | 3
    """)
    r = _sum_per_window(t, pw.temporal.tumbling(0.5))
    assert rows(r) == [(0.5, 1.0, 1, 1), (1.0, 1.5, 1, 2), (1.5, 2.0, 1, 3)]


@pytest.mark.parametrize("utc", [False, True])
def test_datetime_times_with_timedelta_durations(utc):
    fmt = "%Y-%m-%dT%H:%M:%S" + ("%z" if utc else "")
    suffix = "+0000" if utc else ""
    t = T(f"""
    ts                      | v
    2024-01-01T10:00:30{suffix} | 1
    2024-01-01T10:00:50{suffix} | 2
    2024-01-01T10:01:10{suffix} | 3
    """).select(t=pw.this.ts.dt.strptime(fmt), v=pw.this.v)
    r = _sum_per_window(t, pw.temporal.tumbling(datetime.timedelta(minutes=1)))
    tz = datetime.UTC if utc else None
    m10 = datetime.datetime(2024, 1, 1, 10, 0, tzinfo=tz)
    m11 = datetime.datetime(2024, 1, 1, 10, 1, tzinfo=tz)
    m12 = datetime.datetime(2024, 1, 1, 10, 2, tzinfo=tz)
    assert rows(r) == [(m10, m11, 2, 3), (m11, m12, 1, 3)]
    with pytest.raises(pw.BuildError, match="timedelta"):
        t.windowby(t.t, window=pw.temporal.tumbling(60)).reduce(n=pw.reducers.count())


def test_instance_and_window_columns():
    t = T("""
    t  | k | v
    1  | a | 1
    2  | b | 2
    11 | a | 3
    """)
    r = t.windowby(t.t, window=pw.temporal.tumbling(10), instance=t.k).reduce(
        pw.this._pw_instance, pw.this._pw_window, total=pw.reducers.sum(t.v)
    )
    assert rows(r) == [("a", ("a", 0, 10), 1), ("a", ("a", 10, 20), 3), ("b", ("b", 0, 10), 2)]
    no_instance = t.windowby(t.t, window=pw.temporal.tumbling(10)).reduce(
        pw.this._pw_window, i=pw.this._pw_instance
    )
    assert rows(no_instance) == [((None, 0, 10), None), ((None, 10, 20), None)]


def test_reduce_rejects_plain_columns():
    t = T("""
    t | v
    1 | 1
    """)
    with pytest.raises(pw.BuildError, match="v"):
        t.windowby(t.t, window=pw.temporal.tumbling(10)).reduce(pw.this.v)


def test_string_time_column_is_rejected():
    t = T("""
    t | v
    a | 1
    """)
    with pytest.raises(pw.BuildError, match="time column"):
        t.windowby(t.t, window=pw.temporal.tumbling(10))


# --- session windows --------------------------------------------------------------------------
def _sessions(table: pw.Table, **kwargs) -> pw.Table:
    return table.windowby(table.t, window=pw.temporal.session(**kwargs)).reduce(
        pw.this._pw_window_start, pw.this._pw_window_end, n=pw.reducers.count()
    )


def test_session_merges_when_a_late_event_bridges_two_sessions():
    t = T("""
    t  | __time__
    1  | 2
    3  | 2
    6  | 2
    10 | 4
    8  | 6
    """)
    r = _sessions(t, max_gap=3)
    assert rows(r) == [(1, 3, 2), (6, 10, 3)]
    assert updates(r) == sorted([
        (1, 3, 2, 2, 1),
        (6, 6, 1, 2, 1),
        (10, 10, 1, 4, 1),
        (6, 6, 1, 6, -1),
        (10, 10, 1, 6, -1),
        (6, 10, 3, 6, 1),
    ], key=repr)


def test_session_splits_when_the_bridging_event_is_deleted():
    t = T("""
      | t  | __time__ | __diff__
    1 | 1  | 2        | 1
    2 | 3  | 2        | 1
    3 | 5  | 2        | 1
    2 | 3  | 4        | -1
    2 | 3  | 6        | 1
    """)
    r = _sessions(t, max_gap=3)
    assert updates(r) == sorted([
        (1, 5, 3, 2, 1),
        (1, 5, 3, 4, -1),
        (1, 1, 1, 4, 1),
        (5, 5, 1, 4, 1),
        (1, 1, 1, 6, -1),
        (5, 5, 1, 6, -1),
        (1, 5, 3, 6, 1),
    ], key=repr)


def test_session_predicate_and_instances():
    t = T("""
    t  | k
    1  | a
    2  | a
    2  | b
    10 | a
    """)
    r = t.windowby(
        t.t, window=pw.temporal.session(predicate=lambda a, b: b - a <= 1), instance=t.k
    ).reduce(pw.this._pw_instance, pw.this._pw_window_start, n=pw.reducers.count())
    assert rows(r) == [("a", 1, 2), ("a", 10, 1), ("b", 2, 1)]


def test_session_needs_exactly_one_rule():
    t = T("""
    t
    1
    """)
    with pytest.raises(pw.BuildError, match="exactly one"):
        t.windowby(t.t, window=pw.temporal.session())


# --- agreement with a from-scratch computation --------------------------------------------------
def _random_stream(seed: int, n: int = 60) -> tuple[str, list[tuple[int, int]]]:
    """A markdown update stream (inserts, deletes, re-inserts, out of order) and its final
    rows as (t, v)."""
    rnd = random.Random(seed)
    live: dict[int, tuple[int, int]] = {}
    lines = ["  | t | v | __time__ | __diff__"]
    next_key = 0
    for step in range(n):
        time = 2 * (step // 3 + 1)
        if live and rnd.random() < 0.3:
            key = rnd.choice(sorted(live))
            t, v = live.pop(key)
            lines.append(f"{key} | {t} | {v} | {time} | -1")
        else:
            next_key += 1
            t, v = rnd.randint(-20, 60), rnd.randint(-5, 9)
            live[next_key] = (t, v)
            lines.append(f"{next_key} | {t} | {v} | {time} | 1")
    return "\n".join(lines), list(live.values())


@pytest.mark.parametrize("seed", range(4))
def test_windows_equal_from_scratch(seed):
    text, final = _random_stream(seed)
    t = T(text)
    hop, duration = 4, 10
    r = _sum_per_window(t, pw.temporal.sliding(hop=hop, duration=duration))
    expected: dict[tuple[int, int], list[int]] = {}
    for time, v in final:
        k = math.floor(time / hop)
        while k * hop > time - duration:
            acc = expected.setdefault((k * hop, k * hop + duration), [0, 0])
            acc[0] += 1
            acc[1] += v
            k -= 1
    assert rows(r) == sorted(((s, e, n, tot) for (s, e), (n, tot) in expected.items()), key=repr)

    sessions = _sessions(t, max_gap=4)
    times = sorted(time for time, _ in final)
    groups: list[list[int]] = []
    for time in times:
        if groups and time - groups[-1][-1] < 4:
            groups[-1].append(time)
        else:
            groups.append([time])
    assert rows(sessions) == sorted(((g[0], g[-1], len(g)) for g in groups), key=repr)


# --- intervals_over ---------------------------------------------------------------------------
def test_intervals_over_outer_and_inner():
    t = T("""
    t | v
    1 | 1
    3 | 2
    6 | 3
    8 | 5
    """)
    at = T("""
    a
    4
    20
    """)

    def run(is_outer):
        return rows(t.windowby(t.t, window=pw.temporal.intervals_over(
            at=at.a, lower_bound=-3, upper_bound=2, is_outer=is_outer)).reduce(
            pw.this._pw_window_location, pw.this._pw_window_start, pw.this._pw_window_end,
            n=pw.reducers.count(), m=pw.reducers.max(pw.this.v)))

    assert run(False) == [(4, 1, 6, 3, 3)]
    assert run(True) == [(20, 17, 22, 1, None), (4, 1, 6, 3, 3)]


def test_intervals_over_follows_changes_of_both_tables():
    t = T("""
      | t | v | __time__ | __diff__
    1 | 1 | 1 | 2        | 1
    2 | 5 | 2 | 4        | 1
    1 | 1 | 1 | 6        | -1
    """)
    at = T("""
    a | __time__
    2 | 2
    5 | 8
    """)
    r = t.windowby(t.t, window=pw.temporal.intervals_over(
        at=at.a, lower_bound=-1, upper_bound=1, is_outer=False)).reduce(
        pw.this._pw_window_location, total=pw.reducers.sum(pw.this.v))
    assert updates(r) == sorted([(2, 1, 2, 1), (2, 1, 6, -1), (5, 2, 8, 1)], key=repr)


@pytest.mark.parametrize("seed", range(3))
def test_sessions_per_instance_equal_from_scratch(seed):
    rnd = random.Random(seed)
    live: dict[int, tuple[int, str]] = {}
    lines = ["  | t | k | __time__ | __diff__"]
    for step in range(120):
        time = 2 * (step // 5 + 1)
        if live and rnd.random() < 0.3:
            key = rnd.choice(sorted(live))
            t, k = live.pop(key)
            lines.append(f"{key} | {t} | {k} | {time} | -1")
        else:
            t, k = rnd.randint(0, 150), rnd.choice("xyz")
            live[step + 1] = (t, k)
            lines.append(f"{step + 1} | {t} | {k} | {time} | 1")
    t = T("\n".join(lines))
    r = t.windowby(t.t, window=pw.temporal.session(max_gap=5), instance=t.k).reduce(
        pw.this._pw_instance, pw.this._pw_window_start, pw.this._pw_window_end,
        n=pw.reducers.count())
    expected = []
    for k in "xyz":
        times = sorted(time for time, kk in live.values() if kk == k)
        groups: list[list[int]] = []
        for time in times:
            if groups and time - groups[-1][-1] < 5:
                groups[-1].append(time)
            else:
                groups.append([time])
        expected += [(k, g[0], g[-1], len(g)) for g in groups]
    assert rows(r) == sorted(expected, key=repr)


@pytest.mark.parametrize("origin", [None, 7, -13])
@pytest.mark.parametrize("per_time", [1, 3, 400])
def test_tumbling_int_windows_match_a_from_scratch_count(origin, per_time):
    # Integer tumbling windows take a one-division path; small and large batches per time
    # must both give the windows a plain computation gives.
    rng = random.Random(per_time * 31 + (origin or 0))
    times = [rng.randint(-200, 200) for _ in range(1200)]
    lines = ["t | v | __time__"]
    lines += [f"{t} | {i % 7} | {2 + 2 * (i // per_time)}" for i, t in enumerate(times)]
    table = pw.debug.table_from_markdown("\n".join(lines))
    r = _sum_per_window(table, pw.temporal.tumbling(10, origin=origin))
    base = origin or 0
    expected: dict[int, list[int]] = {}
    for i, t in enumerate(times):
        if origin is not None and t < origin:
            continue
        start = base + (t - base) // 10 * 10
        entry = expected.setdefault(start, [0, 0])
        entry[0] += 1
        entry[1] += i % 7
    assert sorted(rows(r)) == sorted((s, s + 10, n, total) for s, (n, total) in expected.items())


def test_new_datetime_group_keys_keep_nanoseconds():
    # Group keys first seen beside known ones are hashed on their own; datetimes one
    # nanosecond apart must stay two groups.
    t = pw.debug.table_from_markdown("""
    ns                  | __time__
    1704067200000000000 | 2
    1704067200000000000 | 4
    1704067200000000001 | 4
    1704067200000000001 | 4
    """).select(t=pw.this.ns.dt.from_timestamp(unit="ns"))
    r = t.groupby(t.t).reduce(n=pw.reducers.count())
    assert rows(r) == [(2,), (2,)]
