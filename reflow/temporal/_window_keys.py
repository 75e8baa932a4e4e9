"""The join key of a window row in ``window_join``: its equality key with its window start.

Both sides of a window join compute, for each row, one ``JOIN_KEY`` value from the row's key
columns (the numeric ones as floats, see ``_join_common.hashable_keys``) and its window
start, and the equi-join matches rows with equal values. Any function of the row's values
serves, as long as equal (key, start) pairs give equal values and different pairs different
ones. For the common case, one numeric key and integer window starts, the value is a
bijection of the pair's two 64-bit words (two Feistel rounds of a 64-bit mixer), computed on
numpy: unlike the general hash (``hash_columns``, a Polars query of ~0.2-0.5 ms on a small
batch), no pair can collide. Rows outside that case (a null or NaN key, several key columns,
other key types) take the general hash, row by row the same whatever batch they arrive in.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import polars as pl

from reflow.engine.batch import frame_of, series_from_numpy
from reflow.engine.ids import hash_columns, ids_from_halves
from reflow.engine.lazy_modules import imported_on_use

if TYPE_CHECKING:
    import numpy as np
else:
    np = imported_on_use("numpy", globals(), "np")

SALT = "window-join"
_ROUND_KEYS = (0x243F_6A88_85A3_08D3, 0x1319_8A2E_0370_7344)


def window_join_keys(keys: list[pl.Series], starts: pl.Series, name: str) -> pl.Series:
    """The ``JOIN_KEY`` of each row with key columns ``keys`` (as hashed) and window start
    ``starts``, named ``name``."""
    if len(keys) != 1 or keys[0].dtype != pl.Float64 or starts.dtype != pl.Int64:
        return _hashed(keys, starts, name)
    values = keys[0].to_numpy()  # a null is NaN here
    plain = ~np.isnan(values)
    if starts.null_count():
        plain &= ~starts.is_null().to_numpy()
    if not plain.any():
        return _hashed(keys, starts, name)
    words = (values + 0.0).view(np.uint64)  # -0.0 as 0.0: they are equal keys
    low = starts.to_numpy().view(np.uint64) ^ _mix(words ^ np.uint64(_ROUND_KEYS[0]))
    high = words ^ _mix(low ^ np.uint64(_ROUND_KEYS[1]))
    mixed = ids_from_halves(high, low, name)
    if plain.all():
        return mixed
    return mixed.zip_with(series_from_numpy("plain", plain), _hashed(keys, starts, name))


def _hashed(keys: list[pl.Series], starts: pl.Series, name: str) -> pl.Series:
    frame = frame_of([*(key.alias(f"k{i}") for i, key in enumerate(keys)), starts.alias("s")])
    return hash_columns(frame, frame.columns, SALT).alias(name)


def _mix(x: np.ndarray) -> np.ndarray:
    """A bijective 64-bit mixer (the finalizer of splitmix64), on a fresh array."""
    x = x ^ (x >> np.uint64(30))
    x *= np.uint64(0xBF58_476D_1CE4_E5B9)
    x ^= x >> np.uint64(27)
    x *= np.uint64(0x94D0_49BB_1331_11EB)
    x ^= x >> np.uint64(31)
    return x
