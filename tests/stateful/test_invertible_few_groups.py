"""The plain-Python path of the invertible reduce (``_process_few``) against the vectorized
path: the same output frames (rows, order, dtypes), reports and running sums after every batch
of random streams with small and large batches, retractions, None, NaN, infinities, error
values, int sums beyond int64, groups emptied and refilled, and every way of identifying
groups (cached keys, uncached keys, an id column, no key)."""

from __future__ import annotations

import math
import random

import numpy as np
import polars as pl
import pytest

from reflow.engine.batch import DIFF, ID, ID_DTYPE
from reflow.engine.state import invertible
from reflow.engine.state.aggregates import Avg, Count, Sum
from reflow.engine.state.invertible import InvertibleGroups

BIG = 1 << 62


def _groups(keys: str, cache_keys: bool, plain: bool = False) -> InvertibleGroups:
    specs = [
        (Count(), [], [], "n", None, pl.Int64()),
        (Sum(), ["i"], ["i_err"], "si", "si_err", pl.Int64()),
        (Sum(0.0), ["f"], [], "sf", None, pl.Float64()),
        (Avg(), ["f"], ["f_err"], "af", "af_err", pl.Float64()),
        (Avg(), ["i"], [], "ai", None, pl.Float64()),
    ]
    if plain:  # no argument can hold an error (the windowed aggregation's count and sum)
        specs = [
            (Sum(), ["i"], [], "si", None, pl.Int64()),
            (Count(), [], [], "n", None, pl.Int64()),
            (Sum(), ["k"], [], "sk", None, pl.Int64()),
            (Avg(), ["i"], [], "ai", None, pl.Float64()),
        ]
    if keys == "id":
        return InvertibleGroups([], specs, id_column="g", global_id=None, cache_keys=False)
    if keys == "global":
        return InvertibleGroups([], specs, id_column=None, global_id=12345, cache_keys=False)
    if keys == "pointer":  # a cached key of 128-bit ids
        return InvertibleGroups([("g", None, "g", ID_DTYPE())], specs, id_column=None,
                                global_id=None, cache_keys=cache_keys)
    key_specs = [("k", None, "k", pl.Int64())]
    if keys == "two":
        key_specs.append(("s", None, "s", pl.String()))
    return InvertibleGroups(key_specs, specs, id_column=None, global_id=None,
                            cache_keys=cache_keys)


def _stream(rng: random.Random, batches: int, key_count: int) -> list[pl.DataFrame]:
    live: list[tuple] = []
    next_id = 0
    out = []

    def row() -> tuple:
        nonlocal next_id
        next_id += 1
        k = rng.randrange(key_count)
        i = rng.choice([None, rng.randrange(-50, 50), BIG, -BIG,
                        rng.randrange(-(1 << 40), 1 << 40)])
        f = rng.choice([None, math.nan, math.inf, -math.inf, -0.0, rng.uniform(-1e3, 1e3), 0.1])
        return (next_id, k, f"s{k % 3}", k * 7 + 1, i, rng.random() < 0.1, f,
                rng.random() < 0.05)

    for _ in range(batches):
        size = rng.choice([1, 2, 3, 5, 17, 60, 100, 300, 1500])
        rows: list[tuple] = []
        for _ in range(size):
            choice = rng.random()
            if live and choice < 0.35:
                rows.append((*live.pop(rng.randrange(len(live))), -1))
            elif live and choice < 0.5 and key_count > 1:
                # a whole group emptied (retractions of all its live rows)
                k = rng.choice(live)[1]
                for r in [r for r in live if r[1] == k]:
                    live.remove(r)
                    rows.append((*r, -1))
            else:
                r = row()
                live.append(r)
                rows.append((*r, 1))
        columns = list(zip(*rows, strict=True))
        out.append(pl.DataFrame({
            ID: pl.Series(columns[0], dtype=ID_DTYPE),
            "k": pl.Series(columns[1], dtype=pl.Int64),
            "s": pl.Series(columns[2], dtype=pl.String),
            "g": pl.Series(columns[3], dtype=ID_DTYPE),
            "i": pl.Series(columns[4], dtype=pl.Int64),
            "i_err": pl.Series(columns[5], dtype=pl.Boolean),
            "f": pl.Series(columns[6], dtype=pl.Float64),
            "f_err": pl.Series(columns[7], dtype=pl.Boolean),
            DIFF: pl.Series(columns[8], dtype=pl.Int64),
        }))
    return out


def _live_state(groups: InvertibleGroups) -> dict:
    free = set(groups.free)
    return {groups.gid_of[s]: ([a.item(s) for a in groups.arrays],
                               [column[s] for column in groups.key_of])
            for s in range(len(groups.gid_of)) if s not in free}


def _same_frames(a: pl.DataFrame | None, b: pl.DataFrame | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return a.schema == b.schema and a.equals(b, null_equal=True)


@pytest.mark.parametrize(("keys", "cache_keys", "key_count"), [
    ("one", True, 3), ("one", True, 40), ("two", True, 4), ("one", False, 3),
    ("id", False, 5), ("global", False, 1), ("pointer", True, 6),
])
@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("plain", [False, True])
def test_few_groups_path_matches_the_vectorized_path(monkeypatch, keys, cache_keys, key_count,
                                                     seed, plain):
    monkeypatch.setattr(invertible, "FEW_GROUPS", 10**9)
    rng = random.Random(seed)
    few, general = _groups(keys, cache_keys, plain), _groups(keys, cache_keys, plain)
    taken = 0
    for batch in _stream(rng, 40, key_count):
        few_reports: list[str] = []
        general_reports: list[str] = []
        monkeypatch.setattr(invertible, "FEW_ROWS", 10**9)
        got = few.process(batch, few_reports.append)
        monkeypatch.setattr(invertible, "FEW_ROWS", 0)
        want = general.process(batch, general_reports.append)
        assert _same_frames(got, want), (batch.height, got, want)
        assert few_reports == general_reports
        assert _live_state(few) == _live_state(general)
        taken += 1
    assert taken == 40


def test_few_groups_path_is_taken_and_leaves_many_groups_to_numpy(monkeypatch):
    calls = {"few": 0, "general": 0}
    original_apply = InvertibleGroups._apply

    def counting_apply(self, *args, **kwargs):
        calls["general"] += 1
        return original_apply(self, *args, **kwargs)

    monkeypatch.setattr(InvertibleGroups, "_apply", counting_apply)
    groups = _groups("one", True)
    small = _stream(random.Random(5), 1, 2)[0]
    groups.process(small)
    assert calls["general"] == 0
    many = pl.DataFrame({
        ID: pl.Series(range(1, 101), dtype=ID_DTYPE), "k": pl.Series(range(100)),
        "s": ["a"] * 100, "g": pl.Series([1] * 100, dtype=ID_DTYPE),
        "i": pl.Series(range(100)), "i_err": [False] * 100, "f": np.arange(100.0),
        "f_err": [False] * 100, DIFF: [1] * 100,
    })
    groups.process(many)
    assert calls["general"] == 1
