"""Filters over small batches evaluate simple conditions on numpy (``plan/small_masks.py``);
they must keep exactly the rows the Polars filter keeps, with nulls, retractions and batches
larger than the numpy path takes."""

from __future__ import annotations

import random

import pytest

import reflow as pw
from reflow.engine.operators import stateless
from reflow.plan import expr as ex
from reflow.plan.small_masks import small_mask
from tests.utils import rows, updates

STATES = ["OR", "CA", "ID", "NY", "é", ""]


def _conditions() -> list:
    t = pw.this
    return [
        t.s == "OR",
        (t.s == "OR") | (t.s == "ID") | (t.s == "CA"),
        (t.a > 3) & (t.s != "NY"),
        ~(t.flag) | (t.a <= -2),
        (t.a == t.b) ^ t.flag,
        t.s < "ID",
        t.flag == True,  # noqa: E712 - a comparison of bools, as users write it
        (t.a >= 0) & (t.b < 5) & (t.s >= "CA"),
    ]


def _events(seed: int, n: int, nulls: bool) -> list[tuple]:
    """``(key, a, b, s, flag, time, diff)`` rows: inserts, then deletions of some of them."""
    rng = random.Random(seed)
    out = []
    for key in range(n):
        a = None if nulls and rng.random() < 0.2 else rng.randint(-5, 8)
        s = None if nulls and rng.random() < 0.2 else rng.choice(STATES)
        out.append((key, a, rng.randint(-3, 6), s, rng.random() < 0.5, 2 + 2 * (key % 3), 1))
    for row in rng.sample(out, n // 3):
        out.append((*row[:5], 8, -1))
    return out


def _table(events: list[tuple]) -> pw.Table:
    class S(pw.Schema):
        k: int = pw.column_definition(primary_key=True)
        a: int | None
        b: int
        s: str | None
        flag: bool

    return pw.debug.table_from_rows(S, [(*e[:5], e[5], e[6]) for e in events],
                                    is_stream=True)


def _expected(events: list[tuple], condition) -> list[tuple]:
    present: dict[int, tuple] = {}
    for key, a, b, s, flag, _, diff in sorted(events, key=lambda e: e[5]):
        if diff > 0:
            present[key] = (a, b, s, flag)
        else:
            present.pop(key, None)
    env_rows = []
    for a, b, s, flag in present.values():
        if condition(a, b, s, flag):
            env_rows.append((a, b, s, flag))
    return sorted(env_rows, key=repr)


PYTHON = [
    lambda a, b, s, f: s == "OR",
    lambda a, b, s, f: s in ("OR", "ID", "CA"),
    lambda a, b, s, f: a > 3 and s != "NY",
    lambda a, b, s, f: (not f) or a <= -2,
    lambda a, b, s, f: (a == b) != f,
    lambda a, b, s, f: s < "ID",
    lambda a, b, s, f: f,
    lambda a, b, s, f: a >= 0 and b < 5 and s >= "CA",
]


@pytest.mark.parametrize("index", range(len(PYTHON)))
@pytest.mark.parametrize(("n", "nulls"), [(40, False), (40, True), (13000, False)])
def test_small_batch_filters_keep_the_rows_polars_keeps(index, n, nulls, monkeypatch):
    events = _events(index * 31 + n, n, nulls)
    condition = _conditions()[index]
    table = _table(events)
    result = table.filter(condition).select(pw.this.a, pw.this.b, pw.this.s, pw.this.flag)
    fast_rows, fast_updates = rows(result), updates(result)
    if not nulls:  # (the Python model leaves out how comparisons treat None)
        assert fast_rows == _expected(events, PYTHON[index])
    # The same through the Polars filter only.
    monkeypatch.setattr(stateless, "SMALL_MASK_ROWS", -1)
    assert rows(result) == fast_rows
    assert updates(result) == fast_updates


def test_conditions_outside_the_numpy_subset_get_no_small_mask():
    t = pw.debug.table_from_markdown("""
    a | x
    1 | 1.5
    """)

    def name(source: int, column: str) -> str:
        return column

    assert small_mask(t.filter(pw.this.a > 0)._node.condition, name) is not None
    for other in (t.filter(pw.this.x > 1.0), t.filter(pw.this.a + 1 > 0),
                  t.filter(pw.this.a.is_none())):
        assert small_mask(other._node.condition, name) is None
    assert small_mask(ex.Literal(1.5), name) is None
