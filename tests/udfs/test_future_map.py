"""The engine operator that delivers fully asynchronous results as later updates."""

import polars as pl

from reflow.engine.batch import DIFF, ID
from reflow.engine.dataflow import Dataflow
from reflow.engine.operators.future_map import (
    FutureInbox,
    FutureMapOperator,
    PendingCall,
    wake_batch,
)
from reflow.engine.operators.stateless import InputOperator, OutputOperator

SCHEMA = {ID: pl.UInt128, "x": pl.Int64, "y": pl.Object, "_y_err": pl.Boolean, DIFF: pl.Int64}


def build():
    flow = Dataflow()
    rows = flow.add(InputOperator("rows", {k: v for k, v in SCHEMA.items() if k not in (ID, DIFF)}))
    wake = flow.add(InputOperator("wake", {}))
    inbox = FutureInbox()
    op = flow.add(FutureMapOperator(rows, wake, SCHEMA, {"y": "_y_err"}, inbox, "future"))
    seen = []
    flow.add(OutputOperator(op, "out", lambda t, d: seen.extend(
        (t, r["_id"], r["x"], repr(r["y"]), r["_y_err"], r[DIFF]) for r in d.rows(named=True)
    )))
    return flow, rows, wake, inbox, op, seen


def delta(rows):
    """rows: (id, x, y, diff)"""
    return pl.DataFrame(
        {ID: [r[0] for r in rows], "x": [r[1] for r in rows], "y": [r[2] for r in rows],
         "_y_err": [False] * len(rows), DIFF: [r[3] for r in rows]},
        schema=SCHEMA,
    )


def test_pending_then_result_at_a_later_time():
    flow, rows, wake, inbox, op, seen = build()
    a, b = PendingCall(), PendingCall()
    flow.run_time(2, {rows: delta([(1, 10, a, 1), (2, 20, b, 1)])})
    inbox.put(a, 11)
    flow.run_time(4, {wake: wake_batch()})
    assert sorted(seen) == sorted([
        (2, 1, 10, "Pending", False, 1),
        (2, 2, 20, "Pending", False, 1),
        (4, 1, 10, "Pending", False, -1),
        (4, 1, 10, "11", False, 1),
    ])
    assert op.outstanding == 1


def test_result_is_never_applied_in_the_time_that_created_it():
    flow, rows, wake, inbox, _op, seen = build()
    a = PendingCall()
    inbox.put(a, 1)  # finished before its row reached the operator
    flow.run_time(2, {rows: delta([(1, 10, a, 1)]), wake: wake_batch()})
    assert seen == [(2, 1, 10, "Pending", False, 1)]
    flow.run_time(4, {wake: wake_batch()})
    assert seen[1:] == [(4, 1, 10, "Pending", False, -1), (4, 1, 10, "1", False, 1)]


def test_retraction_before_completion_drops_the_result():
    flow, rows, wake, inbox, op, seen = build()
    a = PendingCall()
    flow.run_time(2, {rows: delta([(1, 10, a, 1)])})
    flow.run_time(4, {rows: delta([(1, 10, a, -1)])})
    inbox.put(a, 11)
    flow.run_time(6, {wake: wake_batch()})
    assert seen == [(2, 1, 10, "Pending", False, 1), (4, 1, 10, "Pending", False, -1)]
    assert op.outstanding == 0


def test_retraction_after_completion_retracts_the_result():
    flow, rows, wake, inbox, _op, seen = build()
    a = PendingCall()
    flow.run_time(2, {rows: delta([(1, 10, a, 1)])})
    inbox.put(a, 11)
    flow.run_time(4, {wake: wake_batch()})
    # The select retracts what it emitted (the pending row); the operator retracts the result.
    flow.run_time(6, {rows: delta([(1, 10, a, -1)])})
    assert seen[-1] == (6, 1, 10, "11", False, -1)


def test_update_while_pending_and_a_failed_call():
    flow, rows, wake, inbox, op, seen = build()
    a, b = PendingCall(), PendingCall()
    flow.run_time(2, {rows: delta([(1, 10, a, 1)])})
    flow.run_time(4, {rows: delta([(1, 10, a, -1), (1, 12, b, 1)])})
    inbox.put(a, 11)  # stale: its row was replaced
    inbox.put(b, ValueError("boom"), failed=True)
    errors = []
    flow.attach_error_log(flow.add(InputOperator("log", {})), lambda e: errors.extend(e) or None)
    flow.run_time(6, {wake: wake_batch()})
    assert [(e.operator, e.message, e.row_id) for e in errors] == [
        ("future", "ValueError: boom", 1)
    ]
    assert seen[-2:] == [(6, 1, 12, "Pending", False, -1), (6, 1, 12, "None", True, 1)]
    assert op.outstanding == 0
