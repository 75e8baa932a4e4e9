"""The join's tuple path (a few rows, ``_process_tuples``) against its columnar path
(``_process_frames``), time by time, on random streams: small and large deltas, one side or
both at once, retractions, repeated keys and ``None`` keys, every join mode, with inputs whose
batches are consolidated or not (the tuple path skips the consolidation of its output when the
input's operator promises consolidated batches and each key meets one logged row)."""

from __future__ import annotations

import random
from collections import Counter

import polars as pl
import pytest

from reflow.engine.operator import RunContext
from reflow.engine.operators import join as join_module
from reflow.engine.operators.join import JoinOperator, JoinSide
from reflow.engine.operators.stateless import InputOperator

LEFT = {"_id": pl.UInt128, "k": pl.Int64, "a": pl.String, "_diff": pl.Int64}
RIGHT = {"_id": pl.UInt128, "k": pl.Int64, "b": pl.Int64, "_diff": pl.Int64}


def _side(name: str, schema: dict, value: str, outer: bool) -> JoinSide:
    columns = {"k": f"{name}.k", value: f"{name}.{value}"}
    dtypes = {f"{name}.id": pl.UInt128(), f"{name}.k": pl.Int64(),
              f"{name}.{value}": schema[value]()}
    return JoinSide(lambda d, ctx: d["k"], columns, f"{name}.id", dtypes, outer, key_column="k")


def _join(mode: str, consolidated: bool) -> JoinOperator:
    sources = [InputOperator("l", {"k": pl.Int64, "a": pl.String}),
               InputOperator("r", {"k": pl.Int64, "b": pl.Int64})]
    for source in sources:
        source.emits_consolidated = consolidated  # (an instance attribute: this test only)
    return JoinOperator(
        sources[0], sources[1],
        _side("left", LEFT, "a", mode in ("left", "outer")),
        _side("right", RIGHT, "b", mode in ("right", "outer")),
        "join",
    )


def _stream(seed: int, consolidated: bool, keys: int) -> list[tuple[list, list]]:
    """Per time, the deltas of both sides: updates of rows by id (retract, insert anew),
    deletions and insertions; unconsolidated streams also repeat rows and add cancelling
    pairs."""
    rng = random.Random(seed)
    held: list[dict[int, tuple]] = [{}, {}]
    serial = [0]
    times = []
    for step in range(10):
        deltas: list[list] = [[], []]
        for side in (0, 1):
            if rng.random() < 0.35:
                continue
            size = rng.choice([1, 3, 20, 150, 600]) if step else rng.choice([50, 1200])
            for _ in range(size):
                present = list(held[side])
                if present and rng.random() < 0.5:
                    row_id = rng.choice(present)
                    old = held[side].pop(row_id)
                    deltas[side].append((row_id, *old, -1))
                    if rng.random() < 0.3:
                        continue  # a deletion
                else:
                    serial[0] += 1
                    row_id = serial[0]
                if row_id in held[side]:
                    continue
                key = rng.choice([None, *range(keys)])
                value = (rng.choice(["x", "y", None]) if side == 0 else rng.randint(0, 3))
                held[side][row_id] = (key, value)
                deltas[side].append((row_id, key, value, 1))
            if not consolidated and deltas[side] and rng.random() < 0.5:
                row = rng.choice(deltas[side])
                deltas[side].append((*row[:-1], -row[-1]))  # cancels a row of this delta
                deltas[side].append(row)
        if consolidated:
            deltas = [_consolidated(d) for d in deltas]
        times.append((deltas[0], deltas[1]))
    return times


def _consolidated(rows: list[tuple]) -> list[tuple]:
    totals: Counter = Counter()
    for row in rows:
        totals[row[:-1]] += row[-1]
    return [(*row, n) for row, n in totals.items() if n]


def _frame(rows: list[tuple], schema: dict) -> pl.DataFrame | None:
    return pl.DataFrame(rows, schema=schema, orient="row") if rows else None


def _net(out: pl.DataFrame | None) -> Counter:
    totals: Counter = Counter()
    if out is not None:
        for row in out.rows():
            totals[row[:-1]] += row[-1]
    return Counter({row: n for row, n in totals.items() if n})


