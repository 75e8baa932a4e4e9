"""Deterministic 128-bit row ids.

Ids are hashes of values: of a primary key or row label for inputs, of the grouping key for
groupby, of the pair of ids for joins. The same values always give the same id, whether they
are hashed one at a time (``hash_values``) or a whole column at once (``hash_columns``), because
both go through the same vectorized kernel.

An id is two independent 64-bit hashes side by side. Each half hashes every key column with
its own seed, folds the per-column hashes into one number (wrapping ``xor`` and multiply,
starting from a constant derived from the salt) and mixes the result; the halves are then laid
together as ``high * 2**64 + low``.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast

import polars as pl

from reflow.engine.batch import ID, ID_DTYPE, frame_of, series_of
from reflow.engine.lazy_modules import imported_on_use
from reflow.engine.values import Json, Pointer

if TYPE_CHECKING:
    import numpy as np
else:
    np = imported_on_use("numpy", globals(), "np")

# Per-half column seeds, fold multipliers (odd, so multiplying is a bijection) and null hashes.
_SEEDS = (0x5EED_0001, 0x5EED_0002)
_FOLD = (0x9E37_79B9_7F4A_7C15, 0xC2B2_AE3D_27D4_EB4F)
_NULLS = (0x2545_F491_4F6C_DD1D, 0x1656_67B1_9E37_79F9)
_MIX = (0xBF58_476D_1CE4_E5B9, 0x94D0_49BB_1331_11EB)


@functools.cache
def _u64(words: tuple[int, int]) -> tuple[np.uint64, np.uint64]:
    """``words`` as numpy scalars (made on first use: numpy loads with the first hash)."""
    return np.uint64(words[0]), np.uint64(words[1])

# Up to this many rows an id column is built from Python ints: cheaper than a Polars call.
_SMALL = 128


def _canonical_text(value: Any) -> str:
    """A stable text form of an arbitrary Python object, for hashing objects Polars cannot."""
    if value is None:
        return "\x00none"
    inner = value.value if isinstance(value, Json) else value
    try:
        return type(inner).__name__ + ":" + json.dumps(inner, sort_keys=True, default=repr)
    except (TypeError, ValueError):
        return type(inner).__name__ + ":" + repr(inner)


@functools.lru_cache(maxsize=4096)
def _salt_words(salt: str) -> tuple[np.uint64, np.uint64]:
    """Two 64-bit starting values of the fold, one per half, derived from the salt text."""
    digest = hashlib.blake2b(salt.encode(), digest_size=16, person=b"reflow-ids").digest()
    return (
        np.uint64(int.from_bytes(digest[:8], "little")),
        np.uint64(int.from_bytes(digest[8:], "little")),
    )


def _mix(x: np.ndarray, half: int) -> np.ndarray:
    """Finalize a folded hash in place (xor-shift / multiply avalanche)."""
    x ^= x >> np.uint64(31)
    x *= _u64(_MIX)[half]
    x ^= x >> np.uint64(29)
    return x


def _hashable(series: pl.Series) -> pl.Series:
    """The series to hash: object columns are hashed through their canonical text (a missing
    value stays null, so it hashes like a null of any other dtype)."""
    if series.dtype == pl.Object:
        return pl.Series(
            series.name,
            [None if v is None else _canonical_text(v) for v in series.to_list()],
            dtype=pl.String,
        )
    return series


def _value_hashes(series: pl.Series, seed: int) -> np.ndarray:
    """Per-row hashes of a column. In an object column, a plain value (int, float, str, bool,
    bytes, Pointer) hashes as it does in a column of its own type, so an id depends on the
    value and not on the column's declared type; other objects hash their canonical text."""
    if series.dtype != pl.Object:
        return series.hash(seed).to_numpy()
    values = series.to_list()
    by_kind: dict[type, list[int]] = {}
    for position, value in enumerate(values):
        if value is not None:
            by_kind.setdefault(type(infer_polars_dtype(value)), []).append(position)
    out = np.zeros(len(values), dtype=np.uint64)
    for kind, positions in by_kind.items():
        chosen = [values[i] for i in positions]
        if kind is pl.Object:
            typed = pl.Series([_canonical_text(v) for v in chosen], dtype=pl.String)
        else:
            stored = [int(v) if isinstance(v, Pointer) else v for v in chosen]
            typed = pl.Series(stored, dtype=infer_polars_dtype(chosen[0]))
        out[positions] = typed.hash(seed).to_numpy()
    return out


def _half(columns: list[pl.Series], nulls: list[np.ndarray | None], salt: np.uint64, half: int
) -> np.ndarray:
    """One 64-bit half of the ids: fold the per-column hashes with this half's seed."""
    acc = np.full(columns[0].len(), salt, dtype=np.uint64)
    for series, null in zip(columns, nulls, strict=True):
        hashed = _value_hashes(series, _SEEDS[half])
        if null is not None:
            hashed = np.where(null, _u64(_NULLS)[half], hashed)
        acc ^= hashed
        acc *= _u64(_FOLD)[half]
    return _mix(acc, half)


