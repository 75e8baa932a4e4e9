"""The frontier-driven engine operators on their own: chunked state, compaction, flushing."""

from __future__ import annotations

import polars as pl

from reflow.engine.batch import DIFF, ID
from reflow.engine.dataflow import Dataflow
from reflow.engine.operators.stateless import InputOperator, OutputOperator
from reflow.engine.operators.temporal import (
    BufferOperator,
    ForgetOperator,
    FrontierOperator,
    IgnoreLateOperator,
)

COLUMNS = {"t": pl.Int64(), "th": pl.Int64()}


def _batch(ids, times, thresholds, diff=1):
    return pl.DataFrame({
        ID: pl.Series(ids, dtype=pl.UInt128),
        "t": pl.Series(times, dtype=pl.Int64),
        "th": pl.Series(thresholds, dtype=pl.Int64),
        DIFF: pl.Series([diff] * len(ids), dtype=pl.Int64),
    })


def _flow(gate_type, **kwargs):
    flow = Dataflow()
    source = flow.add(InputOperator("in", COLUMNS))
    frontier = flow.add(FrontierOperator(source, "t", pl.Int64(), "frontier"))
    gate = flow.add(gate_type(source, frontier, "th", "gate", **kwargs))
    seen: list[tuple[int, pl.DataFrame]] = []
    flow.add(OutputOperator(gate, "out", lambda t, d: seen.append((t, d))))
    return flow, source, gate, seen


def _net(seen):
    total: dict[int, int] = {}
    for _, delta in seen:
        for row_id, diff in zip(delta[ID].to_list(), delta[DIFF].to_list(), strict=True):
            total[row_id] = total.get(row_id, 0) + diff
    return {k: v for k, v in total.items() if v}


def test_forget_compacts_many_chunks_and_retracts_everything_due():
    flow, source, gate, seen = _flow(ForgetOperator)
    for step in range(100):  # thresholds far ahead: nothing is due, chunks pile up
        flow.run_time(step, {source: _batch([step], [step], [1000 + step])})
    assert len(gate.live.chunks) <= 65
    assert gate.state_rows() == 100
    flow.run_time(100, {source: _batch([500], [5000], [10_000])})  # frontier jumps
    flow.run_time(101, {source: _batch([501], [5001], [10_000])})  # forgetting happens now
    assert gate.state_rows() == 2
    assert _net(seen) == {500: 1, 501: 1}


def test_forget_state_cancels_insert_and_delete_of_a_row():
    flow, source, gate, seen = _flow(ForgetOperator)
    flow.run_time(0, {source: _batch([1], [1], [5])})
    flow.run_time(1, {source: _batch([1], [1], [5], diff=-1)})
    flow.run_time(2, {source: _batch([2], [100], [200])})
    flow.run_time(3, {source: _batch([3], [101], [200])})
    assert _net(seen) == {2: 1, 3: 1}
    assert gate.state_rows() == 2


def test_buffer_releases_in_threshold_order_and_flushes_at_the_end():
    flow, source, _, seen = _flow(BufferOperator)
    flow.run_time(0, {source: _batch([1, 2], [1, 2], [10, 20])})
    assert seen == []
    flow.run_time(1, {source: _batch([3], [15], [30])})
    assert [(t, d[ID].to_list()) for t, d in seen] == [(1, [1])]
    flow.finish()  # the input ended: what is still held comes out at one last time
    assert [(t, sorted(d[ID].to_list())) for t, d in seen] == [(1, [1]), (2, [2, 3])]


def test_ignore_late_counts_insertions_only():
    flow, source, gate, seen = _flow(IgnoreLateOperator)
    flow.run_time(0, {source: _batch([1], [50], [60])})
    flow.run_time(1, {source: _batch([2, 3], [10, 11], [20, 21])})
    flow.run_time(2, {source: _batch([2], [10], [20], diff=-1)})
    assert gate.ignored == 2
    assert _net(seen) == {1: 1}