@pytest.mark.parametrize("mode", ["inner", "left", "right", "outer"])
@pytest.mark.parametrize("consolidated", [True, False])
@pytest.mark.parametrize(("seed", "keys"), [(1, 5), (2, 40), (3, 400), (4, 3000)])
def test_tuple_path_matches_columnar_path(mode, consolidated, seed, keys, monkeypatch) -> None:
    tuples, frames = _join(mode, consolidated), _join(mode, consolidated)
    for time, (left, right) in enumerate(_stream(seed, consolidated, keys)):
        deltas = [_frame(left, LEFT), _frame(right, RIGHT)]
        if all(d is None for d in deltas):
            continue
        monkeypatch.setattr(join_module, "_ROWWISE", 10**9)
        monkeypatch.setattr(join_module, "_PARTNER_LIMIT", 10**9)
        fast = tuples.process(time, deltas, RunContext())
        monkeypatch.undo()
        slow = frames._process_frames(deltas[0], deltas[1], RunContext())
        assert _net(fast) == _net(slow), time
        if fast is not None:  # each output row once, no zero diff
            assert fast["_diff"].to_list().count(0) == 0
            assert fast.drop("_diff").n_unique() == fast.height, time


@pytest.mark.parametrize("consolidated", [True, False])
def test_rows_repeated_in_a_delta_are_summed(consolidated) -> None:
    """Partners of one row per key, a delta of one side only: an input that does not promise
    consolidated batches may repeat a row or cancel it within a delta; the output is merged."""
    join = _join("inner", consolidated)
    ctx = RunContext()
    join.process(0, [None, _frame([(10, 1, 5, 1), (11, 2, 6, 1)], RIGHT)], ctx)
    if consolidated:
        delta = [(1, 1, "x", 2), (3, 1, "z", 1)]
    else:
        delta = [(1, 1, "x", 1), (1, 1, "x", 1), (2, 2, "y", 1), (2, 2, "y", -1), (3, 1, "z", 1)]
    out = join.process(1, [_frame(delta, LEFT), None], ctx)
    assert out is not None
    assert sorted(out.drop("_id").rows(), key=repr) == [
        (1, 1, "x", 10, 1, 5, 2), (3, 1, "z", 10, 1, 5, 1),
    ]


def _lookup_stream(seed: int, consolidated: bool) -> list[tuple[list, list]]:
    """A right side of distinct keys (the customers of a join maintenance) loaded first, then
    updates of the left side's rows (new key, new value) in deltas of various sizes; now and
    then a right row is replaced, deleted, or a second row given to a key (the calls of such
    keys take the general path)."""
    rng = random.Random(seed)
    keys = 300
    right = {k: (k, rng.randint(0, 3)) for k in range(keys)}
    # (a few keys with a second row: the first load is indexed by slices of a sorted array)
    twice = [(k + 3 * 10**6, k, 7, 1) for k in range(0, keys, 37)]
    times: list[tuple[list, list]] = [([], [(k + 10**6, *v, 1) for k, v in right.items()] + twice)]
    held: dict[int, tuple] = {}
    for step in range(16):
        left: list[tuple] = []
        for _ in range(rng.choice([1, 2, 10, 100, 200, 700])):
            row_id = rng.randrange(400)
            old = held.pop(row_id, None)
            if old is not None:
                left.append((row_id, *old, -1))
            if old is None or rng.random() < 0.8:
                held[row_id] = (rng.choice([None, *range(keys + 20)]), rng.choice(["x", "y"]))
                left.append((row_id, *held[row_id], 1))
        if not consolidated and left and rng.random() < 0.5:
            left.append(left[0])  # repeated within the delta
        else:
            left = _consolidated(left)
        right_delta: list[tuple] = []
        if step % 5 == 4:
            key = rng.randrange(keys)
            right_delta.append((key + 10**6, *right[key], -1))
            if rng.random() < 0.5:
                right[key] = (key, rng.randint(0, 3))
                right_delta.append((key + 10**6, *right[key], 1))
            right_delta.append((step + 2 * 10**6, rng.randrange(keys), 9, 1))  # a second row
        times.append((left, right_delta))
    return [t for t in times if t[0] or t[1]]


@pytest.mark.parametrize("mode", ["inner", "left", "right", "outer"])
@pytest.mark.parametrize("consolidated", [True, False])
@pytest.mark.parametrize("seed", range(4))
def test_deltas_of_one_side_against_distinct_keys_match_columnar_path(
    mode, consolidated, seed, monkeypatch
) -> None:
    tuples, frames = _join(mode, consolidated), _join(mode, consolidated)
    for time, (left, right) in enumerate(_lookup_stream(seed, consolidated)):
        deltas = [_frame(left, LEFT), _frame(right, RIGHT)]
        if time:  # (the first load in bulk, by the columnar path: a sorted array of positions)
            monkeypatch.setattr(join_module, "_ROWWISE", 10**9)
            monkeypatch.setattr(join_module, "_PARTNER_LIMIT", 10**9)
        fast = tuples.process(time, deltas, RunContext())
        monkeypatch.undo()
        slow = frames._process_frames(deltas[0], deltas[1], RunContext())
        assert _net(fast) == _net(slow), time
        if fast is not None:
            assert fast["_diff"].to_list().count(0) == 0
            assert fast.drop("_diff").n_unique() == fast.height, time
