"""Rows of a frame by position, and frames from row tuples column by column, for small deltas.

``frame[positions]`` converts its index in Python (a list goes through ``pl.Series``' type
inference, a numpy array through several checks) before Polars gathers: ~60-80 µs for 100
rows, of which the gather itself is ~25 µs. ``take`` builds the index column with Polars'
typed constructor and calls the gather directly. ``columns_frame`` builds a frame from row
tuples with one typed constructor per column, several times faster than from rows.

Both fall back to the public API on another Polars build or an index type they do not know.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import polars as pl

from reflow.engine.lazy_modules import imported_on_use

if TYPE_CHECKING:
    import numpy as np
else:
    np = imported_on_use("numpy", globals(), "np")

# Polars' column and frame classes. Typed Any: their stubs do not describe the installed build.
_PySeries: Any
_PyDataFrame: Any
try:
    from polars import _plr

    _PySeries, _PyDataFrame = _plr.PySeries, _plr.PyDataFrame
except ImportError:  # pragma: no cover - another Polars build: the public API
    _PySeries = _PyDataFrame = None

# The gather takes indexes of Polars' index type (UInt32, or UInt64 on a 64-bit-index build).
_INDEX_64 = pl.get_index_type() == pl.UInt64
_INDEX_LIMIT = 2**64 if _INDEX_64 else 2**32
_FAST = _PySeries is not None and hasattr(_PySeries, "new_u32") and hasattr(
    _PyDataFrame, "gather_with_series"
)


def take(frame: pl.DataFrame, positions: Sequence[int] | np.ndarray) -> pl.DataFrame:
    """The rows of ``frame`` at ``positions`` (valid, non-negative), in order: ``frame[positions]``.

    >>> take(pl.DataFrame({"a": [1, 2, 3]}), [2, 0, 2])["a"].to_list()
    [3, 1, 3]
    """
    if not _FAST or frame.height >= _INDEX_LIMIT:
        return frame[positions if isinstance(positions, list) else list(positions)]
    if isinstance(positions, np.ndarray):
        index = positions.astype(np.uint64 if _INDEX_64 else np.uint32)
        if not index.flags.c_contiguous:  # pragma: no cover - the callers' arrays are
            index = np.ascontiguousarray(index)
        built = (_PySeries.new_u64 if _INDEX_64 else _PySeries.new_u32)("", index, True)
    else:
        built = (_PySeries.new_opt_u64 if _INDEX_64 else _PySeries.new_opt_u32)(
            "", positions if isinstance(positions, list) else list(positions), True
        )
    return pl.DataFrame._from_pydf(frame._df.gather_with_series(built))


# Polars' own constructors of a column of each plain type from a list of Python values (or
# None), called with the column's name, the values and ``strict``.
BUILDERS: dict[type, Callable] = {}
if _PySeries is not None and _PyDataFrame is not None:
    for _dtype, _builder in (
        (pl.Int8, "new_opt_i8"), (pl.Int16, "new_opt_i16"), (pl.Int32, "new_opt_i32"),
        (pl.Int64, "new_opt_i64"), (pl.Int128, "new_opt_i128"), (pl.UInt8, "new_opt_u8"),
        (pl.UInt16, "new_opt_u16"), (pl.UInt32, "new_opt_u32"), (pl.UInt64, "new_opt_u64"),
        (pl.UInt128, "new_opt_u128"), (pl.Float32, "new_opt_f32"), (pl.Float64, "new_opt_f64"),
        (pl.Boolean, "new_opt_bool"), (pl.String, "new_str"),
    ):
        if hasattr(_PySeries, _builder):
            BUILDERS[_dtype] = getattr(_PySeries, _builder)


def column_builders(schema: pl.Schema) -> list[tuple[str, Callable]] | None:
    """The name and typed constructor of every column of ``schema``, or None when a column
    has a type without one (``columns_frame`` then needs ``frame_from_rows``)."""
    builders = [BUILDERS.get(type(dtype)) for dtype in schema.values()]
    if None in builders:
        return None
    return [(name, build) for name, build in zip(schema.names(), builders, strict=True)
            if build is not None]


def columns_frame(rows: list[tuple], builders: list[tuple[str, Callable]]) -> pl.DataFrame | None:
    """The frame of these row tuples (at least one), built column by column with
    ``column_builders``; None when a value is not of its column's type (the caller then
    builds it from rows, which converts or reports it).

    >>> schema = pl.Schema({"n": pl.Int64, "s": pl.String})
    >>> columns_frame([(1, "a"), (None, "b")], column_builders(schema)).rows()
    [(1, 'a'), (None, 'b')]
    """
    try:
        return pl.DataFrame._from_pydf(_PyDataFrame([
            build(name, column, True)
            for (name, build), column in zip(builders, zip(*rows), strict=True)
        ]))
    except (TypeError, OverflowError, ValueError):
        return None
