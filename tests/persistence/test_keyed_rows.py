"""The current rows of a source with a primary key go into checkpoints with its offset: after
a restart from any commit, updates and deletions retract the rows read before."""

from __future__ import annotations

import random
from pathlib import Path

from reflow.engine.batch import DIFF, ID
from reflow.io._connector.events import Change
from reflow.io._connector.reader import KeyedOffset
from reflow.io._connector.rows import RowBuilder
from reflow.plan import dtypes as dt
from reflow.runtime.persistence.backend import Backend
from reflow.runtime.persistence.checkpoint import Checkpoint, CheckpointStore

DTYPES = {"key": dt.INT, "value": dt.STR}


def _builder() -> RowBuilder:
    return RowBuilder(DTYPES, salt="test", where=str, primary_key=["key"])


def _rows(builder: RowBuilder) -> set[tuple]:
    current = builder.keyed_rows().current()
    if current is None:
        return set()
    assert set(current[DIFF].to_list()) == {1}
    return set(current.select("key", "value").iter_rows())


def _commit(rng: random.Random, present: dict[int, str], size: int) -> list[Change]:
    changes = []
    for _ in range(size):
        key = rng.randrange(300)
        if key in present and rng.random() < 0.3:
            del present[key]
            changes.append(Change({"key": key}, "test", delete=True))
        else:
            present[key] = f"v{rng.randrange(10**6)}"
            changes.append(Change({"key": key, "value": present[key]}, "test"))
    return changes


def test_keyed_rows_survive_checkpoints_at_any_commit(tmp_path: Path) -> None:
    rng = random.Random(3)
    builder = _builder()
    present: dict[int, str] = {}
    store = CheckpointStore(Backend.filesystem(str(tmp_path)))
    # Small commits (merged logs) and large ones (compactions into the base rows).
    for commit in range(400):
        batch, errors = builder.to_batch(_commit(rng, present, rng.choice([1, 3, 200])))
        assert not errors and batch is not None
        assert _rows(builder) == set(present.items())
        if commit % 37 == 0:
            offset = KeyedOffset({"stream": commit}, builder.keyed_rows())
            store.save(Checkpoint("f", [], sources={"s": offset}, last_time=commit))
            loaded = CheckpointStore(Backend.filesystem(str(tmp_path))).load_latest()
            assert loaded is not None
            restored = loaded.sources["s"]
            assert isinstance(restored, KeyedOffset) and restored.streams == {"stream": commit}
            fresh = _builder()
            fresh.restore(restored.rows)
            assert _rows(fresh) == set(present.items())
            # The restored reader retracts the previous value of an updated key.
            key, old = next(iter(present.items()))
            batch, _ = fresh.to_batch([Change({"key": key, "value": "new"}, "test")])
            assert batch is not None
            assert sorted(batch.drop(ID).iter_rows()) == [(key, "new", 1), (key, old, -1)]