def _column_hashes(columns: list[pl.Series]) -> list[tuple[np.ndarray, np.ndarray]]:
    """``_value_hashes`` of every column with both halves' seeds, as (high, low) pairs.

    The columns Polars can hash go through one query: each ``Series.hash`` is a Polars call
    of its own, whose fixed cost dominates the small batches of a streaming run."""
    out: list[tuple[np.ndarray, np.ndarray] | None] = [None] * len(columns)
    plain = [i for i, series in enumerate(columns) if series.dtype != pl.Object]
    if len(plain) == 1 and (alone := _hashes_alone(columns[plain[0]])) is not None:
        out[plain[0]] = alone
    elif plain:
        frame = pl.DataFrame([columns[i].alias(f"c{i}") for i in plain])
        hashed = frame.select(_hash_exprs(len(plain), ())).get_columns()
        for position, i in enumerate(plain):
            out[i] = (hashed[2 * position].to_numpy(), hashed[2 * position + 1].to_numpy())
    for i, series in enumerate(columns):
        if out[i] is None:
            out[i] = (_value_hashes(series, _SEEDS[0]), _value_hashes(series, _SEEDS[1]))
    return cast("list[tuple[np.ndarray, np.ndarray]]", out)


@functools.lru_cache(maxsize=256)
def _hash_exprs(count: int, with_nulls: tuple[int, ...]) -> list[pl.Expr]:
    """The expressions hashing columns ``c0``..``c{count-1}`` with both halves' seeds (in
    that order, ``h{i}_0`` then ``h{i}_1``), then the null masks of the columns
    ``with_nulls``: built once, since building expressions costs more Python than the query
    itself on a small batch."""
    exprs = [pl.col(f"c{i}").hash(_SEEDS[half]).alias(f"h{i}_{half}")
             for i in range(count) for half in (0, 1)]
    exprs.extend(pl.col(f"c{i}").is_null().alias(f"n{i}") for i in with_nulls)
    return exprs


# Up to this many rows a column hashed alone goes through ``DataFrame.hash_rows``: for a frame
# of one column it gives exactly ``Expr.hash`` with the same seed (both are Polars' per-value
# hash; ``tests/engine/test_lone_column_hash.py`` checks every dtype listed below), in one
# eager call per seed without a query: about half the CPU of the ``select`` hashing the
# column with both seeds (~40 against ~80 us for 100 rows).
_LONE_ROWS = 4096
_LONE_DTYPES = frozenset({
    pl.Int8, pl.Int16, pl.Int32, pl.Int64, pl.UInt8, pl.UInt16, pl.UInt32, pl.UInt64,
    pl.UInt128, pl.Float32, pl.Float64, pl.String, pl.Boolean, pl.Binary, pl.Null,
})


def _hashes_alone(series: pl.Series) -> tuple[np.ndarray, np.ndarray] | None:
    """The column's value hashes with both halves' seeds, as ``_column_hashes`` gives them,
    when ``series`` is small and of a dtype ``hash_rows`` hashes like ``Expr.hash``; else
    ``None``."""
    if series.len() > _LONE_ROWS or series.dtype.base_type() not in _LONE_DTYPES:
        return None
    frame = frame_of([series])
    return (frame.hash_rows(_SEEDS[0]).to_numpy(), frame.hash_rows(_SEEDS[1]).to_numpy())


def _fold(hashes: list[np.ndarray], nulls: list[np.ndarray | None], salt: np.uint64, half: int
) -> np.ndarray:
    """``_half`` from the columns' hashes already computed with this half's seed."""
    acc = np.full(len(hashes[0]), salt, dtype=np.uint64)
    for hashed, null in zip(hashes, nulls, strict=True):
        if null is not None:
            hashed = np.where(null, _u64(_NULLS)[half], hashed)
        acc ^= hashed
        acc *= _u64(_FOLD)[half]
    return _mix(acc, half)


def ids_from_halves(high: np.ndarray, low: np.ndarray, name: str = ID) -> pl.Series:
    """A ``UInt128`` series whose values are ``high * 2**64 + low`` (two ``uint64`` arrays).

    >>> import numpy as np
    >>> ids = ids_from_halves(np.array([1, 0], dtype=np.uint64), np.array([2, 3], dtype=np.uint64))
    >>> ids.to_list() == [2**64 + 2, 3]
    True
    """
    n = len(low)
    if n <= _SMALL:
        return series_of(
            name, [(h << 64) | lo for h, lo in zip(high.tolist(), low.tolist(), strict=True)],
            ID_DTYPE,
        )
    # One Polars expression (a UInt128 multiply-add of the two halves): measured faster and
    # lighter on memory than assembling the 16-byte values in a buffer and reinterpreting it.
    high128 = pl.lit(pl.Series(name, high, dtype=pl.UInt64)).cast(ID_DTYPE)
    low128 = pl.lit(pl.Series(name, low, dtype=pl.UInt64)).cast(ID_DTYPE)
    return pl.select((high128 * pl.lit(2**64, dtype=ID_DTYPE) + low128).alias(name)).to_series()


