"""Which shard holds which keys.

State is split by key into a fixed number of partitions, ``PARTITIONS``, whatever the number of
shards: a key's partition is a function of its 128-bit hash alone (the ids and key hashes the
engine already computes, ``reflow.engine.ids``), and a shard holds a contiguous range of
partitions. Going from N to M shards moves whole partitions, so snapshots taken per partition
can be routed again without rehashing any state.

Each operator says how the rows of each of its inputs are routed
(``Operator.partition_key``): by a key hash (the rows that meet in one piece of state go to
the same shard), or to every shard (``BROADCAST``, for inputs every shard must see, such as
an event-time frontier).

>>> import polars as pl
>>> ids = pl.Series([1, 2, 3, 2**127 + 5], dtype=pl.UInt128)
>>> partition_of(ids).tolist()
[1, 2, 3, 5]
>>> shard_of(partition_of(ids), 4).tolist()
[0, 0, 0, 0]
>>> [b.height if b is not None else 0 for b in split(
...     pl.DataFrame({"_id": ids, "_diff": [1, 1, 1, 1]}), ids, 2)]
[4, 0]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import polars as pl

from reflow.engine.lazy_modules import imported_on_use

if TYPE_CHECKING:
    import numpy as np
else:
    np = imported_on_use("numpy", globals(), "np")

#: The number of key partitions; fixed, so that any number of shards up to it maps onto it.
PARTITIONS = 256


class Broadcast:
    """The type of ``BROADCAST``."""

    def __repr__(self) -> str:
        return "BROADCAST"


#: Returned by ``Operator.partition_key`` for an input that every shard must receive whole.
BROADCAST = Broadcast()

#: The column of ``Operator.combine``'s pre-aggregated rows holding each row's key hash.
PARTIAL_KEY = "\x00key"


def partition_of(hashes: pl.Series) -> np.ndarray:
    """The partition (``0 <= p < PARTITIONS``) of each 128-bit key hash: its lowest bits."""
    rest = pl.lit(hashes).cast(pl.UInt128) % pl.lit(PARTITIONS, dtype=pl.UInt128)
    return pl.select(rest.cast(pl.Int64)).to_series().to_numpy()


def shard_of(partitions: np.ndarray, shards: int) -> np.ndarray:
    """The shard holding each partition when there are ``shards`` shards (contiguous ranges)."""
    if not 1 <= shards <= PARTITIONS:
        raise ValueError(f"the number of shards must be between 1 and {PARTITIONS}, not {shards}")
    return partitions * shards // PARTITIONS


def partitions_of_shard(shard: int, shards: int) -> range:
    """The partitions shard ``shard`` of ``shards`` holds.

    >>> partitions_of_shard(1, 4)
    range(64, 128)
    """
    return range(-(-shard * PARTITIONS // shards), -(-(shard + 1) * PARTITIONS // shards))


def owners(hashes: Sequence[int] | pl.Series, shards: int) -> np.ndarray:
    """The shard owning each 128-bit key hash among ``shards`` (the exchange's routing).

    >>> owners([1, 200], 2).tolist()
    [0, 1]
    """
    series = hashes if isinstance(hashes, pl.Series) else pl.Series(list(hashes),
                                                                      dtype=pl.UInt128)
    if series.len() == 0:
        return np.zeros(0, dtype=np.int64)
    return shard_of(partition_of(series), shards)


def split(batch: pl.DataFrame, hashes: pl.Series, shards: int) -> list[pl.DataFrame | None]:
    """``batch`` cut into one batch per shard by the key hash of each row (``None``: empty)."""
    owner = shard_of(partition_of(hashes), shards)
    out: list[pl.DataFrame | None] = []
    for shard in range(shards):
        part = batch.filter(pl.Series(owner == shard))
        out.append(part if part.height else None)
    return out


def single_partition(batch: pl.DataFrame) -> pl.Series:
    """A key hash putting every row of ``batch`` in partition 0: for operators whose state
    cannot be split by key (one global value, such as an event-time frontier)."""
    return pl.Series("_partition", [0] * batch.height, dtype=pl.UInt128)
