"""``KeyIndex`` against a plain model: every lookup, size and count after every change.

The changes mix the index's paths: a first large load with repeated keys (kept as slices of a
sorted array), later large deltas (grouped in bulk) and small ones (key by key), rows added one
by one (``insert_rows``), retractions, ``None`` keys, compaction and a snapshot round trip.
"""

from __future__ import annotations

import random
from collections import Counter

import polars as pl
import pytest

from reflow.engine.state import key_index as key_index_module
from reflow.engine.state.key_index import KeyIndex

SCHEMA = {"_key": pl.Int64, "v": pl.Int64, "_diff": pl.Int64}
KEYS = [*range(40), None]


def _frame(rows: list[tuple]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=SCHEMA, orient="row")


def _net(rows: list[tuple]) -> Counter:
    """Rows as a multiset: the diffs of equal rows summed, zero totals dropped."""
    out: Counter = Counter()
    for key, value, diff in rows:
        out[(key, value)] += diff
    return Counter({row: n for row, n in out.items() if n})


def _check(index: KeyIndex, live: Counter) -> None:
    for key in KEYS:
        expected = Counter({row: n for row, n in live.items() if row[0] == key})
        rows = index.lookup_rows([key])
        assert _net(rows) == expected, key
        assert index.size([key]) == len(rows), key
        assert index.count(key) == sum(expected.values()), key
    for wanted in ([0, 3, None, 7, 999], [*range(-20, 60), None]):  # few and many keys
        expected = Counter({row: n for row, n in live.items() if row[0] in wanted})
        frame = index.lookup(wanted)
        assert _net([] if frame is None else frame.rows()) == expected
        frame = index.lookup_frame(pl.Series(wanted, dtype=pl.Int64))
        assert _net([] if frame is None else frame.rows()) == expected
    assert len(index) == sum(live.values())


