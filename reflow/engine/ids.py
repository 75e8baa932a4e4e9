"""Deterministic 128-bit row ids.

Ids are hashes of values: of a primary key or row label for inputs, of the grouping key for
groupby, of the pair of ids for joins. The same values always give the same id, whether they
are hashed one at a time (``hash_values``) or a whole column at once (``hash_columns``), because
both go through the same vectorized kernel.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import polars as pl

from reflow.engine.batch import ID_DTYPE
from reflow.engine.values import Json, Pointer

_SEED_HIGH = 0x5EED_0001
_SEED_LOW = 0x5EED_0002
_NULL_HASH = 0x9E37_79B9_7F4A_7C15
_TWO_64 = 2**64


def _canonical_text(value: Any) -> str:
    """A stable text form of an arbitrary Python object, for hashing objects Polars cannot."""
    if value is None:
        return "\x00none"
    inner = value.value if isinstance(value, Json) else value
    try:
        return type(inner).__name__ + ":" + json.dumps(inner, sort_keys=True, default=repr)
    except (TypeError, ValueError):
        return type(inner).__name__ + ":" + repr(inner)


def _column_hash(series_expr: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """Hash one column to UInt64, with nulls mapped to a constant whatever the dtype."""
    if dtype == pl.Object:
        raise TypeError("object columns are hashed through their text form")
    return pl.when(series_expr.is_null()).then(pl.lit(_NULL_HASH, dtype=pl.UInt64)).otherwise(
        series_expr.hash(_SEED_LOW)
    )


def hash_columns(frame: pl.DataFrame, columns: Sequence[str], salt: str = "") -> pl.Series:
    """128-bit ids computed from ``columns`` of ``frame``, one per row.

    >>> import polars as pl
    >>> ids = hash_columns(pl.DataFrame({"k": [1, 2, 1]}), ["k"])
    >>> ids[0] == ids[2], ids[0] == ids[1]
    (True, False)
    """
    if frame.height == 0:
        return pl.Series("_id", [], dtype=ID_DTYPE)
    prepared = frame.select(
        [
            pl.Series(
                f"c{i}",
                [_canonical_text(v) for v in frame[name].to_list()],
                dtype=pl.String,
            )
            if frame.schema[name] == pl.Object
            else pl.col(name).alias(f"c{i}")
            for i, name in enumerate(columns)
        ]
    )
    per_column = [
        _column_hash(pl.col(f"c{i}"), prepared.schema[f"c{i}"]).alias(f"h{i}")
        for i in range(len(columns))
    ]
    hashed = prepared.select(pl.lit(salt, dtype=pl.String).alias("salt"), *per_column)
    combined = pl.struct(hashed.columns)
    return hashed.select(
        (
            combined.hash(_SEED_HIGH).cast(ID_DTYPE) * pl.lit(_TWO_64, dtype=ID_DTYPE)
            + combined.hash(_SEED_LOW).cast(ID_DTYPE)
        ).alias("_id")
    ).to_series()


def infer_polars_dtype(value: Any) -> pl.DataType:
    """The Polars dtype a lone Python value is stored with when hashed on its own."""
    if value is None:
        return pl.Null()
    if isinstance(value, bool):
        return pl.Boolean()
    if isinstance(value, Pointer):
        return ID_DTYPE()
    if isinstance(value, int):
        return pl.Int64()
    if isinstance(value, float):
        return pl.Float64()
    if isinstance(value, str):
        return pl.String()
    if isinstance(value, bytes):
        return pl.Binary()
    return pl.Object()


def hash_values(values: Sequence[Any], salt: str = "") -> int:
    """The id that ``hash_columns`` gives a row holding ``values``."""
    data = {}
    for i, value in enumerate(values):
        dtype = infer_polars_dtype(value)
        stored = int(value) if isinstance(value, Pointer) else value
        data[f"v{i}"] = pl.Series([stored], dtype=dtype)
    if not data:
        data["empty"] = pl.Series([None], dtype=pl.Null)
    frame = pl.DataFrame(data)
    return hash_columns(frame, list(frame.columns), salt)[0]
