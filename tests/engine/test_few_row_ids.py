"""``hash_columns`` folds the ids of a few rows in Python ints (``ids._few_ids``); they must be
the ids of the vectorized numpy path, for every dtype mix, nulls and salts."""

from __future__ import annotations

import random

import polars as pl
import pytest

from reflow.engine import ids


def _column(rng: random.Random, n: int) -> pl.Series:
    kind = rng.choice(["int", "str", "bool", "float", "int?", "str?", "null"])
    if kind == "int":
        return pl.Series([rng.randint(-(2**63), 2**63 - 1) for _ in range(n)], dtype=pl.Int64)
    if kind == "str":
        return pl.Series([rng.choice(["a", "b", "é", ""]) for _ in range(n)], dtype=pl.String)
    if kind == "bool":
        return pl.Series([rng.random() < 0.5 for _ in range(n)], dtype=pl.Boolean)
    if kind == "float":
        return pl.Series([rng.choice([0.0, -0.0, 1.5, rng.random()]) for _ in range(n)])
    if kind == "int?":
        return pl.Series([None if rng.random() < 0.4 else rng.randint(-9, 9) for _ in range(n)],
                         dtype=pl.Int64)
    if kind == "str?":
        return pl.Series([None if rng.random() < 0.4 else "z" for _ in range(n)],
                         dtype=pl.String)
    return pl.Series([None] * n, dtype=pl.Null)


@pytest.mark.parametrize("seed", range(4))
def test_few_row_ids_are_the_vectorized_ids(seed, monkeypatch):
    rng = random.Random(seed)
    cases = []
    for _ in range(150):
        n = rng.randint(1, ids._FEW)
        frame = pl.DataFrame({f"c{j}": _column(rng, n) for j in range(rng.randint(1, 4))})
        cases.append((frame, rng.choice(["", "window", "groupby"])))
    few = [ids.hash_columns(frame, frame.columns, salt).to_list() for frame, salt in cases]
    monkeypatch.setattr(ids, "_FEW", 0)  # every frame through the numpy path
    vectorized = [ids.hash_columns(frame, frame.columns, salt).to_list()
                  for frame, salt in cases]
    assert few == vectorized
    assert len({i for row in few for i in row}) > 150  # distinct ids, not a constant
