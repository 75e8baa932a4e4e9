"""Every stateful operator through the persistence layer: incremental checkpoints written by a
``CheckpointStore`` after each time (operators that can save their changes only -- joins --
write a snapshot and then deltas), loaded by a fresh store, restored into a fresh dataflow
that goes on checkpointing and is restored again -- the output equals an uninterrupted run at
every time."""

from __future__ import annotations

import contextlib
from pathlib import Path

import polars as pl
import pytest

import reflow as pw
from reflow.engine.state.snapshot import SnapshotError
from reflow.runtime.persistence import backend as backend_module
from reflow.runtime.persistence import checkpoint as checkpoint_module
from reflow.runtime.persistence.checkpoint import Checkpoint, CheckpointStore
from reflow.runtime.persistence.run import state_formats
from reflow.runtime.persistence.segments import SegmentReader, SegmentWriter
from tests.engine.cases import CASES
from tests.engine.replay import by_time, lower, uninterrupted


def _save(store: CheckpointStore, dataflow, sources: dict | None = None) -> None:
    stateful = dataflow.stateful_indices()
    store.save(
        Checkpoint(fingerprint=dataflow.fingerprint(), operators=[], sources=sources or {},
                   last_time=dataflow.last_time, state_formats=state_formats(dataflow)),
        versions={i: dataflow.versions[i] for i in stateful},
        snapshot=dataflow.save_states,
    )


def _run_and_save(built, times: list[int], store: CheckpointStore) -> None:
    for t in times:
        built.run([t])
        with contextlib.suppress(SnapshotError):  # busy operators postpone a checkpoint
            _save(store, built.dataflow)  # one per time: most refer to older segments


def _restored(case, state: Path) -> tuple:
    """A fresh build of ``case`` restored from the newest checkpoint in ``state``, and the
    store that loaded it (which goes on from there)."""
    store = CheckpointStore(pw.persistence.Backend.filesystem(state))
    loaded = store.load_latest()
    assert loaded is not None and loaded.states is not None
    built = lower(case)
    built.dataflow.restore_states(loaded.states, loaded.last_time, loaded.state_deltas)
    store.restored(built.dataflow.checkpoint_marks(loaded.states))
    return built, store


def _interrupted(case, splits: tuple[int, int], state: Path) -> dict:
    """Run ``case`` to ``splits[0]``, restart from the checkpoint, run to ``splits[1]``
    (checkpoints extending the restored chains), restart again and finish."""
    first = lower(case)
    times = first.times
    _run_and_save(first, times[:splits[0]], CheckpointStore(
        pw.persistence.Backend.filesystem(state)))
    second, store = _restored(case, state)
    _run_and_save(second, times[splits[0]:splits[1]], store)
    third, _ = _restored(case, state)
    third.run(times[splits[1]:])
    third.finish()
    return by_time(first.seen + second.seen + third.seen)


#: Chain settings: (MAX_SEGMENTS, MAX_DELTAS, MAX_DELTA_RATIO).
SETTINGS = {
    "defaults": (checkpoint_module.MAX_SEGMENTS, checkpoint_module.MAX_DELTAS,
                 checkpoint_module.MAX_DELTA_RATIO),
    "whole checkpoints often": (2, 8, 1e9),  # global compaction every third checkpoint
    "short chains": (100, 2, 1e9),  # per-operator chains restarted every third save
    "small deltas": (100, 32, 0.5),  # chains restarted when their deltas outweigh half the base
}


#: The cases with an operator that saves deltas get every setting; the others one.
RUNS = [(name, settings) for name in sorted(CASES) for settings in sorted(SETTINGS)
        if settings == "whole checkpoints often" or name.startswith("join")]


