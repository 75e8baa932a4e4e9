"""Behaviors (delay, cutoff, keep_results, exactly once), Table.buffer/forget/ignore_late and
the bounded state of forgetting."""

from __future__ import annotations

import logging

import polars as pl

import reflow as pw
from reflow.engine.batch import DIFF, ID
from reflow.engine.operator import RunContext
from reflow.engine.operators.stateless import OutputOperator
from reflow.engine.operators.temporal import ForgetOperator
from reflow.runtime.runner import OutputSpec, build
from tests.utils import T, rows, updates

STREAM = """
t  | v | __time__
1  | 1 | 2
12 | 2 | 4
5  | 3 | 6
21 | 4 | 8
3  | 5 | 10
30 | 6 | 12
14 | 7 | 14
40 | 8 | 16
"""


def _windowed(behavior) -> pw.Table:
    t = T(STREAM)
    return t.windowby(t.t, window=pw.temporal.tumbling(10), behavior=behavior).reduce(
        s=pw.this._pw_window_start, total=pw.reducers.sum(pw.this.v), n=pw.reducers.count()
    )


def test_delay_holds_results_until_the_frontier_passes_start_plus_delay():
    r = _windowed(pw.temporal.common_behavior(delay=5))
    assert updates(r) == sorted([
        (0, 1, 1, 4, 1),
        (0, 1, 1, 6, -1),
        (0, 4, 2, 6, 1),
        (10, 2, 1, 8, 1),
        (0, 4, 2, 10, -1),
        (0, 9, 3, 10, 1),
        (20, 4, 1, 12, 1),
        (10, 2, 1, 14, -1),
        (10, 9, 2, 14, 1),
        (30, 6, 1, 16, 1),
        (40, 8, 1, 17, 1),  # released when the input ends
    ], key=repr)


def test_cutoff_ignores_late_events_and_counts_them(caplog):
    before = pw.temporal.late_rows_ignored()
    with caplog.at_level(logging.WARNING, logger="reflow.temporal"):
        r = _windowed(pw.temporal.common_behavior(cutoff=5))
        assert rows(r) == [(0, 4, 2), (10, 2, 1), (20, 4, 1), (30, 6, 1), (40, 8, 1)]
    # t=3 (window 0-10 closed at 15 <= 21) and t=14 (window 10-20 closed at 25 <= 30)
    assert pw.temporal.late_rows_ignored() - before == 2
    assert "ignored 1 late event" in caplog.text


def test_keep_results_false_retracts_closed_windows():
    r = _windowed(pw.temporal.common_behavior(cutoff=5, keep_results=False))
    assert updates(r) == sorted([
        (0, 1, 1, 2, 1),
        (10, 2, 1, 4, 1),
        (0, 1, 1, 6, -1),
        (0, 4, 2, 6, 1),
        (20, 4, 1, 8, 1),
        (0, 4, 2, 12, -1),
        (30, 6, 1, 12, 1),
        (10, 2, 1, 16, -1),
        (40, 8, 1, 16, 1),
    ], key=repr)
    assert rows(r) == [(20, 4, 1), (30, 6, 1), (40, 8, 1)]


def test_exactly_once_emits_each_window_once():
    r = _windowed(pw.temporal.exactly_once_behavior())
    stream = updates(r)
    assert all(diff == 1 for *_, diff in stream)
    assert stream == sorted([
        (0, 1, 1, 4, 1),
        (10, 2, 1, 8, 1),
        (20, 4, 1, 12, 1),
        (30, 6, 1, 16, 1),
        (40, 8, 1, 17, 1),
    ], key=repr)
    shifted = _windowed(pw.temporal.exactly_once_behavior(shift=5))
    assert rows(shifted) == [(0, 4, 2), (10, 2, 1), (20, 4, 1), (30, 6, 1), (40, 8, 1)]


def test_deletion_inside_an_open_window_is_applied_and_late_deletion_is_ignored():
    t = T("""
      | t  | v | __time__ | __diff__
    1 | 1  | 1 | 2        | 1
    2 | 2  | 5 | 2        | 1
    2 | 2  | 5 | 4        | -1
    3 | 30 | 1 | 6        | 1
    1 | 1  | 1 | 8        | -1
    """)
    r = t.windowby(t.t, window=pw.temporal.tumbling(10),
                   behavior=pw.temporal.common_behavior(cutoff=5)).reduce(
        s=pw.this._pw_window_start, total=pw.reducers.sum(pw.this.v))
    # the deletion at time 8 concerns a window closed at 15 <= 30: the result is kept
    assert rows(r) == [(0, 1), (30, 1)]