def _random_delta(rng: random.Random, live: Counter, size: int, serial: list[int]) -> list:
    """Up to ``size`` changes: retractions of live rows and insertions of new ones."""
    rows = []
    present = list(live.elements())
    rng.shuffle(present)
    for row in present[: rng.randint(0, size // 2)]:
        rows.append((*row, -1))
    while len(rows) < size:
        serial[0] += 1
        rows.append((rng.choice(KEYS), serial[0], 1))
    rng.shuffle(rows)
    return rows


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("first", ["repeated keys", "distinct keys", "few rows"])
@pytest.mark.parametrize("reads", ["after every change", "now and then"])
def test_key_index_matches_a_model_under_random_changes(seed, first, reads, monkeypatch):
    # Rows are indexed when the index is next read: reading now and then indexes the rows of
    # several changes at once (rows added one by one, large deltas, or both), and some
    # snapshots and the compaction come with rows not indexed yet.
    rng = random.Random(seed)
    # A low threshold: rows added one by one are flushed to the log several times.
    monkeypatch.setattr(key_index_module, "_TAIL_LIMIT", 50)
    # ... and the chunks of the log are merged often (the recent ones only, or all).
    monkeypatch.setattr(key_index_module, "_MAX_CHUNKS", 3)
    index = KeyIndex()
    live: Counter = Counter()
    serial = [0]
    if first == "repeated keys":
        load = [(rng.choice(KEYS), i, 1) for i in range(500)]
    elif first == "distinct keys":
        load = [(k, i, 1) for i, k in enumerate(KEYS)]
    else:
        load = [(1, 0, 1), (None, 1, 1)]
    serial[0] = len(load)
    index.insert(_frame(load))
    live.update((k, v) for k, v, _ in load)
    if reads == "after every change":
        _check(index, live)
    for step in range(40):
        size = rng.choice([1, 5, 60, 65, 200, 700])
        delta = _random_delta(rng, live, size, serial)
        if rng.random() < 0.3 and size <= 200:
            index.insert_rows(delta, SCHEMA)
        else:
            index.insert(_frame(delta))
        for key, value, diff in delta:
            live[(key, value)] += diff
        live = +live
        if step % 10 == 9:
            restored = KeyIndex()
            restored.restore(index.snapshot())
            index = restored
        if step == 25:
            index.compact()
        if reads == "after every change" or step % 7 == 6 or step == 39:
            _check(index, live)


def test_a_key_of_the_first_load_keeps_its_rows_after_large_deltas():
    index = KeyIndex()
    index.insert(_frame([(k % 10, k, 1) for k in range(100)]))  # ten rows per key
    # A large delta touching every key: a retraction of one loaded row and a new row each.
    index.insert(_frame([(k, k, -1) for k in range(10)] + [(k, 1000 + k, 1) for k in range(70)]))
    rows = index.lookup_rows([3])
    assert _net(rows) == Counter({(3, v): 1 for v in range(13, 100, 10)} | {(3, 1003): 1})
    assert index.count(3) == 10 and index.count(69) == 1
    # The loaded rows come first, in log order, then the later ones.
    assert [r[1] for r in rows] == [*range(3, 100, 10), 3, 1003]


def test_small_deltas_appended_to_a_large_log_merge_only_recent_chunks(monkeypatch):
    """Many small deltas after a large first load: the chunks appended are merged (the
    log's chunks stay few) and every row can still be read."""
    monkeypatch.setattr(key_index_module, "_MAX_CHUNKS", 4)
    index = KeyIndex()
    index.insert(_frame([(i % 50, i, 1) for i in range(5000)]))
    rows = [(i % 50, i, 1) for i in range(5000)]
    for step in range(60):
        delta = [(step % 50, 10_000 + step, 1), (None, 20_000 + step, 1)]
        index.insert(_frame(delta))
        rows.extend(delta)
        assert index.data is not None and index.data.n_chunks() <= 2 * 4 + 1
    assert Counter(index.data.rows()) == Counter(rows)
    for key in [0, 7, 49, None]:
        assert Counter(index.lookup_rows([key])) == Counter(r for r in rows if r[0] == key)


def test_deltas_of_several_chunks_do_not_have_the_whole_log_copied_at_every_merge(monkeypatch):
    """Deltas made of two chunks each (a retraction part and an insertion part, as
    ``update_rows`` emits them) appended to a large log: merges copy the recent rows, and
    the whole log only once every ``_MAX_CHUNKS`` merges; its chunks stay few and every row
    can still be read."""
    monkeypatch.setattr(key_index_module, "_MAX_CHUNKS", 4)
    copied: list[int] = []
    rechunk = pl.DataFrame.rechunk

    def counted(frame: pl.DataFrame) -> pl.DataFrame:
        copied.append(frame.height)
        return rechunk(frame)

    monkeypatch.setattr(pl.DataFrame, "rechunk", counted)
    index = KeyIndex()
    load = [(i % 50, i, 1) for i in range(20_000)]
    index.insert(_frame(load))
    rows = list(load)
    for step in range(64):
        gone = [(v % 50, v, -1) for v in range(step * 100, step * 100 + 100)]
        new = [(v % 50, 100_000 + v, 1) for v in range(step * 100, step * 100 + 100)]
        delta = pl.concat([_frame(gone), _frame(new)], rechunk=False)
        assert delta.n_chunks() == 2
        index.insert(delta)
        rows.extend(gone + new)
        assert index.data is not None and index.data.n_chunks() <= 1 + 4 + 2 * 4
    # 16 merges: the first and every fifth after it copy the whole log, the others the
    # 800 rows appended since the previous merge.
    assert len(copied) == 16
    assert [h for h in copied if h <= 800] == [800] * 12
    assert Counter(index.data.rows()) == Counter(rows)
    for key in [0, 7, 49]:
        assert Counter(index.lookup_rows([key])) == Counter(r for r in rows if r[0] == key)
