"""``KeyedOperator``'s small-change path (retractions matched to insertions on row tuples)
against its general path (Polars consolidation of the whole output), time by time."""

from __future__ import annotations

import math
import random

import polars as pl
import pytest

import reflow.engine.operators.keyed as keyed
from reflow.engine.operator import RunContext
from reflow.engine.operators.keyed import KeyedOperator, OverlayRule, PickRule
from reflow.engine.operators.stateless import InputOperator

COLUMNS = {"x": pl.Int64, "s": pl.String, "f": pl.Float64}
SCHEMA = {"_id": pl.UInt128, **COLUMNS, "_diff": pl.Int64}


def _batch(rows: list[tuple]) -> pl.DataFrame | None:
    if not rows:
        return None
    return pl.DataFrame(rows, schema=SCHEMA, orient="row")


def _operator(rule) -> KeyedOperator:
    sources = [InputOperator("a", COLUMNS), InputOperator("b", COLUMNS)]
    return KeyedOperator(sources, "k", COLUMNS, rule, [True, True])


def _rows(out: pl.DataFrame | None) -> list[tuple]:
    if out is None:
        return []
    # NaN is not equal to itself: spell it for the comparison
    return sorted(
        (tuple("nan" if isinstance(v, float) and math.isnan(v) else v for v in row)
         for row in out.rows()),
        key=repr,
    )


def _value(rng: random.Random) -> tuple:
    return (
        rng.choice([None, 1, 2]),
        rng.choice([None, "a", "b"]),
        rng.choice([None, 0.5, float("nan")]),
    )


def _script(seed: int, times: int, ids: int, size: int) -> list[tuple[list, list]]:
    """Deltas of two inputs, each a valid sequence of insertions and retractions by id; values
    are drawn from few choices (None, NaN) so updates often repeat the value they replace."""
    rng = random.Random(seed)
    held: list[dict[int, tuple]] = [{}, {}]
    script = []
    for _ in range(times):
        deltas: list[list] = [[], []]
        for side in (0, 1):
            if rng.random() < 0.3:
                continue
            for row_id in rng.sample(range(ids), min(size, ids)):
                old = held[side].get(row_id)
                choice = rng.random()
                if old is not None:
                    deltas[side].append((row_id, *old, -1))
                    del held[side][row_id]
                    if choice < 0.3:
                        continue  # a deletion
                elif choice < 0.2:
                    continue
                new = _value(rng)
                held[side][row_id] = new
                deltas[side].append((row_id, *new, 1))
        script.append((deltas[0], deltas[1]))
    return script


@pytest.mark.parametrize("rule", [
    PickRule(lambda present: 1 if present[1] else (0 if present[0] else None)),  # update_rows
    PickRule(lambda present: 0 if present[0] else (1 if present[1] else None)),
    OverlayRule(["s"]),
])
@pytest.mark.parametrize(("seed", "size"), [(1, 3), (2, 40), (3, 200), (4, 600)])
def test_small_change_path_matches_general_path(monkeypatch, rule, seed, size) -> None:
    small, general = _operator(rule), _operator(rule)
    for time, (a, b) in enumerate(_script(seed, times=12, ids=700, size=size)):
        monkeypatch.setattr(keyed, "_SMALL_CHANGE", 10**9)
        fast = small.process(time, [_batch(a), _batch(b)], RunContext())
        monkeypatch.setattr(keyed, "_SMALL_CHANGE", -1)
        slow = general.process(time, [_batch(a), _batch(b)], RunContext())
        assert _rows(fast) == _rows(slow), time
        for out in (fast, slow):  # consolidated, as ``emits_consolidated`` promises
            if out is not None:
                assert 0 not in out["_diff"].to_list()
                assert len(set(_rows(out.drop("_diff")))) == out.height, time


def test_update_with_equal_values_cancels() -> None:
    """An update that replaces a row by an equal one (NaN and None included) outputs
    nothing; one that changes a value outputs the retraction and the insertion."""
    op = _operator(PickRule(lambda present: 1 if present[1] else (0 if present[0] else None)))
    ctx = RunContext()
    op.process(0, [_batch([(1, None, "a", float("nan"), 1), (2, 5, None, 1.0, 1)]), None], ctx)
    same = _batch([(1, None, "a", float("nan"), 1), (2, 5, None, 1.0, 1)])
    assert op.process(1, [None, same], ctx) is None
    out = op.process(2, [None, _batch([(1, None, "a", float("nan"), -1),
                                       (1, None, "b", float("nan"), 1)])], ctx)
    assert _rows(out) == [(1, None, "a", "nan", -1), (1, None, "b", "nan", 1)]