def hash_columns(frame: pl.DataFrame, columns: Sequence[str], salt: str = "") -> pl.Series:
    """128-bit ids computed from ``columns`` of ``frame``, one per row.

    >>> import polars as pl
    >>> ids = hash_columns(pl.DataFrame({"k": [1, 2, 1]}), ["k"])
    >>> ids[0] == ids[2], ids[0] == ids[1]
    (True, False)
    """
    if frame.height == 0:
        return pl.Series(ID, [], dtype=ID_DTYPE)
    series = [frame[name] for name in columns]
    if not series:
        series = [pl.Series("empty", [None] * frame.height, dtype=pl.Null)]
    if frame.height <= _FEW and all(s.dtype != pl.Object for s in series):
        return _few_ids(series, salt)
    nulls = [s.is_null().to_numpy() if s.null_count() else None for s in series]
    salt_high, salt_low = _salt_words(salt)
    hashes = _column_hashes(series)
    high = _fold([h for h, _ in hashes], nulls, salt_high, 0)
    low = _fold([lo for _, lo in hashes], nulls, salt_low, 1)
    return ids_from_halves(high, low)


# Python types whose values ``infer_polars_dtype`` stores with one dtype, known without a call.
_PLAIN_DTYPES: dict[type, pl.DataType] = {
    int: pl.Int64(), float: pl.Float64(), str: pl.String(), bool: pl.Boolean(),
}


# Up to this many rows (of non-object columns) ``hash_columns`` takes every column hash in one
# Polars call and folds them in Python ints: a Polars call costs tens of microseconds whatever
# its size, and the numpy path makes four of them per column.
_FEW = 16
_M64 = (1 << 64) - 1


def _few_ids(series: list[pl.Series], salt: str) -> pl.Series:
    """``hash_columns`` for a few rows: the same ids, folded in Python ints."""
    with_nulls = tuple(i for i, column in enumerate(series) if column.null_count())
    alone = _hashes_alone(series[0]) if len(series) == 1 else None
    if alone is not None:
        columns = {"h0_0": alone[0].tolist(), "h0_1": alone[1].tolist()}
        if with_nulls:
            columns["n0"] = series[0].is_null().to_list()
    else:
        frame = frame_of([s.alias(f"c{i}") for i, s in enumerate(series)]).select(
            _hash_exprs(len(series), with_nulls))
        columns = {column.name: column.to_list() for column in frame.get_columns()}
    # Per column, both halves' hashes with a null's hash where the value is missing.
    hashes = []
    for position in range(len(series)):
        high, low = columns[f"h{position}_0"], columns[f"h{position}_1"]
        nulls = columns.get(f"n{position}")
        if nulls is not None:
            high = [_NULLS[0] if null else h for h, null in zip(high, nulls, strict=True)]
            low = [_NULLS[1] if null else h for h, null in zip(low, nulls, strict=True)]
        hashes.append((high, low))
    salt_high, salt_low = (int(word) for word in _salt_words(salt))
    fold_high, fold_low = _FOLD
    mix_high, mix_low = _MIX
    ids = []
    for row in range(series[0].len()):
        high, low = salt_high, salt_low
        for column_high, column_low in hashes:
            high = ((high ^ column_high[row]) * fold_high) & _M64
            low = ((low ^ column_low[row]) * fold_low) & _M64
        high ^= high >> 31
        high = (high * mix_high) & _M64
        high ^= high >> 29
        low ^= low >> 31
        low = (low * mix_low) & _M64
        low ^= low >> 29
        ids.append((high << 64) | low)
    return series_of(ID, ids, ID_DTYPE)


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


def hash_typed_columns(columns: Sequence[pl.Series], salt: str = "") -> pl.Series:
    """The ids ``hash_value_rows`` gives rows whose values are the rows of ``columns``, for
    columns already stored with the dtype ``infer_polars_dtype`` gives their values
    (``Int64``, ``String``, ...) and no missing value: one vectorized call, no Python value.

    >>> hash_typed_columns([pl.Series([7, 8])]).to_list() == hash_value_rows([[7], [8]])
    True
    """
    if not columns or any(c.dtype == pl.Object or c.null_count() for c in columns):
        frame = pl.DataFrame({f"v{i}": column for i, column in enumerate(columns)})
        return hash_columns(frame, list(frame.columns), salt)
    if columns[0].len() == 0:
        return pl.Series(ID, [], dtype=ID_DTYPE)
    high, low = _typed_halves(columns, salt)
    return ids_from_halves(high, low)


