"""Every stateful operator through the persistence layer: incremental checkpoints written by a
``CheckpointStore`` after each time, loaded by a fresh store, restored into a fresh dataflow
that goes on -- the output equals an uninterrupted run at every time."""

from __future__ import annotations

import contextlib
from pathlib import Path

import polars as pl
import pytest

import reflow as pw
from reflow.engine.state.snapshot import SnapshotError
from reflow.runtime.persistence import checkpoint as checkpoint_module
from reflow.runtime.persistence.checkpoint import Checkpoint, CheckpointStore
from reflow.runtime.persistence.run import state_formats
from tests.engine.cases import CASES
from tests.engine.replay import by_time, lower, uninterrupted


def _save(store: CheckpointStore, dataflow, sources: dict | None = None) -> None:
    stateful = dataflow.stateful_indices()
    store.save(
        Checkpoint(fingerprint=dataflow.fingerprint(), operators=[], sources=sources or {},
                   last_time=dataflow.last_time, state_formats=state_formats(dataflow)),
        versions={i: dataflow.versions[i] for i in stateful},
        snapshot=dataflow.snapshot_states,
    )


def _interrupted(case, split_at: int, state: Path) -> dict:
    first = lower(case)
    store = CheckpointStore(pw.persistence.Backend.filesystem(state))
    for t in first.times[:split_at]:
        first.run([t])
        with contextlib.suppress(SnapshotError):  # busy operators postpone a checkpoint
            _save(store, first.dataflow)  # one per time: most refer to older segments
    loaded = CheckpointStore(pw.persistence.Backend.filesystem(state)).load_latest()
    assert loaded is not None and loaded.states is not None
    second = lower(case)
    second.dataflow.restore_states(loaded.states, loaded.last_time)
    second.run(first.times[split_at:])
    second.finish()
    return by_time(first.seen + second.seen)


@pytest.mark.parametrize("name", sorted(CASES))
def test_incremental_checkpoints_restore_every_stateful_operator(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(checkpoint_module, "MAX_SEGMENTS", 2)  # compaction happens too
    case = CASES[name]
    expected = uninterrupted(case)
    built = lower(case)
    for split_at in built.splits or range(1, len(built.times)):
        got = _interrupted(case, split_at, tmp_path / f"state{split_at}")
        assert got == expected, f"{name}: restored at {built.times[split_at]}"


def test_unchanged_state_and_frames_are_not_written_again(tmp_path: Path) -> None:
    case = CASES[sorted(CASES)[0]]
    built = lower(case)
    built.run(built.times[:2])
    backend = pw.persistence.Backend.filesystem(tmp_path)
    store = CheckpointStore(backend)
    frames = [pl.DataFrame({"x": list(range(1000))})]
    _save(store, built.dataflow, {"source": {"live": frames}})
    assert backend.segment_numbers() == [1]
    # Nothing ran, the offset holds the same frame object: the second checkpoint is a
    # manifest referring to the first one's segment.
    _save(store, built.dataflow, {"source": {"live": list(frames)}})
    assert backend.sequence_numbers() == [1, 2] and backend.segment_numbers() == [1]
    frames.append(pl.DataFrame({"x": [5]}))
    _save(store, built.dataflow, {"source": {"live": list(frames)}})
    assert backend.segment_numbers() == [1, 3]
    loaded = CheckpointStore(backend).load_latest()
    assert [f["x"].to_list()[-1] for f in loaded.sources["source"]["live"]] == [999, 5]


def test_a_damaged_segment_falls_back_to_a_checkpoint_that_does_not_use_it(
    tmp_path: Path
) -> None:
    case = CASES[sorted(CASES)[0]]
    built = lower(case)
    backend = pw.persistence.Backend.filesystem(tmp_path)
    store = CheckpointStore(backend)
    built.run(built.times[:1])
    _save(store, built.dataflow, {"s": {"live": [pl.DataFrame({"x": [1, 2]})]}})
    _save(store, built.dataflow, {"s": {"live": [pl.DataFrame({"x": [3, 4]})]}})
    newest = tmp_path / "segment-000000000002.bin"
    data = bytearray(newest.read_bytes())
    data[-3] ^= 0xFF
    newest.write_bytes(bytes(data))
    loaded = CheckpointStore(backend).load_latest()
    assert loaded.sources["s"]["live"][0]["x"].to_list() == [1, 2]
    (tmp_path / "segment-000000000001.bin").write_bytes(b"garbage")
    with pytest.raises(pw.persistence.PersistenceError, match=r"segment-000000000001\.bin"):
        CheckpointStore(backend).load_latest()
