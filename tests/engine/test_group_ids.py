"""The group ids of a reduce kept as running sums: large key columns are hashed in one call,
small ones through the cache of known keys; both give every row the id of its key."""

from __future__ import annotations

import itertools
import random

import polars as pl

from reflow.engine.ids import hash_columns
from reflow.engine.state import invertible
from reflow.engine.state.aggregates import Count
from reflow.engine.state.invertible import InvertibleGroups


def _groups(keys: list[tuple[str, pl.DataType]]) -> InvertibleGroups:
    return InvertibleGroups([(name, None, name, dtype) for name, dtype in keys],
                            [(Count(), [], [], "c", None, pl.Int64())],
                            id_column=None, global_id=None, cache_keys=True)


def test_group_ids_of_small_and_large_batches_are_the_ids_of_their_keys() -> None:
    rng = random.Random(7)
    limit = invertible._HASH_ALL_ROWS
    for columns in ([("w", pl.String())], [("w", pl.String()), ("k", pl.Int64())]):
        groups = _groups(columns)
        for height in (1, 20, 3000, limit - 1, limit, 3 * limit, 50):
            frame = pl.DataFrame({
                "w": [rng.choice([None, "", "a", f"w{rng.randint(0, 900)}"])
                      for _ in range(height)],
                "k": [rng.randint(-3, 3) for _ in range(height)],
            }).select([name for name, _ in columns])
            values = [frame[name].to_list() for name, _ in columns]
            gids = groups._gids_of_keys(frame, values)
            # The ids of a few rows at a time (``hash_columns``'s path for few rows).
            rows = rng.sample(range(height), min(height, 40))
            assert [gids[i] for i in rows] == [
                hash_columns(frame[i:i + 1], [name for name, _ in columns])[0] for i in rows
            ]


def test_partials_of_a_large_batch_add_up_with_those_of_small_ones() -> None:
    rng = random.Random(3)
    rows = [f"w{int(rng.paretovariate(1.2)) % 5000}" for _ in range(40_000)]
    frame = pl.DataFrame({"w": rows, "_diff": [1] * len(rows)})
    whole = _groups([("w", pl.String())])
    expected = whole.process_partials([whole.partials(frame)])
    assert expected is not None
    pieces = _groups([("w", pl.String())])
    cuts = [0, 7, 100, 20_000, 40_000]
    parts = [pieces.partials(frame[a:b]) for a, b in itertools.pairwise(cuts)]
    got = pieces.process_partials(parts)
    assert got is not None
    assert sorted(got.select("w", "c").rows()) == sorted(expected.select("w", "c").rows())
    assert sorted(got["_id"].to_list()) == sorted(expected["_id"].to_list())
