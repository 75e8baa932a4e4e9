"""Windows over a plain time column read it in place (no select adds ``_pw_key`` before the
window kernel): the same rows and ids, at every time, as windows over a computed time, on
random streams with late rows, updates, deletions, small and large times."""

from __future__ import annotations

import random

import pytest

import reflow as pw
from reflow.engine.dataflow import Dataflow
from reflow.engine.operators.stateless import MapOperator
from reflow.plan.nodes import Lowering
from tests.stateful.streams import states
from tests.utils import T


def _stream(rng: random.Random, nulls: bool) -> tuple[str, list[int]]:
    lines = ["  | ts | v | __time__ | __diff__"]
    live: dict[int, tuple] = {}
    times = []
    now = 200
    for step in range(10):
        time = 2 * (step + 1)
        times.append(time)
        for _ in range(rng.choice([1, 2, 5, 30, 250])):
            label = rng.randrange(400)
            if label in live:
                lines.append(f"{label} | {' | '.join(live.pop(label))} | {time} | -1")
                if rng.random() < 0.4:
                    continue
            now += rng.randrange(3)
            ts = now - (rng.randrange(60, 200) if rng.random() < 0.1 else 0)  # late rows
            row = ("None" if nulls and rng.random() < 0.05 else str(ts), str(rng.randrange(9)))
            live[label] = row
            lines.append(f"{label} | {' | '.join(row)} | {time} | 1")
    return "\n".join(lines), times


def _windows(t: pw.Table, time: object, window: pw.temporal.Window) -> pw.Table:
    return pw.temporal.windowby(t, time, window=window).reduce(
        start=pw.this._pw_window_start, end=pw.this._pw_window_end, n=pw.reducers.count(),
        total=pw.reducers.sum(pw.this.v), top=pw.reducers.max(pw.this.v),
    )


def _maps(table: pw.Table) -> int:
    lowering = Lowering(Dataflow())
    lowering.lower(table._node)
    return sum(isinstance(op, MapOperator) for op in lowering.dataflow.operators)


@pytest.mark.parametrize("window", [
    pw.temporal.tumbling(duration=60),
    pw.temporal.tumbling(duration=50, origin=130),
    pw.temporal.sliding(hop=20, duration=60),
])
@pytest.mark.parametrize("nulls", [False, True])
@pytest.mark.parametrize("seed", [1, 2])
def test_a_plain_time_column_gives_the_windows_of_a_computed_time(window, nulls, seed):
    markdown, times = _stream(random.Random(seed), nulls)
    t = T(markdown)
    plain = _windows(t, t.ts, window)
    computed = _windows(t, t.ts + 0, window)  # an expression: a select adds the key first
    assert _maps(plain) == _maps(computed) - 1
    got, want = states(plain, times), states(computed, times)
    assert got == want
    assert any(len(rows) > 3 for rows in got.values())


def test_a_table_with_a_key_column_of_its_own_still_works():
    t = T("""
    _pw_key | ts | v
    9       | 5  | 1
    9       | 61 | 2
    """)
    r = _windows(t, t.ts, pw.temporal.tumbling(duration=60))
    assert sorted(states(r, [0])[0].values()) == [(0, 60, 1, 1, 1), (60, 120, 1, 2, 2)]