@pytest.mark.parametrize(("name", "settings"), RUNS)
def test_incremental_checkpoints_restore_every_stateful_operator(
    name: str, settings: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    segments, deltas, ratio = SETTINGS[settings]
    monkeypatch.setattr(checkpoint_module, "MAX_SEGMENTS", segments)
    monkeypatch.setattr(checkpoint_module, "MAX_DELTAS", deltas)
    monkeypatch.setattr(checkpoint_module, "MAX_DELTA_RATIO", ratio)
    monkeypatch.setattr(checkpoint_module, "_DELTA_SLACK", 0)
    case = CASES[name]
    expected = uninterrupted(case)
    built = lower(case)
    positions = list(built.splits or range(1, len(built.times)))
    for first in positions:
        later = [p for p in positions if p > first] or [first]
        second = later[len(later) // 2]
        got = _interrupted(case, (first, second), tmp_path / f"state{first}")
        assert got == expected, f"{name}: restored at {built.times[first]}, {built.times[second]}"


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


def _streaming_join():
    """A join whose left side grows by 200 rows (with a few retractions) at each of 12
    times."""
    lines = ["k | v | __time__ | __diff__"]
    for time in range(2, 26, 2):
        for i in range(200):
            lines.append(f"{(time * 200 + i) % 17} | {time * 1000 + i} | {time} | 1")
        if time > 2:
            lines.append(f"{(time * 200 - 200) % 17} | {time * 1000 - 2000} | {time} | -1")
    left = pw.debug.table_from_markdown("\n".join(lines))
    right = pw.debug.table_from_markdown("""
    k | w | __time__
    1 | 10 | 2
    2 | 20 | 2
    3 | 30 | 4
    """)
    return left.join(right, left.k == right.k).select(left.v, right.w)


def _join_index(built) -> int:
    return next(op.index for op in built.dataflow.operators if type(op).__name__ == "JoinOperator")


def test_join_checkpoints_write_the_rows_added_since_the_previous_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(checkpoint_module, "MAX_DELTAS", 3)
    monkeypatch.setattr(checkpoint_module, "MAX_DELTA_RATIO", 1e9)
    built = lower(_streaming_join)
    join = _join_index(built)
    backend = pw.persistence.Backend.filesystem(tmp_path)
    store = CheckpointStore(backend)
    chains, sizes = [], []
    for time in built.times:
        built.run([time])
        _save(store, built.dataflow)
        chains.append(len(store.states[join].refs))
        sizes.append(store.states[join].refs[-1].size)
    # A snapshot, then 3 deltas, then a snapshot again (the chain is started anew).
    assert chains == [1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3, 4]
    # A delta holds the rows of one time: it does not grow with the state, a snapshot does.
    deltas = [s for s, n in zip(sizes, chains, strict=True) if n > 1]
    assert max(deltas) < sizes[8] / 3 and sizes[8] > sizes[4] > sizes[0]
    expected = uninterrupted(_streaming_join)
    restored, _ = _restored(_streaming_join, tmp_path)
    restored.finish()
    assert by_time(built.seen) == expected and restored.dataflow.last_time == built.times[-1]


@pytest.mark.parametrize("reading", ["read", "mapped"])
@pytest.mark.parametrize("damage", ["flipped byte", "truncated", "cut mid-entry"])
def test_a_damaged_delta_falls_back_to_the_previous_checkpoint(
    damage: str, reading: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The newest segment damaged, whether read into memory or mapped (every file mapped,
    however small): the restart names it, says why, and restores the checkpoint before."""
    if reading == "mapped":
        monkeypatch.setattr(backend_module, "_MAP_AT_LEAST", 0)
    monkeypatch.setattr(checkpoint_module, "MAX_DELTA_RATIO", 1e9)
    expected = uninterrupted(_streaming_join)
    first = lower(_streaming_join)
    times = first.times
    _run_and_save(first, times[:6], CheckpointStore(pw.persistence.Backend.filesystem(tmp_path)))
    newest = tmp_path / "segment-000000000006.bin"
    data = newest.read_bytes()
    newest.write_bytes({
        "flipped byte": data[:-3] + bytes([data[-3] ^ 0xFF]) + data[-2:],
        "truncated": data[:-5],
        "cut mid-entry": data[:len(data) // 2],
    }[damage])
    with caplog.at_level("WARNING", logger="reflow"):
        second, store = _restored(_streaming_join, tmp_path)
    assert "segment-000000000006.bin" in caplog.text
    assert ("checksum" if damage == "flipped byte" else "truncated") in caplog.text
    assert second.dataflow.last_time == times[4]  # the checkpoint before the damaged one
    assert len(store.states[_join_index(second)].refs) == 5  # its snapshot and 4 deltas
    second.run(times[5:])
    second.finish()
    assert by_time(first.seen[:_seen_until(first.seen, times[4])] + second.seen) == expected


def _seen_until(seen: list[tuple], time: int) -> int:
    """How many recorded changes are of times up to ``time``."""
    return sum(1 for change in seen if change[0] <= time)


def test_a_chain_whose_deltas_outweigh_its_snapshot_is_started_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(checkpoint_module, "MAX_DELTA_RATIO", 2.0)
    monkeypatch.setattr(checkpoint_module, "_DELTA_SLACK", 0)
    built = lower(_streaming_join)
    join = _join_index(built)
    store = CheckpointStore(pw.persistence.Backend.filesystem(tmp_path))
    restarts = 0
    for time in built.times:
        built.run([time])
        _save(store, built.dataflow)
        base, *deltas = store.states[join].refs
        restarts += not deltas
        # Deltas are added while they weigh at most twice the snapshot (the last one may
        # go beyond); then the next save is whole.
        assert sum(d.size for d in deltas[:-1]) <= 2.0 * base.size
    assert restarts >= 3  # the first snapshot and at least two restarts (a growing state)


def test_an_entry_given_as_pieces_is_stored_as_their_concatenation(tmp_path: Path) -> None:
    """A state's bytes handed over in pieces (``SavedState.data``) make the same segment
    as the joined bytes, with the same checksum, and a file backend writes them as such."""
    pieces = [b"RFLW", b"", b"x" * 70_000, b"tail"]
    joined, split = SegmentWriter(3), SegmentWriter(3)
    first = joined.add(b"small"), joined.add(b"".join(pieces))
    second = split.add(b"small"), split.add(pieces)
    assert first == second and joined.size == split.size == len(split.encode())
    assert split.encode() == joined.encode()
    backend = pw.persistence.Backend.filesystem(tmp_path)
    backend.put_segment_pieces(3, split.pieces())
    stored = SegmentReader(backend.get_segment(3), "segment 3")
    assert bytes(stored.read(second[1])) == b"".join(pieces)
