"""Checkpoint segments read in place from mapped files: a restart restores the same state as
from segments read into memory, a mapped segment damaged everywhere is a clear error (one
damaged segment, read or mapped, falls back as ``test_store`` checks), and the decoded state
does not depend on the mapping (arrays are writable copies)."""

from __future__ import annotations

import mmap
from pathlib import Path

import numpy as np
import polars as pl
import pytest

import reflow as pw
from reflow.engine.state.snapshot import Snapshottable
from reflow.runtime.persistence import backend as backend_module
from reflow.runtime.persistence import checkpoint as checkpoint_module
from reflow.runtime.persistence.checkpoint import CheckpointStore
from tests.engine.replay import by_time, lower, uninterrupted
from tests.persistence.test_store import (
    _join_index,
    _restored,
    _run_and_save,
    _streaming_join,
)


@pytest.fixture
def mapped(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every segment file mapped, however small."""
    monkeypatch.setattr(backend_module, "_MAP_AT_LEAST", 0)


def test_large_segments_are_mapped_and_small_ones_read(tmp_path: Path) -> None:
    backend = pw.persistence.Backend.filesystem(tmp_path)
    backend.put_segment(1, b"x" * 10)
    backend.put_segment(2, b"y" * backend_module._MAP_AT_LEAST)
    assert backend.map_segment(1) == b"x" * 10
    large = backend.map_segment(2)
    assert isinstance(large, memoryview) and isinstance(large.obj, mmap.mmap)
    assert large == b"y" * backend_module._MAP_AT_LEAST


def test_an_empty_segment_file_is_read_not_mapped(tmp_path: Path, mapped: None) -> None:
    backend = pw.persistence.Backend.filesystem(tmp_path)
    backend.put_segment(1, b"")
    assert backend.map_segment(1) == b""


def test_a_restart_from_mapped_segments_restores_the_whole_state(
    tmp_path: Path, mapped: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(checkpoint_module, "MAX_DELTAS", 3)
    expected = uninterrupted(_streaming_join)
    first = lower(_streaming_join)
    times = first.times
    _run_and_save(first, times[:7], CheckpointStore(pw.persistence.Backend.filesystem(tmp_path)))
    second, store = _restored(_streaming_join, tmp_path)
    assert len(store.states[_join_index(second)].refs) > 1  # a snapshot and its deltas
    _run_and_save(second, times[7:9], store)  # checkpoints extend the restored chains
    third, _ = _restored(_streaming_join, tmp_path)
    third.run(times[9:])
    third.finish()
    assert by_time(first.seen + second.seen + third.seen) == expected


def test_every_segment_damaged_is_a_clear_error(tmp_path: Path, mapped: None) -> None:
    first = lower(_streaming_join)
    _run_and_save(first, first.times[:2],
                  CheckpointStore(pw.persistence.Backend.filesystem(tmp_path)))
    for segment in tmp_path.glob("segment-*.bin"):
        segment.write_bytes(segment.read_bytes()[:40])
    with pytest.raises(pw.persistence.PersistenceError, match="no usable checkpoint"):
        CheckpointStore(pw.persistence.Backend.filesystem(tmp_path)).load_latest()


class _Arrays(Snapshottable):
    state_fields = ("arrays", "frame")

    def __init__(self) -> None:
        self.arrays: list[np.ndarray] = []
        self.frame: pl.DataFrame | None = None


def test_state_decoded_from_a_mapped_segment_is_a_writable_copy(
    tmp_path: Path, mapped: None
) -> None:
    state = _Arrays()
    state.arrays = [
        np.arange(12, dtype=np.int64).reshape(3, 4),
        np.asfortranarray(np.arange(6, dtype=np.float32).reshape(2, 3)),
        np.zeros((0, 3), dtype=np.int16),
        np.array([(1, 2.5)], dtype=[("a", "<i4"), ("b", "<f8")]),
        np.arange(5, dtype=">u2"),
    ]
    state.frame = pl.DataFrame({"x": [1, 2, None], "s": ["a", None, "c"]})
    backend = pw.persistence.Backend.filesystem(tmp_path)
    writer = checkpoint_module.SegmentWriter(1)
    ref = writer.add(state.snapshot())
    backend.put_segment(1, writer.encode())
    view = checkpoint_module.SegmentReader(backend.map_segment(1), "segment 1").read(ref)
    fresh = _Arrays()
    fresh.restore(view)
    del view
    for saved, loaded in zip(state.arrays, fresh.arrays, strict=True):
        assert loaded.dtype == saved.dtype and loaded.shape == saved.shape
        assert np.array_equal(loaded, saved)
        assert loaded.flags.writeable and loaded.flags.owndata
        assert loaded.flags.f_contiguous == saved.flags.f_contiguous
    fresh.arrays[0][0, 0] = 99  # operators update arrays in place
    assert fresh.frame is not None and fresh.frame.equals(state.frame)
