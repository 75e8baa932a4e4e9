"""The reduce's insert-only path (whole groups of insertions at once, winners of max/min/argmax/
argmin/any found per group) gives the same update stream as the row-by-row path, over streams
mixing insert-only times with times that retract rows, with ties, None and NaN values."""

from __future__ import annotations

import math
import random

import pytest

import reflow as pw
from reflow.engine.operators import reduce as reduce_engine
from tests.utils import updates

GROUPS = ("a", "b", "c", "d")


def _stream(seed: int, values: list) -> list[tuple]:
    """``(g, v, time, diff)`` rows: at each time some insertions and, at every third time,
    retractions of live rows (possibly the current extreme)."""
    rng = random.Random(seed)
    live: list[tuple] = []
    out: list[tuple] = []
    serial = 0
    for time in range(2, 40, 2):
        if time % 6 == 0 and live:
            for row in rng.sample(live, k=min(len(live), rng.randint(1, 4))):
                live.remove(row)
                out.append((*row, time, -1))
        for _ in range(rng.randint(1, 12)):
            serial += 1
            row = (rng.choice(GROUPS), rng.choice(values), serial)
            live.append(row)
            out.append((*row, time, 1))
    return out


def _reduced_updates(stream: list[tuple], value_type: type, insert_only: bool,
                     monkeypatch: pytest.MonkeyPatch) -> list[tuple]:
    monkeypatch.setattr(reduce_engine, "INSERT_ONLY_PATH", insert_only)
    t = pw.debug.table_from_rows(
        pw.schema_from_types(g=str, v=value_type | None, n=int), stream, is_stream=True
    )
    r = t.groupby(t.g).reduce(
        t.g,
        hi=pw.reducers.max(t.v),
        lo=pw.reducers.min(t.v),
        top=pw.reducers.argmax(t.v),
        bottom=pw.reducers.argmin(t.v),
        first=pw.reducers.any(t.n),
        count=pw.reducers.count(),
        total=pw.reducers.sum(t.n),
        all_n=pw.reducers.sorted_tuple(t.n),
    )
    # NaN != NaN: compare it as a marker
    return [tuple("NaN" if isinstance(x, float) and math.isnan(x) else x for x in u)
            for u in updates(r)]


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize(
    ("value_type", "values"),
    [
        (int, [1, 2, 2, 3, 3, 3]),  # many ties
        (int, [None, 1, 5, 5, None]),  # None sorts below every value
        (float, [0.5, -1.0, 2.5, 2.5, None]),
        (float, [0.5, math.nan, 1.5, None]),  # NaN: the row-by-row path is taken
    ],
)
def test_insert_only_path_matches_row_by_row(monkeypatch, seed, value_type, values):
    stream = _stream(seed, values)
    fast = _reduced_updates(stream, value_type, True, monkeypatch)
    slow = _reduced_updates(stream, value_type, False, monkeypatch)
    assert fast == slow
    assert any(diff < 0 for *_, diff in fast)  # outputs did change over time


def test_insert_only_path_is_taken_for_insertions(monkeypatch):
    """An insert-only batch goes through ``_insert_only`` (not a no-op switch)."""
    taken: list[int] = []
    original = reduce_engine.ReduceOperator._insert_only

    def counting(self, delta, *args):
        taken.append(delta.height)
        return original(self, delta, *args)

    monkeypatch.setattr(reduce_engine.ReduceOperator, "_insert_only", counting)
    t = pw.debug.table_from_rows(
        pw.schema_from_types(g=str, v=int), [("a", 1, 2, 1), ("a", 3, 2, 1), ("b", 2, 4, 1)],
        is_stream=True,
    )
    r = t.groupby(t.g).reduce(t.g, hi=pw.reducers.max(t.v))
    assert sorted(updates(r)) == [("a", 3, 2, 1), ("b", 2, 4, 1)]
    assert taken == [2, 1]
