"""Incremental saves of engine state (``Snapshottable.snapshot_delta``): a whole snapshot
followed by the deltas taken after it, restored in order into a fresh object, is the state of
the original at every step -- through small and large batches, rows added one by one,
retractions, ties, None keys and consolidations."""

from __future__ import annotations

import random

import polars as pl
import pytest

from reflow.engine.batch import DIFF, DIFF_DTYPE
from reflow.engine.state import key_index as key_index_module
from reflow.engine.state.key_index import KEY, KeyIndex
from reflow.engine.state.snapshot import save_state

SCHEMA = {KEY: pl.Int64, "v": pl.String, DIFF: DIFF_DTYPE()}


def _rows(rng: random.Random, count: int, live: list[tuple]) -> list[tuple]:
    """``count`` changes: new rows (keys with ties and None) and retractions of live ones."""
    out = []
    for _ in range(count):
        if live and rng.random() < 0.3:
            key, value, _ = live.pop(rng.randrange(len(live)))
            out.append((key, value, -1))
        else:
            key = None if rng.random() < 0.05 else rng.randrange(40)
            row = (key, f"v{rng.randrange(5)}", 1)
            live.append(row)
            out.append(row)
    return out


def _apply(index: KeyIndex, rng: random.Random, live: list[tuple]) -> None:
    """One step: a large batch, a small batch or rows added one by one."""
    kind = rng.choice(["large", "small", "rows"])
    count = rng.choice([1, 3, 70, 300]) if kind != "large" else rng.choice([100, 2000])
    rows = _rows(rng, count, live)
    if kind == "rows":
        index.insert_rows(rows, SCHEMA)
    else:
        index.insert(pl.DataFrame(rows, schema=SCHEMA, orient="row"))


def _content(index: KeyIndex, keys: list) -> tuple:
    """What a join reads from the index: per key its rows (net of diffs) and count."""
    net: dict[tuple, int] = {}
    for row in index.lookup_rows(keys):
        net[row[:-1]] = net.get(row[:-1], 0) + row[-1]
    rows = sorted(((k, v, d) for (k, v), d in net.items() if d), key=repr)
    return rows, [index.count(k) for k in keys], len(index)


@pytest.mark.parametrize("seed", range(6))
def test_base_and_deltas_restore_the_index_at_every_step(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(key_index_module, "_TAIL_LIMIT", 50)  # tails flushed mid-delta too
    rng = random.Random(seed)
    index, live = KeyIndex(), []
    keys = [None, *range(40)]
    base: bytes | None = None
    deltas: list[bytes] = []
    mark = None
    saw_delta = saw_rewrite = False
    for step in range(40):
        _apply(index, rng, live)
        if step % 7 == 6:
            index.compact()  # as when retractions outnumber live rows
        saved = save_state(index, mark)
        if saved.delta:
            deltas.append(saved.data)
            saw_delta = True
        else:
            saw_rewrite |= mark is not None
            base, deltas = saved.data, []
        mark = saved.mark
        restored = KeyIndex()
        restored.restore(base)
        for delta in deltas:
            restored.restore_delta(delta)
        assert _content(restored, keys) == _content(index, keys)
    assert saw_delta and saw_rewrite  # consolidations happened and were saved whole


def test_a_consolidated_log_is_saved_whole() -> None:
    index = KeyIndex()
    index.insert(pl.DataFrame([(1, "a", 1)], schema=SCHEMA, orient="row"))
    mark = index.checkpoint_mark()
    index.insert(pl.DataFrame([(2, "b", 1)], schema=SCHEMA, orient="row"))
    assert index.snapshot_delta(mark) is not None
    index.compact()
    assert index.snapshot_delta(mark) is None
    assert save_state(index, mark).delta is False


def test_an_unchanged_index_saves_an_empty_delta_and_restored_marks_are_new() -> None:
    index = KeyIndex()
    index.insert_rows([(1, "a", 1), (1, "b", 1)], SCHEMA)
    mark = index.checkpoint_mark()
    delta = index.snapshot_delta(mark)
    assert delta is not None
    fresh = KeyIndex()
    fresh.restore(index.snapshot())
    fresh.restore_delta(delta)
    assert fresh.count(1) == 2
    # A mark of another index (or of this one before a restore) never describes it.
    assert fresh.snapshot_delta(mark) is None