def test_datetime_behavior():
    import datetime

    t = T("""
    ts                  | __time__
    2024-01-01T10:00:10 | 2
    2024-01-01T10:05:00 | 4
    2024-01-01T10:00:20 | 6
    """).select(t=pw.this.ts.dt.strptime("%Y-%m-%dT%H:%M:%S"))
    r = t.windowby(t.t, window=pw.temporal.tumbling(datetime.timedelta(minutes=1)),
                   behavior=pw.temporal.common_behavior(cutoff=datetime.timedelta(minutes=1))
                   ).reduce(s=pw.this._pw_window_start, n=pw.reducers.count())
    assert rows(r) == [(datetime.datetime(2024, 1, 1, 10, 0), 1),
                       (datetime.datetime(2024, 1, 1, 10, 5), 1)]


# --- Table-level gates ------------------------------------------------------------------------
GATE_STREAM = """
t  | __time__
10 | 2
5  | 4
4  | 6
12 | 8
14 | 10
20 | 12
"""


def test_table_ignore_late():
    t = T(GATE_STREAM)
    assert updates(t.ignore_late(t.t, 5)) == [(10, 2, 1), (12, 8, 1), (14, 10, 1), (20, 12, 1)]


def test_table_buffer():
    t = T(GATE_STREAM)
    assert updates(t.buffer(t.t, 5)) == sorted([
        (5, 4, 1), (4, 6, 1), (10, 12, 1), (12, 12, 1), (14, 12, 1), (20, 13, 1)
    ], key=repr)


def test_table_forget():
    t = T(GATE_STREAM + "30 | 14\n")
    assert updates(t.forget(t.t, 5)) == sorted([
        (10, 2, 1), (12, 8, 1), (14, 10, 1), (20, 12, 1), (30, 14, 1),
        (10, 14, -1), (12, 14, -1), (14, 14, -1),
    ], key=repr)


# --- bounded state --------------------------------------------------------------------------
def test_forgotten_windows_leave_no_state_and_results_stay():
    events = pw.Table.empty(t=int, v=int)
    result = events.windowby(
        events.t, window=pw.temporal.tumbling(10),
        behavior=pw.temporal.common_behavior(cutoff=10),
    ).reduce(s=pw.this._pw_window_start, total=pw.reducers.sum(pw.this.v))
    latest: dict = {}

    def sink(time, delta):
        for row in delta.iter_rows(named=True):
            if row[DIFF] > 0:
                latest[row["s"]] = row["total"]
            elif latest.get(row["s"]) == row["total"]:
                del latest[row["s"]]

    spec = OutputSpec(result._node, lambda lw, op: lw.add(OutputOperator(op, "sink", sink)))
    lowering = build([spec], RunContext())
    flow = lowering.dataflow
    source = lowering.lower(events._node)
    (forget,) = [op for op in flow.operators if isinstance(op, ForgetOperator)]
    sizes = []
    for step in range(50):
        times = list(range(step * 10, step * 10 + 10))
        batch = pl.DataFrame({
            ID: pl.Series(times, dtype=pl.UInt128),
            "t": times,
            "v": [1] * 10,
            DIFF: pl.Series([1] * 10, dtype=pl.Int64),
        })
        flow.run_time(step, {source: batch})
        sizes.append(forget.state_rows())
    assert max(sizes[5:]) <= 30
    assert all(latest[s] == 10 for s in range(0, 490, 10))


def test_gates_pass_rows_without_time():
    t = T("""
    t    | __time__
    10   | 2
    None | 4
    20   | 6
    """)
    assert rows(t.buffer(t.t, 5)) == [(10,), (20,), (None,)]
    assert rows(t.ignore_late(t.t, 5)) == [(10,), (20,), (None,)]
    assert rows(t.forget(t.t, 5)) == [(10,), (20,), (None,)]
    assert rows(t.windowby(t.t, window=pw.temporal.tumbling(10)).reduce(
        pw.this._pw_window_start, n=pw.reducers.count())) == [(10, 1), (20, 1)]
