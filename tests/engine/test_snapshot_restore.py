"""Snapshot every stateful operator mid-stream, restore into a fresh dataflow, go on: the output
must be exactly that of an uninterrupted run, at every time."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import polars as pl
import pytest

import reflow.engine
from reflow.engine.dataflow import Dataflow
from reflow.engine.operator import Operator
from reflow.engine.operators.stateless import InputOperator
from reflow.engine.state.snapshot import SnapshotError
from tests.engine.cases import CASES
from tests.engine.replay import interrupted, lower, stateful_classes, uninterrupted


def all_stateful_operator_classes() -> set[type]:
    """Every concrete operator class of the engine that keeps state, wherever it is defined
    in ``reflow.engine``."""
    found = set()
    for info in pkgutil.walk_packages(reflow.engine.__path__, "reflow.engine."):
        module = importlib.import_module(info.name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if (issubclass(cls, Operator) and cls.stateful and not cls.__name__.startswith("_")
                    and cls.__module__ == module.__name__):
                found.add(cls)
    return found


def test_every_stateful_operator_is_covered_by_a_case():
    covered = set()
    for case in CASES.values():
        covered |= stateful_classes(lower(case))
    missing = all_stateful_operator_classes() - covered
    assert not missing, f"no snapshot/restore case builds {sorted(c.__name__ for c in missing)}"


def test_every_stateful_operator_names_its_state():
    unnamed = [c.__name__ for c in all_stateful_operator_classes() if not c.state_fields]
    assert not unnamed


@pytest.mark.parametrize("name", sorted(CASES))
def test_restored_run_equals_uninterrupted_run(name):
    case = CASES[name]
    expected = uninterrupted(case)
    built = lower(case)
    splits = built.splits or range(1, len(built.times))
    assert len(built.times) >= 3 and expected, "the case must have a stream worth splitting"
    for split_at in splits:
        got = interrupted(case, split_at)
        assert got == expected, f"{name}: restored at {built.times[split_at]}"


@pytest.mark.parametrize("name", sorted(CASES))
def test_without_restore_the_output_differs(name):
    """The cases exercise state: continuing on a fresh dataflow that was *not* restored
    gives another output (so the test above can fail)."""
    case = CASES[name]
    expected = uninterrupted(case)
    built = lower(case)
    splits = built.splits or range(1, len(built.times))
    assert any(_differs(case, s, expected) for s in splits)


def _differs(case, split_at, expected) -> bool:
    try:
        return interrupted(case, split_at, restore=False) != expected
    except ValueError:  # e.g. a retraction of a row the fresh state never saw
        return True


def _tiny_flow(extra: bool = False) -> Dataflow:
    from reflow.engine.operators.ordered import SortOperator

    flow = Dataflow()
    source = flow.add(InputOperator("in", {"k": pl.Int64}))
    flow.add(SortOperator(source, "sort#3 at pipeline.py:7", "k"))
    if extra:
        flow.add(SortOperator(source, "sort#4 at pipeline.py:8", "k"))
    return flow


def test_restore_refuses_a_different_plan():
    data = _tiny_flow().snapshot()
    with pytest.raises(SnapshotError, match=r"different dataflow.*SortOperator"):
        _tiny_flow(extra=True).restore(data)


def test_plan_node_numbers_and_code_locations_do_not_change_the_fingerprint():
    flow = _tiny_flow()
    other = _tiny_flow()
    other.operators[1].name = "sort#99 at pipeline.py:7"
    assert flow.fingerprint() == other.fingerprint()
    other.operators[1].name = "sort#3 at pipeline.py:9"  # code moved: the same plan
    assert flow.fingerprint() == other.fingerprint()
    other.operators[1].structure = "sort|{'k':INT}|key='k'"  # what it computes differs
    assert flow.fingerprint() != other.fingerprint()


def test_restore_refuses_garbage_and_a_dataflow_that_ran():
    with pytest.raises(SnapshotError, match="not a reflow state snapshot"):
        _tiny_flow().restore(b"hello")
    data = _tiny_flow().snapshot()
    with pytest.raises(SnapshotError, match="truncated"):
        _tiny_flow().restore(data[:-3])
    ran = _tiny_flow()
    ran.run_time(0, {})
    with pytest.raises(SnapshotError, match="has not run"):
        ran.restore(data)


def test_future_map_refuses_a_snapshot_while_calls_are_running():
    built = lower(CASES["future_map"])
    built.run(built.times[:1])
    with pytest.raises(SnapshotError, match="2 asynchronous call"):
        built.dataflow.snapshot()


# --- the byte format ---------------------------------------------------------------------------


def test_frames_with_object_columns_series_and_arrays_round_trip():
    import numpy as np

    from reflow.engine.state.snapshot import decode, encode

    frame = pl.DataFrame({
        "_id": pl.Series([1, 2**127], dtype=pl.UInt128),
        "when": pl.Series([1, 2], dtype=pl.Datetime("ns", "UTC")),
        "obj": pl.Series([(1, "a"), {"k": [1]}], dtype=pl.Object),
        "s": ["x", None],
    })
    fields = {"frame": frame, "again": frame, "series": frame["s"], "empty": frame.clear(),
              "array": np.arange(3, dtype=np.uint64),
              "objects": np.array([None, "a"], dtype=object), "plain": {1: [2, 3]}}
    back = decode(encode(fields))
    assert back["frame"].schema == frame.schema
    assert back["frame"].select("_id", "when", "s").equals(frame.select("_id", "when", "s"))
    assert back["frame"]["obj"].to_list() == [(1, "a"), {"k": [1]}]
    assert back["again"] is back["frame"]  # one frame referenced twice is stored once
    assert back["series"].name == "s" and back["series"].to_list() == ["x", None]
    assert back["empty"].schema == frame.schema and back["empty"].height == 0
    assert back["array"].dtype == np.uint64 and back["array"].tolist() == [0, 1, 2]
    assert back["objects"].tolist() == [None, "a"]
    assert back["plain"] == {1: [2, 3]}


def test_a_snapshot_restores_into_the_fresh_objects_and_checks_its_fields():
    from reflow.engine.state.row_store import RowStore

    store = RowStore({"x": pl.Int64})
    store.apply(pl.DataFrame({"_id": [1, 2], "x": [10, 20], "_diff": [1, 1]},
                             schema={"_id": pl.UInt128, "x": pl.Int64, "_diff": pl.Int64}))
    fresh = RowStore({"x": pl.Int64})
    fresh.restore(store.snapshot())
    assert fresh.gather([fresh.ref(2), fresh.ref(1)])["x"].to_list() == [20, 10]
    with pytest.raises(SnapshotError, match="no state field"):
        fresh.load_state({"columns": {}})


def test_no_snapshot_in_the_middle_of_a_time():
    from reflow.engine.operators.stateless import OutputOperator

    flow = Dataflow()
    source = flow.add(InputOperator("in", {"k": pl.Int64}))
    refused = []

    def on_time(time, delta):
        with pytest.raises(SnapshotError, match="time 4 is not complete"):
            flow.snapshot()
        refused.append(time)

    flow.add(OutputOperator(source, "out", on_time))
    batch = pl.DataFrame({"_id": [1], "k": [5], "_diff": [1]},
                         schema={"_id": pl.UInt128, "k": pl.Int64, "_diff": pl.Int64})
    flow.run_time(4, {source: batch})
    assert refused == [4]
    assert flow.snapshot()  # between two times
