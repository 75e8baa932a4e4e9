"""``engine/gather.py`` (rows by position, frames from row tuples) against the public Polars
API, and the row store's gathers that use them."""

from __future__ import annotations

import random

import numpy as np
import polars as pl
import pytest

from reflow.engine.batch import frame_from_rows
from reflow.engine.gather import column_builders, columns_frame, take
from reflow.engine.state.row_store import RowStore

SCHEMA = pl.Schema({
    "_id": pl.UInt128, "n": pl.Int64, "s": pl.String, "f": pl.Float64, "b": pl.Boolean,
    "o": pl.Object, "_diff": pl.Int64,
})


def _frame(rng: random.Random, height: int) -> pl.DataFrame:
    rows = [
        (rng.getrandbits(128), rng.choice([None, rng.randint(-9, 9)]), rng.choice([None, "a", "é"]),
         rng.choice([None, 0.5, float("nan")]), rng.choice([None, True, False]),
         rng.choice([None, (1, 2), {"k": 1}]), rng.choice([1, -1]))
        for _ in range(height)
    ]
    frame = pl.DataFrame(rows, schema=SCHEMA, orient="row")
    # several chunks, as a log appended to
    return pl.concat([frame.slice(0, height // 3), frame.slice(height // 3)], rechunk=False)


@pytest.mark.parametrize("height", [1, 7, 300])
@pytest.mark.parametrize("count", [0, 1, 50, 1000])
@pytest.mark.parametrize("kind", ["list", "numpy"])
def test_take_matches_indexing(height, count, kind) -> None:
    rng = random.Random(height * 1000 + count)
    frame = _frame(rng, height)
    positions = [rng.randrange(height) for _ in range(count)]
    index = positions if kind == "list" else np.array(positions, dtype=np.int64)
    got = take(frame, index)
    assert got.schema == frame.schema
    assert repr(got.rows()) == repr(frame[positions].rows())


@pytest.mark.parametrize("seed", range(5))
def test_columns_frame_matches_frame_from_rows(seed) -> None:
    rng = random.Random(seed)
    schema = pl.Schema({name: dtype for name, dtype in SCHEMA.items() if name != "o"})
    rows = [row[:5] + row[6:] for row in _frame(rng, rng.randint(1, 200)).rows()]
    builders = column_builders(schema)
    assert builders is not None
    built = columns_frame(rows, builders)
    assert built is not None and built.schema == schema
    assert repr(built.rows()) == repr(frame_from_rows(rows, schema).rows())


def test_columns_frame_refuses_mistyped_values_and_unknown_types() -> None:
    builders = column_builders(pl.Schema({"n": pl.Int64}))
    assert builders is not None
    assert columns_frame([("x",)], builders) is None
    assert column_builders(SCHEMA) is None  # no typed constructor for objects


def _store_batch(ids: list[int], values: list[int], diff: int = 1) -> pl.DataFrame:
    return pl.DataFrame(
        {"_id": ids, "x": values, "_diff": [diff] * len(ids)},
        schema={"_id": pl.UInt128, "x": pl.Int64, "_diff": pl.Int64},
    )


def test_gathering_a_whole_batch_in_order_leaves_the_stored_batch_alone() -> None:
    """All the rows of a stored batch, in order, come back without a gather; adding a column
    to what comes back must not change the stored batch (a later gather still reads it)."""
    store = RowStore({"x": pl.Int64})
    refs = store.apply(_store_batch([1, 2, 3], [10, 20, 30]))
    assert refs is not None
    for given in (refs, refs.tolist()):
        got = store.gather(given)
        assert got["x"].to_list() == [10, 20, 30]
        got.insert_column(0, pl.Series("extra", [0, 0, 0]))
    assert store.gather(refs[::-1])["x"].to_list() == [30, 20, 10]
    assert store.gather(refs).columns == ["x"]
    # not all of the batch, or not in order: a real gather
    assert store.gather(refs[:2])["x"].to_list() == [10, 20]
    assert store.gather([refs[0], refs[2], refs[1]])["x"].to_list() == [10, 30, 20]


@pytest.mark.parametrize("seed", range(4))
def test_row_store_gathers_across_batches(seed) -> None:
    rng = random.Random(seed)
    store = RowStore({"x": pl.Int64})
    model: dict[int, int] = {}
    for _ in range(6):
        ids = rng.sample(range(400), rng.randint(1, 300))
        old = [i for i in ids if i in model]
        if old:
            store.apply(_store_batch(old, [model[i] for i in old], -1))
        values = [rng.randint(0, 10**6) for _ in ids]
        store.apply(_store_batch(ids, values))
        store.collect()
        model.update(zip(ids, values, strict=True))
        wanted = rng.choices(list(model), k=rng.choice([3, 100, 600]))
        refs = [store.ref(i) for i in wanted]
        assert store.gather(refs)["x"].to_list() == [model[i] for i in wanted]
        encoded = np.array(refs, dtype=np.int64)
        assert store.gather(encoded)["x"].to_list() == [model[i] for i in wanted]
