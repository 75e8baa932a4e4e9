"""Ids of one key column hashed with ``DataFrame.hash_rows`` (``ids._hashes_alone``) and the
small typed paths (``hash_typed_ids``) against a reference computed from Polars' ``Expr.hash``
and folded in Python ints, the definition of an id."""

from __future__ import annotations

import random

import polars as pl
import pytest

from reflow.engine import ids
from reflow.engine.ids import (
    hash_columns,
    hash_typed_columns,
    hash_typed_ids,
    hash_value_rows,
    hash_values,
)

_M64 = (1 << 64) - 1


def _reference_ids(columns: list[pl.Series], salt: str = "") -> list[int]:
    """Every column hashed by one ``Expr.hash`` query per seed, nulls replaced by the null
    hash, folded and mixed in Python ints."""
    frame = pl.DataFrame([c.alias(f"c{i}") for i, c in enumerate(columns)])
    salts = [int(word) for word in ids._salt_words(salt)]
    per_half = []
    for half in (0, 1):
        hashed = frame.select(
            pl.col(f"c{i}").hash(ids._SEEDS[half]) for i in range(len(columns))
        ).rows()
        nulls = frame.select(pl.all().is_null()).rows()
        out = []
        for row, row_nulls in zip(hashed, nulls, strict=True):
            acc = salts[half]
            for value, null in zip(row, row_nulls, strict=True):
                acc = ((acc ^ (ids._NULLS[half] if null else value)) * ids._FOLD[half]) & _M64
            acc ^= acc >> 31
            acc = (acc * ids._MIX[half]) & _M64
            acc ^= acc >> 29
            out.append(acc)
        per_half.append(out)
    return [(high << 64) | low for high, low in zip(*per_half, strict=True)]


def _values(dtype: pl.DataType, n: int, rng: random.Random, nulls: bool) -> pl.Series:
    """``n`` random values of ``dtype`` (a tenth of them null when ``nulls``)."""
    if dtype == pl.Null:
        return pl.Series("k", [None] * n, dtype=pl.Null)
    if dtype == pl.Boolean:
        made: list = [rng.random() < 0.5 for _ in range(n)]
    elif dtype in (pl.Float32, pl.Float64):
        specials = [0.0, -0.0, float("nan"), float("inf"), -float("inf"), 1e-300]
        made = [rng.choice(specials) if rng.random() < 0.2 else rng.uniform(-1e6, 1e6)
                for _ in range(n)]
    elif dtype == pl.String:
        made = ["".join(rng.choice("ab\"é,\n") for _ in range(rng.randrange(0, 12)))
                for _ in range(n)]
    elif dtype == pl.Binary:
        made = [bytes(rng.randrange(256) for _ in range(rng.randrange(0, 9))) for _ in range(n)]
    else:
        bits = {pl.Int8: 8, pl.Int16: 16, pl.Int32: 32, pl.Int64: 64, pl.UInt8: 8,
                pl.UInt16: 16, pl.UInt32: 32, pl.UInt64: 64, pl.UInt128: 128}[dtype]
        signed = dtype in (pl.Int8, pl.Int16, pl.Int32, pl.Int64)
        low = -(1 << (bits - 1)) if signed else 0
        high = (1 << (bits - 1)) - 1 if signed else (1 << bits) - 1
        made = [rng.choice([low, high, 0, 1]) if rng.random() < 0.1
                else rng.randint(low, high) for _ in range(n)]
    if nulls:
        made = [None if rng.random() < 0.1 else v for v in made]
    return pl.Series("k", made, dtype=dtype)


@pytest.mark.parametrize("dtype", sorted(ids._LONE_DTYPES, key=str))
def test_hash_rows_of_one_column_is_expr_hash(dtype):
    """The assumption the lone path rests on, for every dtype it takes."""
    rng = random.Random(str(dtype))
    for n in (1, 7, 300):
        for nulls in (False, True):
            series = _values(dtype(), n, rng, nulls)
            hashes = ids._hashes_alone(series)
            assert hashes is not None
            for half in (0, 1):
                expected = series.to_frame().select(pl.col("k").hash(ids._SEEDS[half]))
                assert hashes[half].tolist() == expected.to_series().to_list(), (dtype, half)


@pytest.mark.parametrize("dtype", [pl.Int64, pl.String, pl.Float64, pl.Boolean, pl.UInt128,
                                   pl.Int32, pl.Binary, pl.Null])
def test_ids_of_one_column_equal_the_reference(dtype):
    """Small (<= 16 rows, Python fold), medium and big (past the lone path's limit) frames,
    with and without nulls, with and without a salt."""
    rng = random.Random(f"ids {dtype}")
    for n in (1, 2, 16, 17, 100, 128, 129, 2000, ids._LONE_ROWS + 1):
        for nulls in (False, True):
            series = _values(dtype(), n, rng, nulls)
            for salt in ("", "flatten"):
                got = hash_columns(series.to_frame(), ["k"], salt).to_list()
                assert got == _reference_ids([series], salt), (dtype, n, nulls, salt)


def test_typed_ids_equal_the_reference_for_one_and_several_columns():
    rng = random.Random(5)
    for n in (1, 3, 64, 128, 129, 1000):
        ints = pl.Series("a", [rng.randint(-(1 << 63), (1 << 63) - 1) for _ in range(n)])
        texts = pl.Series("b", [str(rng.random()) for _ in range(n)])
        floats = pl.Series("c", [rng.uniform(-5, 5) for _ in range(n)])
        flags = pl.Series("d", [rng.random() < 0.5 for _ in range(n)])
        for columns in ([ints], [texts], [floats], [flags], [ints, texts],
                        [texts, floats, flags]):
            for salt in ("", "s"):
                expected = _reference_ids(columns, salt)
                assert hash_typed_ids(columns, salt) == expected, (n, len(columns))
                assert hash_typed_columns(columns, salt).to_list() == expected


def test_typed_ids_equal_value_ids():
    """The subject's keys hash as ``pw.pointer_from`` of the same values."""
    keys = [3, -7, 1 << 62, 0]
    assert hash_typed_ids([pl.Series(keys)]) == [hash_values([k]) for k in keys]
    assert hash_typed_ids([pl.Series(keys), pl.Series(["x", "y", "", "z"])]) == (
        hash_value_rows([[k, t] for k, t in zip(keys, ["x", "y", "", "z"], strict=True)])
    )


def test_empty_and_nulls_in_typed_ids():
    assert hash_typed_ids([pl.Series([], dtype=pl.Int64)]) == []
    with_null = pl.Series("k", [1, None, 3])
    assert hash_typed_ids([with_null]) == _reference_ids([with_null])
