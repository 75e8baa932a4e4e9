"""``window_join`` matches rows on one value per (key, window start) (``_window_keys``): for
one numeric key and integer times a bijection computed on numpy, for other rows the general
hash. The matches must be the general hash's, whatever batch a row arrives in."""

from __future__ import annotations

import random

import polars as pl
import pytest

import reflow as pw
from reflow.temporal import _window_keys
from reflow.temporal._window_keys import window_join_keys
from tests.utils import rows_by_id, updates


def _general(keys, starts, name):
    return _window_keys._hashed(keys, starts, name)


def _random_keys(rng: random.Random, n: int) -> tuple[pl.Series, pl.Series]:
    keys = [rng.choice([None, float("nan"), 0.0, -0.0, 1.5, 2.0**60, -(2.0**60)])
            if rng.random() < 0.2 else float(rng.randint(-5, 5)) for _ in range(n)]
    starts = [rng.choice([-(2**63), 2**63 - 1, 0]) if rng.random() < 0.05
              else rng.randint(-3, 3) * 10 for _ in range(n)]
    return pl.Series("k", keys, dtype=pl.Float64), pl.Series("s", starts, dtype=pl.Int64)


@pytest.mark.parametrize("n", [1, 30, 5000])
def test_a_row_key_does_not_depend_on_its_batch_and_pairs_never_collide(n):
    rng = random.Random(n)
    keys, starts = _random_keys(rng, n)
    whole = window_join_keys([keys], starts, "j").to_list()
    one_by_one = [window_join_keys([keys.slice(i, 1)], starts.slice(i, 1), "j")[0]
                  for i in range(min(n, 200))]
    assert whole[:len(one_by_one)] == one_by_one
    pairs: dict[object, set] = {}
    for key, start, value in zip(keys.to_list(), starts.to_list(), whole, strict=True):
        if key is not None and key != key:  # NaN: each is its own key, as the hash gives
            continue
        pairs.setdefault(value, set()).add((None if key is None else key + 0.0, start))
    assert all(len(found) == 1 for found in pairs.values())


def test_rows_outside_the_numpy_case_take_the_general_hash():
    keys = pl.Series("k", [None, float("nan"), 3.0], dtype=pl.Float64)
    starts = pl.Series("s", [0, 0, 0], dtype=pl.Int64)
    fast = window_join_keys([keys], starts, "j").to_list()
    general = _general([keys], starts, "j").to_list()
    assert fast[:2] == general[:2] and fast[2] != general[2]
    two = [keys, pl.Series("x", ["a", "b", "c"])]
    assert window_join_keys(two, starts, "j").to_list() == _general(two, starts, "j").to_list()


def _tables(seed: int, n: int) -> tuple[pw.Table, pw.Table]:
    rng = random.Random(seed)

    class A(pw.Schema):
        k: int | None
        t: int

    class B(pw.Schema):
        k: float
        t: int

    a = [(rng.choice([None, *range(-4, 5)]), rng.randint(-60, 60), 2 * (i % 9), 1)
         for i in range(n)]
    b = [(rng.choice([-0.0, 0.5, *map(float, range(-4, 5))]), rng.randint(-60, 60),
          2 * (i % 9) + 1, 1) for i in range(n)]
    a += [(*row[:2], 30, -1) for row in rng.sample(a, n // 4)]
    return (pw.debug.table_from_rows(A, a, is_stream=True),
            pw.debug.table_from_rows(B, b, is_stream=True))


@pytest.mark.parametrize("n", [40, 1500])
@pytest.mark.parametrize("window", ["tumbling", "sliding"])
def test_window_join_matches_as_with_the_general_hash(n, window, monkeypatch):
    a, b = _tables(n, n)
    chosen = (pw.temporal.tumbling(duration=20) if window == "tumbling"
              else pw.temporal.sliding(hop=10, duration=30))
    joined = a.window_join(b, a.t, b.t, chosen, a.k == b.k).select(
        ka=a.k, ta=a.t, kb=b.k, tb=b.t)
    fast = [rows_by_id(joined), updates(joined)]
    assert len(fast[0]) > 10
    monkeypatch.setattr(_window_keys, "window_join_keys",
                        lambda keys, starts, name: _general(keys, starts, name))
    monkeypatch.setattr("reflow.temporal.windows.window_join_keys",
                        lambda keys, starts, name: _general(keys, starts, name))
    assert [rows_by_id(joined), updates(joined)] == fast


def test_minus_zero_and_zero_are_one_key():
    keys = pl.Series("k", [0.0, -0.0], dtype=pl.Float64)
    starts = pl.Series("s", [5, 5], dtype=pl.Int64)
    first, second = window_join_keys([keys], starts, "j").to_list()
    assert first == second
