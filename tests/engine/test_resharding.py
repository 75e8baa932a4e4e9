"""Operator state moved from N workers to M (``reflow.engine.resharding``): whole pipelines
run on N worker threads up to a time, their state re-partitioned by key for M workers and
the rest run there, emit the one-worker update stream at every time. Large batches take the
bulk paths (columnar reduce tier, bulk-loaded join arrangements), small ones the per-row
paths; retractions, ties, None keys and values, and groups that empty are covered."""

from __future__ import annotations

import random
from collections.abc import Callable

import pandas as pd
import pytest

import reflow as pw
from reflow.engine.operators.reduce import BULK_MIN_ROWS
from reflow.engine.state.snapshot import SnapshotError
from tests.engine.replay import lower, rescaled, uninterrupted

COUNTS = [(2, 1), (2, 3), (3, 2), (1, 4)]


def _rows(seed: int = 3) -> pd.DataFrame:
    """A stream: a bulk load (more rows than the reduce's bulk threshold) at time 2, small
    changes with retractions and ties at times 4 and 6, a large retraction at 8; an event
    time ``ts`` that moves forward with the logical time, some rows late."""
    rng = random.Random(seed)
    rows: list[tuple] = []
    ids: list[int] = []
    live: list[tuple[int, tuple]] = []

    def insert(row: tuple, time: int) -> None:
        live.append((len(rows), row))
        ids.append(len(rows))
        rows.append((*row, time, 1))

    def retract(time: int) -> None:
        row_id, row = live.pop(rng.randrange(len(live)))
        ids.append(row_id)
        rows.append((*row, time, -1))

    for i in range(BULK_MIN_ROWS + 500):
        insert((None if i % 97 == 0 else rng.randrange(300), i % 7,
                None if i % 53 == 0 else rng.randrange(50), rng.randrange(30)), 2)
    for time in (4, 6):
        for _ in range(40):
            retract(time)
            insert((rng.randrange(320), rng.randrange(7), rng.randrange(50),
                    time * 10 + rng.randrange(-15, 15)), time)
    for _ in range(BULK_MIN_ROWS // 2):
        retract(8)
    frame = pd.DataFrame(rows, columns=["k", "g", "v", "ts", "__time__", "__diff__"], dtype=object,
                         index=ids)
    return frame.astype({"g": int, "ts": int, "__time__": int, "__diff__": int})


ROWS = _rows()


class Row(pw.Schema):
    k: int | None
    g: int
    v: int | None
    ts: int


def _table() -> pw.Table:
    return pw.debug.table_from_pandas(ROWS, schema=Row)


def _sums() -> pw.Table:
    t = _table()
    return t.groupby(t.k).reduce(t.k, c=pw.reducers.count(), s=pw.reducers.sum(t.g),
                                 a=pw.reducers.avg(t.g))


def _distinct() -> pw.Table:
    t = _table()
    return t.groupby(t.g).reduce(t.g, d=pw.reducers.count_distinct(t.k))


def _picking() -> pw.Table:
    t = _table()
    return t.groupby(t.k, t.g).reduce(t.k, t.g, m=pw.reducers.max(t.v), n=pw.reducers.min(t.v),
                                       c=pw.reducers.count())


def _global() -> pw.Table:
    t = _table()
    return t.reduce(c=pw.reducers.count(), m=pw.reducers.max(t.g))


def _join(how: str) -> Callable[[], pw.Table]:
    def build() -> pw.Table:
        t = _table()
        small = t.filter(t.g == 3)
        joined = getattr(t, f"join_{how}")(small, t.k == small.k)
        return joined.select(a=t.v, b=small.v)
    return build


def _join_by_left_id() -> pw.Table:
    t = _table()
    totals = t.groupby(t.k).reduce(t.k, s=pw.reducers.sum(t.g))
    return t.join(totals, t.k == totals.k, id=t.id).select(t.v, totals.s)


def _windows() -> pw.Table:
    t = _table()
    return t.windowby(t.g, window=pw.temporal.tumbling(duration=3)).reduce(
        start=pw.this._pw_window_start, m=pw.reducers.max(pw.this.v), c=pw.reducers.count())


def _behaviors(behavior: object) -> Callable[[], pw.Table]:
    def build() -> pw.Table:
        t = _table()
        return t.windowby(t.ts, window=pw.temporal.tumbling(duration=5),
                          behavior=behavior).reduce(
            start=pw.this._pw_window_start, s=pw.reducers.sum(pw.this.g),
            c=pw.reducers.count())
    return build


def _update_rows() -> pw.Table:
    t = _table()
    changed = t.filter(t.g == 3).select(k=t.k, g=t.g + 10, v=t.v, ts=t.ts)
    return t.update_rows(changed)


def _intersect() -> pw.Table:
    t = _table()
    return t.intersect(t.filter(t.g < 3))


def _deduplicate() -> pw.Table:
    t = _table()
    return t.deduplicate(value=t.ts, instance=t.g, acceptor=lambda new, old: new > old)


CASES = {
    "sums": _sums, "distinct": _distinct, "picking": _picking, "global": _global,
    "inner": _join("inner"), "left": _join("left"), "outer": _join("outer"),
    "by_left_id": _join_by_left_id, "windows": _windows, "update_rows": _update_rows,
    "intersect": _intersect,
    "forgetting": _behaviors(pw.temporal.common_behavior(delay=4, cutoff=8,
                                                         keep_results=False)),
    "exactly_once": _behaviors(pw.temporal.exactly_once_behavior()),
    "deduplicate": _deduplicate,
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_state_moved_to_another_worker_count_continues_the_one_worker_stream(
    name: str,
) -> None:
    case = CASES[name]
    expected = uninterrupted(case)
    times = lower(case).times
    for (before, after), split_at in zip(COUNTS, [1, 2, 3, 2], strict=True):
        assert split_at < len(times)
        assert rescaled(case, before, after, split_at) == expected, (before, after, split_at)


def test_an_operator_that_cannot_move_its_state_is_named() -> None:
    def case() -> pw.Table:
        t = _table()
        return t.sort(key=t.ts, instance=t.g)

    with pytest.raises(SnapshotError, match=r"SortOperator .* cannot be moved"):
        rescaled(case, 2, 3, 2)
