"""A projection after a reduce skips consolidation only when it keeps every reducer column
(and the group ids are hashes of the keys): its updates must then still be consolidated, and
a projection that drops a changed column must cancel the update it hides."""

from __future__ import annotations

import random
from collections import Counter

import pytest

import reflow as pw
from reflow.debug.output import collect_updates
from reflow.engine.dataflow import Dataflow
from reflow.engine.operators import reduce as reduce_engine
from reflow.engine.operators.stateless import MapOperator
from reflow.plan.nodes import Lowering
from tests.utils import T, updates


def _last_map(table: pw.Table) -> MapOperator:
    lowering = Lowering(Dataflow())
    operator = lowering.lower(table._node)
    assert isinstance(operator, MapOperator)
    return operator


def _assert_consolidated(table: pw.Table) -> list[tuple]:
    """The update stream of ``table``; no time may insert and retract one row (id and
    values), nor change a row twice in one direction."""
    names = table.column_names()
    stream = collect_updates(table, terminate_on_error=False)
    counts = Counter((t, i, tuple(r[n] for n in names)) for t, i, r, _ in stream)
    assert max(counts.values(), default=0) == 1, [k for k, c in counts.items() if c > 1]
    return stream


def test_projection_dropping_a_changed_reducer_cancels_the_update():
    t = T("""
      | k | x | __time__ | __diff__
    1 | a | 5 | 2        | 1
    2 | a | 0 | 4        | 1
    """)
    r = t.groupby(t.k).reduce(t.k, n=pw.reducers.count(), s=pw.reducers.sum(t.x))
    dropped = r.select(pw.this.k, pw.this.s)  # time 4 changes n only
    assert not _last_map(dropped).skips_consolidation
    assert updates(dropped) == [("a", 5, 2, 1)]
    kept = r.select(pw.this.s, count=pw.this.n)  # every reducer: the update shows
    assert _last_map(kept).skips_consolidation
    assert updates(kept) == [(5, 1, 2, 1), (5, 1, 4, -1), (5, 2, 4, 1)]


@pytest.mark.parametrize("bulk_min_rows", [1, 10**9])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_projections_after_reduces_match_a_recomputation(monkeypatch, bulk_min_rows, seed):
    """Random updates (small and large times), every reducer kept and keys dropped: the
    stream is consolidated and its final state is the reduce's, projected."""
    monkeypatch.setattr(reduce_engine, "BULK_MIN_ROWS", bulk_min_rows)
    rng = random.Random(seed)
    lines = ["  | k | x | f | __time__ | __diff__"]
    live: dict[int, tuple] = {}
    for step in range(12):
        time = 2 * (step + 1)
        for _ in range(rng.choice([1, 3, 40, 300])):
            label = rng.randrange(60)
            if label in live:
                lines.append(f"{label} | {' | '.join(map(str, live.pop(label)))} | {time} | -1")
                if rng.random() < 0.5:
                    continue
            row = (rng.randrange(5), rng.randrange(-3, 4), rng.choice([0.5, 1.5, -2.0]))
            live[label] = row
            lines.append(f"{label} | {' | '.join(map(str, row))} | {time} | 1")
    t = T("\n".join(lines))
    r = t.groupby(t.k).reduce(
        t.k, n=pw.reducers.count(), s=pw.reducers.sum(t.x), m=pw.reducers.max(t.x),
        a=pw.reducers.avg(t.f),
    )
    projected = r.select(pw.this.m, pw.this.a, total=pw.this.s, n=pw.this.n)
    assert _last_map(projected).skips_consolidation
    stream = _assert_consolidated(projected)
    state: dict = {}
    for _, row_id, row, diff in sorted(stream, key=lambda u: (u[0], u[3] > 0)):
        if diff < 0:
            assert state.pop(row_id) == row
        else:
            assert row_id not in state
            state[row_id] = row
    expected: dict[int, list] = {}
    for k, x, f in live.values():
        expected.setdefault(k, []).append((x, f))
    want = sorted(
        (max(x for x, _ in v), sum(f for _, f in v) / len(v), sum(x for x, _ in v), len(v))
        for v in expected.values()
    )
    got = sorted((r["m"], r["a"], r["total"], r["n"]) for r in state.values())
    assert got == want  # halves add up exactly in any order
