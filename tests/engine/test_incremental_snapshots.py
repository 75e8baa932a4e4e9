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
from reflow.engine.state.snapshot import decode, save_state

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
            deltas.append(saved.blob)
            saw_delta = True
        else:
            saw_rewrite |= mark is not None
            base, deltas = saved.blob, []
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


def _order(index: KeyIndex, keys: list) -> tuple:
    """What lookups return: per key its rows in their order, its size, and the rows of one
    lookup of every key at once (the path for many keys, which groups the rows of the
    first load's slices before the others: their order across keys is not kept)."""
    rows = [index.lookup_rows([key]) for key in keys]
    sizes = [index.size([key]) for key in keys]
    many = index.lookup(keys)
    return rows, sizes, None if many is None else sorted(many.rows(), key=repr), len(index)


@pytest.mark.parametrize("seed", range(8))
def test_a_delta_longer_than_its_log_is_indexed_in_bulk_as_the_log_was(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A delta at least as long as the log it extends (a checkpoint taken early in a large
    load, by a version that saved such deltas) is restored by indexing the whole log again
    in bulk: every key then has the rows it has in the original, in the same order, for
    small and large states and deltas."""
    monkeypatch.setattr(key_index_module, "_WHOLE_FROM", 10**9)  # always saved as deltas
    rng = random.Random(seed)
    keys = [None, *range(40)]
    index, live = KeyIndex(), []
    base_rows = rng.choice([0, 5, 100, 3000])
    if base_rows:
        index.insert(pl.DataFrame(_rows(rng, base_rows, live), schema=SCHEMA, orient="row"))
    if rng.random() < 0.5:
        index.insert_rows(_rows(rng, 5, live), SCHEMA)  # a tail in the base snapshot
    base = index.snapshot()
    mark = index.checkpoint_mark()
    index.insert(pl.DataFrame(_rows(rng, base_rows + rng.choice([64, 500, 5000]), live),
                              schema=SCHEMA, orient="row"))
    delta = index.snapshot_delta(mark)
    assert delta is not None
    restored = KeyIndex()
    restored.restore(base)
    restored.restore_delta(delta)
    assert _order(restored, keys) == _order(index, keys)
    assert _content(restored, keys) == _content(index, keys)
    # The restored index goes on like the original.
    more = _rows(rng, 300, live)
    for target in (index, restored):
        target.insert(pl.DataFrame(more, schema=SCHEMA, orient="row"))
    assert _order(restored, keys) == _order(index, keys)
    later = restored.snapshot_delta(restored.checkpoint_mark())
    assert later is not None


def test_a_large_delta_after_a_large_snapshot_is_indexed_in_bulk(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []
    original = KeyIndex._reindex
    monkeypatch.setattr(KeyIndex, "_reindex", lambda self, *a: (calls.append(1),
                                                                 original(self, *a))[1])
    rng = random.Random(3)
    index, live = KeyIndex(), []
    index.insert(pl.DataFrame(_rows(rng, 1000, live), schema=SCHEMA, orient="row"))
    base, mark = index.snapshot(), index.checkpoint_mark()
    index.insert(pl.DataFrame(_rows(rng, 100, live), schema=SCHEMA, orient="row"))
    small, mark = index.snapshot_delta(mark), index.checkpoint_mark()
    index.insert(pl.DataFrame(_rows(rng, 2000, live), schema=SCHEMA, orient="row"))
    large = index.snapshot_delta(mark)
    restored = KeyIndex()
    restored.restore(base)
    restored.restore_delta(small)
    assert not calls  # a short delta is indexed key by key
    restored.restore_delta(large)
    assert calls == [1]
    keys = [None, *range(40)]
    assert _order(restored, keys) == _order(index, keys)


def test_a_delta_as_long_as_the_log_before_it_is_saved_whole(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows appended since a mark at least as many as the log held then (and more than a
    few), in a log mostly indexed: the state is saved whole, which restores its index as it
    is. A log mostly not indexed yet (never read since) is saved as a delta all the same."""
    monkeypatch.setattr(key_index_module, "_WHOLE_FROM", 100)
    rng = random.Random(5)
    index, live = KeyIndex(), []
    index.insert(pl.DataFrame(_rows(rng, 150, live), schema=SCHEMA, orient="row"))
    mark = index.checkpoint_mark()
    index.insert(pl.DataFrame(_rows(rng, 149, live), schema=SCHEMA, orient="row"))
    index.count(0)  # read: every row indexed
    assert save_state(index, mark).delta  # fewer rows than before: a delta
    index.insert_rows(_rows(rng, 1, live), SCHEMA)
    index.count(0)
    saved = save_state(index, mark)
    assert not saved.delta  # as many as before: whole
    unread = KeyIndex()
    unread.insert(pl.DataFrame(_rows(rng, 150, live), schema=SCHEMA, orient="row"))
    unread_mark = unread.checkpoint_mark()
    unread.insert(pl.DataFrame(_rows(rng, 200, live), schema=SCHEMA, orient="row"))
    assert save_state(unread, unread_mark).delta  # nothing indexed: a delta
    restored = KeyIndex()
    restored.restore(saved.blob)
    keys = [None, *range(40)]
    assert _order(restored, keys) == _order(index, keys)
    small = KeyIndex()
    mark = small.checkpoint_mark()
    small.insert(pl.DataFrame(_rows(rng, 99, live), schema=SCHEMA, orient="row"))
    assert save_state(small, mark).delta  # a few rows into an empty log: still a delta


@pytest.mark.parametrize("seed", range(6))
def test_a_snapshot_packs_the_lists_of_the_index_and_restores_the_same_lookups(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Keys with several positions (a slice of the first load, a list, or both) are saved
    as slices of one array; restored, every key has the same rows in the same order and
    the index goes on like the original."""
    monkeypatch.setattr(key_index_module, "_PACK_FROM", 8)
    rng = random.Random(seed)
    keys = [None, *range(300)]

    def batch(count: int) -> pl.DataFrame:
        return pl.DataFrame(
            [(rng.choice(keys), f"v{rng.randrange(9)}", rng.choice([1, 1, 1, -1]))
             for _ in range(count)], schema=SCHEMA, orient="row")

    index = KeyIndex()
    # Each step is read (``count``), as a join reads between times: the rows appended
    # since the last read are indexed then, into slices (first load), lists and ints.
    if rng.random() < 0.7:
        index.insert(batch(rng.choice([500, 3000])))  # a first load: slices
        index.count(None)
    for _ in range(rng.randrange(1, 5)):
        index.insert(batch(rng.choice([10, 200, 2000])))  # lists, ints
        index.count(None)
        index.insert_rows(batch(rng.choice([1, 30])).rows(), SCHEMA)
        index.count(None)
    listed = sum(type(found) is list for found in index.index.values())
    restored = KeyIndex()
    restored.restore(index.snapshot())
    packed = not any(type(found) is list for found in restored.index.values())
    assert packed == (listed >= 8)
    assert _order(restored, keys) == _order(index, keys)
    more = batch(700)
    for target in (index, restored):
        target.insert(more)
        target.insert_rows([(5, "x", 1), (None, "y", 1)], SCHEMA)
    assert _order(restored, keys) == _order(index, keys)
    again = KeyIndex()
    again.restore(restored.snapshot())
    assert _order(again, keys) == _order(index, keys)


def test_a_snapshot_saves_rows_not_indexed_yet_without_indexing_them(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows never read since they arrived (one side of a streaming join) are saved as they
    are: neither the snapshot nor the restore indexes them; the restored index indexes them
    when it is first read and answers as the original. A snapshot of an index with every
    row indexed has the fields of earlier versions (no ``_pending``)."""
    rng = random.Random(11)
    keys = [None, *range(40)]
    index, live = KeyIndex(), []
    index.insert(pl.DataFrame(_rows(rng, 500, live), schema=SCHEMA, orient="row"))
    index.count(0)  # the first load is indexed
    assert "_pending" not in decode(index.snapshot())
    index.insert(pl.DataFrame(_rows(rng, 3000, live), schema=SCHEMA, orient="row"))
    index.insert_rows(_rows(rng, 5, live), SCHEMA)  # and a tail of rows added one by one
    calls: list[int] = []
    original = KeyIndex._index_rows
    monkeypatch.setattr(KeyIndex, "_index_rows",
                        lambda self, batch, start: (calls.append(batch.height),
                                                    original(self, batch, start))[1])
    data = index.snapshot()
    restored = KeyIndex()
    restored.restore(data)
    assert calls == []
    assert decode(data)["_pending"] == 3005
    assert _order(restored, keys) == _order(index, keys)
    assert calls  # indexed when read
    assert _content(restored, keys) == _content(index, keys)