def hash_typed_ids(columns: Sequence[pl.Series], salt: str = "") -> list[int]:
    """``hash_typed_columns(columns, salt).to_list()`` (same conditions on ``columns``), without
    building the ``UInt128`` series for a few rows.

    >>> hash_typed_ids([pl.Series([7, 8])]) == hash_value_rows([[7], [8]])
    True
    """
    if not columns or columns[0].len() > _SMALL or any(
        c.dtype == pl.Object or c.null_count() for c in columns
    ):
        return hash_typed_columns(columns, salt).to_list()
    high, low = _typed_halves(columns, salt)
    return [(h << 64) | lo for h, lo in zip(high.tolist(), low.tolist(), strict=True)]


def _typed_halves(columns: Sequence[pl.Series], salt: str) -> tuple[np.ndarray, np.ndarray]:
    """The two halves of ``hash_typed_columns``' ids: ``hash_columns``' vectorized path
    without what a small call pays around its query (a frame built from a dict, expressions
    built anew, null checks), and for one column without the query (``_hashes_alone``)."""
    alone = _hashes_alone(columns[0]) if len(columns) == 1 else None
    if alone is not None:
        hashes = [list(alone)]
    else:
        frame = frame_of([column.alias(f"c{i}") for i, column in enumerate(columns)])
        hashed = frame.select(_hash_expressions(len(columns)))
        hashes = [
            [hashed.get_column(f"h{i}_{half}").to_numpy() for half in (0, 1)]
            for i in range(len(columns))
        ]
    # Both halves folded at once: row 0 the high half, row 1 the low one.
    acc = np.empty((2, columns[0].len()), dtype=np.uint64)
    acc[:] = _salt_column(salt)
    fold, mix = _u64_column(_FOLD), _u64_column(_MIX)
    for pair in hashes:
        acc ^= np.stack(pair)
        acc *= fold
    acc ^= acc >> np.uint64(31)
    acc *= mix
    acc ^= acc >> np.uint64(29)
    return acc[0], acc[1]


@functools.cache
def _u64_column(words: tuple[int, int]) -> np.ndarray:
    """``words`` as a (2, 1) ``uint64`` array, one row per half (read-only)."""
    column = np.array(words, dtype=np.uint64).reshape(2, 1)
    column.flags.writeable = False
    return column


@functools.lru_cache(maxsize=4096)
def _salt_column(salt: str) -> np.ndarray:
    """``_salt_words(salt)`` as a (2, 1) ``uint64`` array (read-only)."""
    column = np.array(_salt_words(salt), dtype=np.uint64).reshape(2, 1)
    column.flags.writeable = False
    return column


@functools.lru_cache(maxsize=64)
def _hash_expressions(width: int) -> list[pl.Expr]:
    """The expressions hashing columns ``c0``..``c{width-1}`` with both halves' seeds."""
    return [
        pl.col(f"c{i}").hash(_SEEDS[half]).alias(f"h{i}_{half}")
        for i in range(width) for half in (0, 1)
    ]


def hash_value_rows(rows: Sequence[Sequence[Any]], salt: str = "") -> list[int]:
    """``[hash_values(row, salt) for row in rows]``, hashed in one vectorized call when every
    position holds values of one kind (else row by row, which gives the same ids).

    >>> hash_value_rows([[1, "a"], [2, None]]) == [hash_values([1, "a"]), hash_values([2, None])]
    True
    """
    if len(rows) < 2:
        return [hash_values(row, salt) for row in rows]
    width = len(rows[0])
    if width == 0 or any(len(row) != width for row in rows):
        return [hash_values(row, salt) for row in rows]
    data = {}
    for i in range(width):
        values = [row[i] for row in rows]
        python_kinds = {type(v) for v in values}
        python_kinds.discard(type(None))
        if len(python_kinds) == 1 and (kind := python_kinds.pop()) in _PLAIN_DTYPES:
            dtype = _PLAIN_DTYPES[kind]  # the common case, without a call per value
        else:
            kinds = {type(infer_polars_dtype(v)) for v in values if v is not None}
            if len(kinds) > 1:
                return [hash_values(row, salt) for row in rows]
            dtype = kinds.pop()() if kinds else pl.Null()
        if dtype == ID_DTYPE:
            values = [None if v is None else int(v) for v in values]
        try:
            data[f"v{i}"] = pl.Series(values, dtype=dtype, strict=True)
        except (TypeError, OverflowError, pl.exceptions.PolarsError):
            return [hash_values(row, salt) for row in rows]
    frame = pl.DataFrame(data)
    return hash_columns(frame, list(frame.columns), salt).to_list()
