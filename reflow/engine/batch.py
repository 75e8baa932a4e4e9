"""Columnar Z-set delta batches.

A batch is a Polars ``DataFrame`` with a 128-bit ``_id`` column, the value columns and an
``Int64`` ``_diff`` column (+1 insert, -1 retract). One batch carries every change one operator
emits at one logical time. The engine never looks inside value columns except through kernels
handed to it by the layer above.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import polars as pl

from reflow.engine.lazy_modules import imported_on_use

if TYPE_CHECKING:
    import numpy as np
else:
    np = imported_on_use("numpy", globals(), "np")

ID = "_id"
DIFF = "_diff"
ID_DTYPE = pl.UInt128
DIFF_DTYPE = pl.Int64
RESERVED = (ID, DIFF)


def empty_batch(columns: Mapping[str, pl.DataType]) -> pl.DataFrame:
    """An empty batch with ``_id``, the given value columns and ``_diff``."""
    return pl.DataFrame(schema={ID: ID_DTYPE, **columns, DIFF: DIFF_DTYPE})


# Polars' row constructor without its per-call schema normalization in Python. Typed Any:
# the stubs of this private class do not describe the signatures of the installed build.
_PyDataFrame: Any
try:
    from polars import _plr

    _PyDataFrame = _plr.PyDataFrame
except ImportError:  # pragma: no cover - another Polars build: the public constructor
    _PyDataFrame = None


def frame_from_rows(rows: list[tuple], schema: pl.Schema) -> pl.DataFrame:
    """A frame from row tuples in ``schema``'s column order.

    The same frame as ``pl.DataFrame(rows, schema=schema, orient="row")``, built in ~5 µs
    instead of ~20 µs for a couple of rows (the public constructor re-checks the schema in
    Python on every call), which counts when an update is one or two rows.

    >>> frame_from_rows([(1, "a")], pl.Schema({"n": pl.Int64, "s": pl.String})).rows()
    [(1, 'a')]
    """
    if _PyDataFrame is not None and rows:
        return pl.DataFrame._from_pydf(_PyDataFrame.from_rows(rows, schema=schema))
    return pl.DataFrame(rows, schema=schema, orient="row")


# Polars' typed column constructors, without the public constructor's inference in Python
# (~4 µs instead of ~15-25 µs for a hundred values).
_SERIES_CONSTRUCTORS: dict[Any, str] = {
    pl.Int64: "new_opt_i64",
    pl.Float64: "new_opt_f64",
    pl.String: "new_str",
    pl.Boolean: "new_opt_bool",
    pl.UInt128: "new_opt_u128",
}


def series_of(name: str, values: list, dtype: pl.DataType | type[pl.DataType]) -> pl.Series:
    """``pl.Series(name, values, dtype=dtype)`` for values that are all of the Python type
    ``dtype`` stores (``int`` for ``Int64`` and ``UInt128``, ``float``, ``str``, ``bool``) or
    ``None``; the caller checks the types (an ``Int64`` column would take a bool as 1).

    >>> series_of("n", [1, None], pl.Int64).to_list()
    [1, None]
    """
    constructor = _SERIES_CONSTRUCTORS.get(dtype)
    if _PyDataFrame is None or constructor is None:
        return pl.Series(name, values, dtype=dtype)
    return pl.Series._from_pyseries(getattr(_plr.PySeries, constructor)(name, values, True))


# Polars' numpy constructors, called without ``pl.Series``'s checks in Python (~1 µs instead
# of ~6 µs for a small array, several times that under load).
# Keyed by (kind, item size): ``dtype.name`` is computed in Python on every access.
_NUMPY_CONSTRUCTORS: dict[tuple[str, int], str] = {
    ("i", 8): "new_i64", ("f", 8): "new_f64", ("b", 1): "new_bool"}


def series_from_numpy(name: str, array: np.ndarray) -> pl.Series:
    """``pl.Series(name, array)`` for a one-dimensional ``int64``, ``float64`` or ``bool``
    array (NaN stays NaN), without the public constructor's work in Python.

    >>> import numpy as np
    >>> series_from_numpy("n", np.array([3, 4])).to_list()
    [3, 4]
    """
    constructor = _NUMPY_CONSTRUCTORS.get((array.dtype.kind, array.dtype.itemsize))
    if (_PyDataFrame is None or constructor is None or array.ndim != 1
            or not array.dtype.isnative):
        return pl.Series(name, array)
    values = np.ascontiguousarray(array)
    return pl.Series._from_pyseries(getattr(_plr.PySeries, constructor)(name, values, False))


def frame_of(columns: list[pl.Series]) -> pl.DataFrame:
    """A frame of ``columns`` (distinct names, equal lengths), without the public
    constructor's per-call checks in Python.

    >>> frame_of([pl.Series("a", [1]), pl.Series("b", ["x"])]).rows()
    [(1, 'x')]
    """
    if _PyDataFrame is None:  # pragma: no cover - another Polars build
        return pl.DataFrame(columns)
    return pl.DataFrame._from_pydf(_PyDataFrame([column._s for column in columns]))


def pick_columns(frame: pl.DataFrame, picks: list[tuple[str, str]]) -> pl.DataFrame:
    """A frame of the columns ``(source, name)`` of ``frame``, renamed; no data is copied.

    Several times cheaper than ``frame.select(...)`` or building a frame from renamed Series
    on the tiny batches of streaming updates.

    >>> f = pl.DataFrame({"a": [1], "b": [2]})
    >>> pick_columns(f, [("b", "x"), ("a", "a")]).rows(named=True)
    [{'x': 2, 'a': 1}]
    """
    if _PyDataFrame is None:  # pragma: no cover - another Polars build
        return pl.DataFrame([frame.get_column(source).alias(name) for source, name in picks])
    columns = frame._df.get_columns()
    position = {name: i for i, name in enumerate(frame.columns)}
    picked = []
    for source, name in picks:
        column = columns[position[source]]
        if source != name:
            column = column.clone()  # shares the data; only the name is the copy's own
            column.rename(name)
        picked.append(column)
    return pl.DataFrame._from_pydf(_PyDataFrame(picked))


def value_columns(batch: pl.DataFrame) -> list[str]:
    """Names of the value columns of ``batch`` (everything but ``_id`` and ``_diff``)."""
    return [c for c in batch.columns if c not in RESERVED]


def negate(batch: pl.DataFrame) -> pl.DataFrame:
    """The same rows with opposite diffs."""
    return batch.with_columns(-pl.col(DIFF))


def concat_batches(batches: Iterable[pl.DataFrame | None]) -> pl.DataFrame | None:
    """Concatenate non-empty batches; ``None`` when there is nothing."""
    parts = [b for b in batches if b is not None and b.height]
    if not parts:
        return None
    if len(parts) == 1:
        return parts[0]
    order = parts[0].columns
    parts = [p if p.columns == order else p.select(order) for p in parts]
    schema = parts[0].schema
    if all(p.schema == schema for p in parts[1:]):
        # Stacking frames of one schema is no Polars query (``concat`` is one).
        out = parts[0]
        for part in parts[1:]:
            out = out.vstack(part)
        return out
    return pl.concat(parts, how="vertical_relaxed")


_PLAIN = (str, int, bool, type(None))  # cells that are their own key


def _row_key(value: Any) -> Any:
    """A hashable, NaN-stable stand-in for a cell, used only when consolidating rows."""
    if type(value) in _PLAIN:
        return value
    if isinstance(value, float) and math.isnan(value):
        return ("__nan__",)
    if isinstance(value, list):
        return ("__list__", tuple(_row_key(v) for v in value))
    if isinstance(value, tuple):
        return ("__tuple__", tuple(_row_key(v) for v in value))
    if isinstance(value, np.ndarray):  # exact and far cheaper than its text form
        return ("__ndarray__", value.dtype.str, value.shape, value.tobytes())
    try:
        hash(value)
    except TypeError:
        return ("__repr__", type(value).__name__, repr(value))
    return value


def consolidate(batch: pl.DataFrame | None) -> pl.DataFrame | None:
    """Merge rows that are identical but for their diff and drop rows whose diffs cancel.

    Only rows whose id occurs more than once can cancel, and in a typical batch there are
    none, so the common path is a single vectorized duplicate check.
    """
    if batch is None or batch.height == 0:
        return None
    if batch.height == 1:
        return batch if batch[DIFF][0] != 0 else None
    if batch.height <= _SMALL_BATCH:
        return _consolidate_small(batch)
    if batch.height <= _HASHED_CHECK:
        # Few Polars calls matter more than work here: when ids repeat, ask straight away
        # whether whole rows do (updates repeat an id with old and new values).
        if batch[ID].n_unique() == batch.height or _distinct_rows(batch):
            return _without_zero_diffs(batch)
        dup_mask = batch[ID].is_duplicated()
        shared = batch.filter(dup_mask)
    else:
        suspects = _duplicated_ids(batch[ID])
        if suspects is None:
            return _without_zero_diffs(batch)
        dup_mask = suspects
        shared = batch.filter(dup_mask)
        if _distinct_rows(shared):  # e.g. updates: an id retracted with old values, added anew
            return _without_zero_diffs(batch)
    unique_rows = batch.filter(~dup_mask)
    merged = _merge_shared(shared)
    out = pl.concat([unique_rows.filter(unique_rows[DIFF] != 0), merged], how="vertical_relaxed")
    return out if out.height else None


def _without_zero_diffs(batch: pl.DataFrame) -> pl.DataFrame | None:
    zero = batch[DIFF] == 0
    if not zero.any():
        return batch
    out = batch.filter(~zero)
    return out if out.height else None


def _duplicated_ids(ids: pl.Series) -> pl.Series | None:
    """Which rows share their id with another row; ``None`` when every id is unique.

    Exact, but cheap for big batches whose ids are (nearly) all unique: the ids are hashed to
    64 bits and the hashes sorted (numpy sorts integers fast); only rows whose hash occurs
    twice go through the exact 128-bit duplicate check.
    """
    n = ids.len()
    if n > _HASHED_CHECK:
        hashes = ids.hash().to_numpy()
        ordered = np.sort(hashes)
        repeats = ordered[1:] == ordered[:-1]
        count = int(np.count_nonzero(repeats))
        if count == 0:
            return None
        if count * _FEW_REPEATS <= n:
            suspects = np.isin(hashes, ordered[1:][repeats])
            exact = ids.filter(pl.Series(suspects)).is_duplicated().to_numpy()
            if not exact.any():
                return None
            mask = np.zeros(n, dtype=bool)
            mask[np.flatnonzero(suspects)[exact]] = True
            return pl.Series(mask)
    elif ids.n_unique() == n:
        return None
    duplicated = ids.is_duplicated()
    return duplicated if duplicated.any() else None


# Above this many rows the duplicate check goes through 64-bit hashes (measured crossover);
# it narrows the exact check to suspect rows when at most one row in this many repeats.
_HASHED_CHECK = 4096
_FEW_REPEATS = 64


def _distinct_rows(batch: pl.DataFrame) -> bool:
    """Whether no two rows are equal but for their diff (``False`` when Polars cannot tell)."""
    columns = [c for c in batch.columns if c != DIFF]
    # ``dtypes``, not ``schema[c]``: Polars builds a whole schema object per ``schema`` call
    if any(dtype == pl.Object for dtype in batch.dtypes):
        return False
    try:
        return batch.select(columns).n_unique() == batch.height
    except pl.exceptions.PolarsError:
        return False


def _merge_shared(shared: pl.DataFrame) -> pl.DataFrame:
    """Sum the diffs of identical rows (all of which share their id with another row) and
    drop the rows whose diffs cancel; rows keep their first position."""
    cols = value_columns(shared)
    if not any(dtype == pl.Object for dtype in shared.dtypes):  # _id and _diff are numbers
        try:
            return (
                shared.group_by([ID, *cols], maintain_order=True)
                .agg(pl.col(DIFF).sum())
                .filter(pl.col(DIFF) != 0)
                .select(shared.columns)
            )
        except pl.exceptions.PolarsError:
            pass  # a column type Polars cannot group by: compare the rows in Python
    totals: dict[tuple, int] = {}
    first_index: dict[tuple, int] = {}
    ids = shared[ID].to_list()
    diffs = shared[DIFF].to_list()
    value_lists = [shared[c].to_list() for c in cols]
    for i, (row_id, diff) in enumerate(zip(ids, diffs, strict=True)):
        key = (row_id, *(_row_key(vals[i]) for vals in value_lists))
        if key in totals:
            totals[key] += diff
        else:
            totals[key] = diff
            first_index[key] = i
    keep = [(first_index[k], d) for k, d in totals.items() if d != 0]
    keep.sort()
    kept_rows = {i for i, _ in keep}
    mask = pl.Series([i in kept_rows for i in range(shared.height)], dtype=pl.Boolean)
    return shared.filter(mask).with_columns(
        pl.Series(DIFF, [d for _, d in keep], dtype=DIFF_DTYPE)
    )


# Up to this many rows, consolidation works on Python tuples: a handful of rows costs a few
# microseconds that way, against a fixed ~0.1 ms for every Polars call.
_SMALL_BATCH = 64


# Column types whose cells are their own consolidation key (``_row_key``): no NaN, no lists.
_PLAIN_DTYPES = frozenset(
    [pl.Int8, pl.Int16, pl.Int32, pl.Int64, pl.UInt8, pl.UInt16, pl.UInt32, pl.UInt64,
     pl.UInt128, pl.String, pl.Boolean]
)


def _consolidate_small(batch: pl.DataFrame) -> pl.DataFrame | None:
    ids = batch.get_column(ID).to_list()
    diff_index = batch.columns.index(DIFF)
    diffs = batch.get_column(DIFF).to_list()
    if len(set(ids)) == len(ids):
        if all(diffs):
            return batch
        return batch.filter(batch[DIFF] != 0) if any(diffs) else None
    # Only rows sharing their id with another row can merge: only those are compared, cell
    # by cell (an update's old and new row share the id; the other rows of a batch do not).
    seen: dict[Any, int] = {}
    for row_id in ids:
        seen[row_id] = seen.get(row_id, 0) + 1
    shared = [position for position, row_id in enumerate(ids) if seen[row_id] > 1]
    totals: dict[tuple, list[int]] = {}
    # ``rows()`` of the whole (small) batch, not of a gather: a gather is a parallel Polars
    # call, whose thread-pool hand-off costs far more CPU than reading a few rows.
    rows = batch.rows()
    plain = all(dtype in _PLAIN_DTYPES for dtype in batch.dtypes)
    for position in shared:
        row = rows[position]
        if plain:  # the cells are their own keys
            key = row[:diff_index] + row[diff_index + 1:]
        else:
            key = tuple(_row_key(v) for i, v in enumerate(row) if i != diff_index)
        entry = totals.get(key)
        if entry is None:
            totals[key] = [position, row[diff_index]]
        else:
            entry[1] += row[diff_index]
    if len(totals) == len(shared) and all(diffs):
        return batch  # nothing merged or cancelled (e.g. an update: same id, new values)
    kept = sorted(
        [(position, diffs[position]) for position, row_id in enumerate(ids)
         if seen[row_id] == 1 and diffs[position] != 0]
        + [(position, total) for position, total in totals.values() if total != 0]
    )
    if not kept:
        return None
    return batch[[position for position, _ in kept]].with_columns(
        pl.Series(DIFF, [total for _, total in kept], dtype=DIFF_DTYPE)
    )
