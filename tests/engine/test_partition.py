"""Sharding by key: every stateful operator, fed its input split by key hash over N copies,
gives in union exactly the output of one unsharded copy, at every time."""

from __future__ import annotations

import polars as pl
import pytest

from reflow.engine.state.partition import (
    PARTITIONS,
    partition_of,
    partitions_of_shard,
    shard_of,
    split,
)
from tests.engine.cases import CASES
from tests.engine.replay import (
    lower,
    record_stateful,
    recorded_outputs,
    run_sharded,
    stateful_classes,
)
from tests.engine.test_snapshot_restore import all_stateful_operator_classes

# Asynchronous results reach the operator through its own inbox, not through its inputs, so
# copies built apart cannot be fed by replaying recorded calls.
# A loop's body mixes keys (a vertex's label comes from its neighbours), so the loop is not
# sharded: every shard would run all of it (``IterateOperator.partition_key`` broadcasts).
_NOT_REPLAYABLE = {"future_map", "iterate_components"}


def _recorded(name):
    built = lower(CASES[name])
    recordings = record_stateful(built)
    built.run(built.times)
    built.finish()
    return built, recordings


@pytest.mark.parametrize("shards", [1, 2, 4])
@pytest.mark.parametrize("name", sorted(set(CASES) - _NOT_REPLAYABLE))
def test_shards_together_give_the_unsharded_output(name, shards):
    built, recordings = _recorded(name)
    assert recordings, f"{name} has no stateful operator"
    for index, recording in recordings.items():
        operator = built.dataflow.operators[index]
        expected = recorded_outputs(recording)
        got = run_sharded(CASES[name], index, recording, shards)
        assert got == expected, f"{name}: {operator!r} over {shards} shards"


def test_every_stateful_operator_is_sharded_by_a_case():
    covered = set()
    for name in set(CASES) - _NOT_REPLAYABLE:
        covered |= stateful_classes(lower(CASES[name]))
    missing = {c.__name__ for c in all_stateful_operator_classes() - covered}
    assert missing <= {"FutureMapOperator", "IterateOperator"}, (
        f"no partition case for {sorted(missing)}")


def test_a_hot_key_and_empty_shards_occur():
    """The generated streams put half of the rows on one key, so with 4 shards one shard is
    loaded and, for operators with few keys, some shards stay empty."""
    built, recordings = _recorded("reduce_invertible")
    ((index, recording),) = recordings.items()
    operator = built.dataflow.operators[index]
    sizes = [0] * 4
    for _time, deltas in recording.calls:
        key = operator.partition_key(0, deltas[0], built.dataflow.ctx)
        for shard, part in enumerate(split(deltas[0], key, 4)):
            sizes[shard] += 0 if part is None else part.height
    assert max(sizes) * 2 >= sum(sizes)
    assert 0 in sizes or min(sizes) < max(sizes) / 4


def test_partitions_cover_every_shard_range_exactly_once():
    for shards in (1, 2, 3, 4, 7, PARTITIONS):
        owned = [p for s in range(shards) for p in partitions_of_shard(s, shards)]
        assert owned == list(range(PARTITIONS))
        for s in range(shards):
            parts = partitions_of_shard(s, shards)
            assert set(shard_of(pl.Series(list(parts)).to_numpy(), shards).tolist()) <= {s}


def test_partition_is_a_function_of_the_128_bit_hash():
    ids = pl.Series([0, 255, 256, 2**64 + 3, 2**128 - 1], dtype=pl.UInt128)
    assert partition_of(ids).tolist() == [0, 255, 0, 3, 255]
    with pytest.raises(ValueError, match="between 1 and 256"):
        shard_of(partition_of(ids), 0)