def test_update_with_equal_list_values_cancels() -> None:
    """List cells (NaN inside included) are compared by content, as ``consolidate`` does."""
    columns = {"l": pl.List(pl.Float64)}
    schema = {"_id": pl.UInt128, **columns, "_diff": pl.Int64}
    sources = [InputOperator("a", columns), InputOperator("b", columns)]
    rule = PickRule(lambda present: 1 if present[1] else (0 if present[0] else None))
    op = KeyedOperator(sources, "k", columns, rule, [True, True])
    ctx = RunContext()
    first = pl.DataFrame([(1, [1.0, float("nan")], 1), (2, [2.0], 1)], schema=schema, orient="row")
    op.process(0, [first, None], ctx)
    again = pl.DataFrame([(1, [1.0, float("nan")], 1), (2, [3.0], 1)], schema=schema, orient="row")
    out = op.process(1, [None, again], ctx)
    assert out is not None
    assert sorted(out.select("_id", "_diff").rows()) == [(2, -1), (2, 1)]


EXACT = {"x": pl.Int64, "s": pl.String, "b": pl.Boolean}


def _exact_rows(rows: list) -> list:
    """The script's rows with the float column made a boolean one (Python ``==`` then
    compares rows as consolidation does, and the small path compares them with it)."""
    flag = {None: None, 0.5: True}
    return [(*row[:3], flag.get(row[3], False), row[4]) for row in rows]


def _exact_batch(rows: list) -> pl.DataFrame | None:
    schema = {"_id": pl.UInt128, **EXACT, "_diff": pl.Int64}
    return pl.DataFrame(_exact_rows(rows), schema=schema, orient="row") if rows else None


@pytest.mark.parametrize("rule", [
    PickRule(lambda present: 1 if present[1] else (0 if present[0] else None)),  # update_rows
    OverlayRule(["s"]),
])
@pytest.mark.parametrize(("seed", "size"), [(5, 3), (6, 40), (7, 200)])
def test_small_change_path_compares_plain_rows_like_general_path(monkeypatch, rule, seed, size):
    sources = [InputOperator("a", EXACT), InputOperator("b", EXACT)]
    small = KeyedOperator(sources, "k", EXACT, rule, [True, True])
    general = KeyedOperator(sources, "k", EXACT, rule, [True, True])
    assert small._plain_equality
    for time, (a, b) in enumerate(_script(seed, times=12, ids=700, size=size)):
        monkeypatch.setattr(keyed, "_SMALL_CHANGE", 10**9)
        fast = small.process(time, [_exact_batch(a), _exact_batch(b)], RunContext())
        monkeypatch.setattr(keyed, "_SMALL_CHANGE", -1)
        slow = general.process(time, [_exact_batch(a), _exact_batch(b)], RunContext())
        assert _rows(fast) == _rows(slow), time


def test_update_with_equal_plain_values_cancels() -> None:
    sources = [InputOperator("a", EXACT), InputOperator("b", EXACT)]
    rule = PickRule(lambda present: 1 if present[1] else (0 if present[0] else None))
    op = KeyedOperator(sources, "k", EXACT, rule, [True, True])
    ctx = RunContext()
    schema = {"_id": pl.UInt128, **EXACT, "_diff": pl.Int64}
    op.process(0, [pl.DataFrame([(1, None, "a", True, 1), (2, 5, None, None, 1)],
                                schema=schema, orient="row"), None], ctx)
    same = pl.DataFrame([(1, None, "a", True, 1), (2, 5, None, None, 1)], schema=schema,
                        orient="row")
    assert op.process(1, [None, same], ctx) is None
    changed = pl.DataFrame([(1, None, "a", True, -1), (1, None, "a", False, 1)],
                           schema=schema, orient="row")
    out = op.process(2, [None, changed], ctx)
    assert out is not None
    assert sorted(out.select("_id", "b", "_diff").rows()) == [(1, False, 1), (1, True, -1)]
