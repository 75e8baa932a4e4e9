"""Row ids (two independent 64-bit halves) and consolidation of big batches."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest

from reflow.engine.batch import DIFF, ID, ID_DTYPE, consolidate
from reflow.engine.ids import hash_columns, hash_values, ids_from_halves
from reflow.engine.values import Json, Pointer


def test_scalar_and_column_hashes_agree_for_small_and_big_frames():
    for height in (1, 5, 500):
        frame = pl.DataFrame(
            {"s": ["a", "b"] * height, "i": [7, 8] * height, "f": [0.5, None] * height}
        )
        ids = hash_columns(frame, ["s", "i", "f"], "salt")
        assert ids.dtype == ID_DTYPE and ids.len() == 2 * height
        assert ids[0] == hash_values(["a", 7, 0.5], "salt")
        assert ids[1] == hash_values(["b", 8, None], "salt")
        assert ids[-2] == ids[0]


def test_a_few_rows_get_the_ids_of_the_same_rows_in_a_big_frame():
    # a few rows are hashed on a path of their own; it must give the same ids
    columns = {
        "i": pl.Series([12345, None, -3, 0], dtype=pl.Int64),
        "s": pl.Series(["x", None, "", "é"]),
        "f": pl.Series([1.5, -0.0, math.nan, None]),
        "p": pl.Series([2**100 + 5, 0, None, 2**128 - 1], dtype=ID_DTYPE),
        "b": pl.Series([True, False, None, True]),
        "d": pl.Series([1, 2, 3, None], dtype=pl.Datetime("ns")),
        "y": pl.Series([b"x", b"", None, b"z"]),
        "n": pl.Series([None] * 4, dtype=pl.Null),
    }
    padding = {name: pl.Series([None] * 60, dtype=c.dtype) for name, c in columns.items()}
    few = pl.DataFrame(columns)
    big = pl.concat([few, pl.DataFrame(padding)])
    for names in (["i"], ["s", "f"], ["p", "b"], ["d", "y", "n"], list(columns)):
        for salt in ("", "join-key"):
            assert hash_columns(few, names, salt).to_list() == hash_columns(
                big, names, salt).to_list()[:4]


def test_null_hashes_alike_whatever_the_dtype():
    expected = hash_values([None])
    for dtype in (pl.Int64, pl.String, pl.Float64, pl.Boolean, ID_DTYPE, pl.Null):
        frame = pl.DataFrame({"k": pl.Series([None, None], dtype=dtype)})
        assert hash_columns(frame, ["k"]).to_list() == [expected, expected]
    objects = pl.DataFrame({"k": pl.Series([None, Json({"a": 1})], dtype=pl.Object)})
    ids = hash_columns(objects, ["k"])
    assert ids[0] == expected
    assert ids[1] == hash_values([Json({"a": 1})])


def test_ids_depend_on_salt_column_order_and_values():
    assert hash_values([1, 2]) != hash_values([2, 1])
    assert hash_values([1]) != hash_values([1], "other")
    assert hash_values([1]) != hash_values([2])
    assert hash_values(["1"]) != hash_values([1])


def test_halves_are_independent_hashes():
    ids = hash_columns(pl.DataFrame({"k": list(range(2000))}), ["k"]).to_list()
    highs = [i >> 64 for i in ids]
    lows = [i & (2**64 - 1) for i in ids]
    assert len(set(highs)) == len(set(lows)) == len(set(ids)) == 2000
    # neither half is a function of the other one's bits in any simple way
    assert all(h != lo for h, lo in zip(highs, lows, strict=True))


def test_pointer_values_hash_like_their_id_column():
    pointer = Pointer(hash_values(["x"]))
    column = pl.DataFrame({"p": pl.Series([int(pointer)] * 40, dtype=ID_DTYPE)})
    assert hash_columns(column, ["p"])[39] == hash_values([pointer])


def test_ids_from_halves_small_and_big():
    for n in (3, 1000):
        high = np.arange(n, dtype=np.uint64) * np.uint64(3) + np.uint64(2**63)
        low = np.arange(n, dtype=np.uint64) ^ np.uint64(2**64 - 1)
        ids = ids_from_halves(high, low)
        assert ids.dtype == ID_DTYPE and ids.name == ID
        assert ids.to_list() == [
            (int(h) << 64) + int(lo) for h, lo in zip(high, low, strict=True)
        ]


def _batch(ids, values, diffs):
    return pl.DataFrame(
        [
            pl.Series(ID, ids, dtype=ID_DTYPE),
            pl.Series("v", values),
            pl.Series(DIFF, diffs, dtype=pl.Int64),
        ]
    )


def _as_multiset(batch):
    if batch is None:
        return {}
    out: dict = {}
    for row_id, value, diff in batch.rows():
        key = (row_id, ("nan",) if isinstance(value, float) and math.isnan(value) else value)
        out[key] = out.get(key, 0) + diff
    return out


def _from_scratch(ids, values, diffs):
    return {k: d for k, d in _as_multiset(_batch(ids, values, diffs)).items() if d}


def test_consolidate_big_batch_with_a_few_repeated_ids():
    n = 10_000
    ids = [(i * 7919) << 64 | i for i in range(n)]
    values = [float(i) for i in range(n)]
    diffs = [1] * n
    # an update (same id, new value), a cancelled row and a merged row
    ids += [ids[10], ids[20], ids[30]]
    values += [-1.0, 20.0, 30.0]
    diffs += [1, -1, 2]
    out = consolidate(_batch(ids, values, diffs))
    assert _as_multiset(out) == _from_scratch(ids, values, diffs)
    assert out.height == n  # row 20 cancelled, rows 30 merged, row 10 updated
    assert out.filter(pl.col(ID) == ids[30])[DIFF].to_list() == [3]


def test_consolidate_big_batch_with_many_repeated_ids_nan_and_signed_zero():
    n = 6_000
    ids = [i % 1500 for i in range(n)]
    values = [math.nan if i % 3 == 0 else (-0.0 if i % 2 else 0.0) for i in range(n)]
    diffs = [1 if i % 4 else -1 for i in range(n)]
    out = consolidate(_batch(ids, values, diffs))
    assert _as_multiset(out) == _from_scratch(ids, values, diffs)


def test_consolidate_big_unique_batch_is_returned_as_is_and_zero_diffs_dropped():
    n = 5_000
    batch = _batch(list(range(n)), list(range(n)), [1] * n)
    assert consolidate(batch) is batch
    zeroed = _batch(list(range(n)), list(range(n)), [0] + [1] * (n - 1))
    assert consolidate(zeroed).height == n - 1


def test_consolidate_big_batch_with_object_values():
    n = 5_000
    ids = [*range(n), 0, 1]
    values = [Json({"i": i}) for i in range(n)] + [Json({"i": 0}), Json({"i": 7})]
    diffs = [1] * n + [-1, 1]
    batch = pl.DataFrame(
        [
            pl.Series(ID, ids, dtype=ID_DTYPE),
            pl.Series("v", values, dtype=pl.Object),
            pl.Series(DIFF, diffs, dtype=pl.Int64),
        ]
    )
    out = consolidate(batch)
    assert out.height == n  # id 0 cancelled, id 1 has two different values
    assert sorted(out.filter(pl.col(ID) == 1)["v"].to_list(), key=repr) == [
        Json({"i": 1}),
        Json({"i": 7}),
    ]


def test_consolidate_small_batch_compares_only_rows_that_share_an_id():
    # a zero-diff row with a unique id, an update (same id, new value), a cancelled pair,
    # a merged pair and a NaN pair that merges, in an order the output keeps
    ids = [1, 2, 3, 2, 4, 3, 5, 4, 6, 6]
    values = [1.0, 2.0, 3.0, -2.0, 4.0, 3.0, 5.0, 4.0, math.nan, math.nan]
    diffs = [1, -1, 1, 1, 1, -1, 0, 1, 1, 1]
    out = consolidate(_batch(ids, values, diffs))
    assert _as_multiset(out) == _from_scratch(ids, values, diffs)
    assert out[ID].to_list() == [1, 2, 2, 4, 6]
    assert out[DIFF].to_list() == [1, -1, 1, 2, 2]
    unchanged = _batch([1, 2, 2], [1.0, 2.0, 3.0], [1, -1, 1])
    assert consolidate(unchanged) is unchanged


@pytest.mark.parametrize("seed", range(6))
def test_consolidate_small_batches_match_the_polars_path(monkeypatch, seed: int) -> None:
    """Random small batches of int/string/bool columns (whose cells are their own keys) and
    of float columns (NaN): the tuple path gives the rows the Polars path gives."""
    import random

    import reflow.engine.batch as batch_module

    rng = random.Random(seed)
    for _ in range(40):
        n = rng.randint(2, 64)
        ids = [rng.randrange(n // 2 + 1) for _ in range(n)]
        frame = pl.DataFrame(
            {
                ID: pl.Series(ids, dtype=ID_DTYPE),
                "i": [rng.choice([None, 1, 2]) for _ in range(n)],
                "s": [rng.choice([None, "a", "b"]) for _ in range(n)],
                "b": [rng.choice([True, False]) for _ in range(n)],
                "f": [rng.choice([0.5, math.nan]) for _ in range(n)],
                DIFF: [rng.choice([-1, 0, 1, 2]) for _ in range(n)],
            }
        )
        for columns in ([ID, "i", "s", "b", DIFF], [ID, "i", "f", DIFF]):
            part = frame.select(columns)
            monkeypatch.setattr(batch_module, "_SMALL_BATCH", 64)
            small = consolidate(part)
            monkeypatch.setattr(batch_module, "_SMALL_BATCH", 1)
            general = consolidate(part)
            spelled = [
                sorted(map(repr, [] if out is None else out.rows())) for out in (small, general)
            ]
            assert spelled[0] == spelled[1]


@pytest.mark.parametrize("n", [1, 16, 17, 128, 129, 3000])
def test_hash_typed_columns_gives_the_ids_of_hash_value_rows(n: int) -> None:
    """The typed columns' one-query path gives the ids the row-by-row kernel gives."""
    import random

    from reflow.engine.ids import hash_typed_columns, hash_value_rows

    rng = random.Random(n)
    rows = [
        (rng.randint(-(2**63), 2**63 - 1), f"s{rng.randrange(50)}", rng.random() * 1e6,
         rng.random() < 0.5)
        for _ in range(n)
    ]
    columns = [pl.Series(list(values)) for values in zip(*rows, strict=True)]
    for width in (1, 2, 4):
        expected = hash_value_rows([list(row[:width]) for row in rows])
        assert hash_typed_columns(columns[:width]).to_list() == expected
        assert hash_typed_columns(columns[:width], salt="x").to_list() == hash_value_rows(
            [list(row[:width]) for row in rows], salt="x"
        )
