"""The engine operator behind non-deterministic UDFs: it remembers and forgets output rows."""

import random

import polars as pl

from reflow.engine.batch import DIFF, ID
from reflow.engine.operator import RunContext
from reflow.engine.operators.memo_map import MemoMapOperator
from reflow.engine.operators.stateless import InputOperator


def batch(rows):
    return pl.DataFrame(
        {ID: [r[0] for r in rows], "x": [r[1] for r in rows], DIFF: [r[2] for r in rows]},
        schema={ID: pl.UInt128, "x": pl.Int64, DIFF: pl.Int64},
    )


def random_kernel(frame, ctx):
    return frame.select(ID, DIFF, pl.Series("y", [random.random() for _ in range(frame.height)]))


def test_memory_follows_the_live_rows_through_many_small_updates():
    op = MemoMapOperator(InputOperator("in", {"x": pl.Int64}), random_kernel, "memo")
    rng = random.Random(3)
    live: dict[int, float] = {}
    for time in range(300):
        rows = []
        for key in rng.sample(range(1, 60), 5):
            if key in live:
                rows.append((key, 0, -1))
            else:
                rows.append((key, 0, 1))
        out = op.process(time, [batch(rows)], RunContext())
        for row_id, y, diff in zip(out[ID].to_list(), out["y"].to_list(), out[DIFF].to_list()):
            if diff > 0:
                live[row_id] = y
            else:
                assert live.pop(row_id) == y
        assert op.remembered_rows == len(live)
    assert len(op._chunks) < 20  # merged size-tiered, not one chunk per batch


def test_bulk_insert_then_retraction_of_part():
    op = MemoMapOperator(InputOperator("in", {"x": pl.Int64}), random_kernel, "memo")
    first = op.process(0, [batch([(i, i, 1) for i in range(1, 1001)])], RunContext())
    produced = dict(zip(first[ID].to_list(), first["y"].to_list()))
    out = op.process(1, [batch([(i, i, -1) for i in range(1, 1001, 2)])], RunContext())
    assert out.height == 500
    assert all(produced[i] == y for i, y in zip(out[ID].to_list(), out["y"].to_list()))
    assert set(out[DIFF].to_list()) == {-1}
    assert op.remembered_rows == 500


def test_insertion_and_retraction_in_one_delta_cancel_before_the_memory_is_consulted():
    calls = []

    def counting_kernel(frame, ctx):
        calls.append(frame.height)
        return random_kernel(frame, ctx)

    op = MemoMapOperator(InputOperator("in", {"x": pl.Int64}), counting_kernel, "memo")
    first = op.process(0, [batch([(1, 5, 1)])], RunContext())
    # Time 1: row 1 is updated (-old, +new) and row 2 inserted and deleted at once.
    out = op.process(1, [batch([(2, 7, 1), (1, 5, -1), (1, 6, 1), (2, 7, -1)])], RunContext())
    by_diff = {d: (i, y) for i, y, d in zip(out[ID].to_list(), out["y"].to_list(), out[DIFF])}
    assert sorted(by_diff) == [-1, 1] and out.height == 2
    assert by_diff[-1] == (1, first["y"][0])  # the remembered value, not a new call
    assert by_diff[1][0] == 1
    assert calls == [1, 1]  # only the new version of row 1 was computed
    assert op.remembered_rows == 1
