"""The join's state: the rows of one input, indexed by join key, maintained under deltas.

A ``KeyIndex`` keeps every batch it was given in an append-only columnar log (a Polars frame
with a ``_key`` column) and a Python index from key to the log positions of its rows, together
with the net number of rows per key. Looking up the rows of a few keys is a handful of dict
lookups and one gather, so it costs time proportional to the rows found, not to the size of
the state. Retractions stay in the log next to the rows they cancel; a lookup may therefore
return rows whose diffs cancel, which is harmless for bilinear operators (the cancelling output
rows disappear when the output is consolidated). When cancelled rows outnumber live ones, the
log is consolidated and re-indexed, which keeps the cost amortized proportional to the changes.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable
from typing import Any, NamedTuple, cast

import numpy as np
import polars as pl

from reflow.engine.batch import DIFF, DIFF_DTYPE, frame_from_rows
from reflow.engine.state.snapshot import Snapshottable

KEY = "_key"

# Below this many rows, index maintenance loops in Python (cheaper than a Polars group_by).
_SMALL = 64
# Rechunk the log when it has been appended to this many times.
_MAX_CHUNKS = 32
# Rows added one by one are moved into the columnar log in groups of this many.
_TAIL_LIMIT = 1024
_NO_ROWS = pl.DataFrame()  # the log before its first flush
# Up to this many rows are read from the log one by one (~2 µs each); more take one gather
# (~60 µs, then ~1 µs a row).
_ROW_BY_ROW = 48


class KeyIndex(Snapshottable):
    """Rows indexed by ``_key``.

    >>> import polars as pl
    >>> index = KeyIndex()
    >>> index.insert(pl.DataFrame({"_key": [1, 1, 2], "v": ["a", "b", "c"], "_diff": [1, 1, 1]}))
    >>> index.count(1), index.count(3)
    (2, 0)
    >>> sorted(index.lookup([1])["v"].to_list())
    ['a', 'b']
    """

    state_fields = (
        "data", "tail", "schema", "index", "_bulk", "counts", "_appends", "_retracted", "_live"
    )
    # Keys, positions and row values: each pickled in one call (see ``Snapshottable``).
    plain_fields = ("tail", "index", "counts")

    def __init__(self) -> None:
        self.data: pl.DataFrame | None = None
        # Rows added one by one (``insert_rows``) wait here before joining ``data`` in bulk.
        self.tail: list[tuple] = []
        self.schema: pl.Schema | None = None
        # key -> log position, list of positions when the key has several rows, or a slice of
        # ``_bulk`` (the positions of the first large load, sorted by key).
        self.index: dict[object, int | list[int] | slice] = {}
        self._bulk = np.empty(0, dtype=np.int64)
        self.counts: dict[object, int] = {}
        self._appends = 0
        self._retracted = 0
        self._live = 0

    def __len__(self) -> int:
        return self._live

    def count(self, key: object) -> int:
        """Net number of rows with ``key``."""
        return self.counts.get(key, 0)

    def insert(self, batch: pl.DataFrame | None) -> None:
        """Add a delta batch (which must have a ``_key`` column)."""
        if batch is None or batch.height == 0:
            return
        self.flush()
        if self.schema is None:
            self.schema = batch.schema
        start = 0 if self.data is None else self.data.height
        if self.data is None:
            self.data = batch
        else:
            self.data = pl.concat([self.data, batch], how="vertical", rechunk=False)
            self._appends += 1
            if self._appends >= _MAX_CHUNKS:
                self.data = self.data.rechunk()
                self._appends = 0
        self._index_rows(batch, start)
        if self._retracted > max(self._live, 4096):
            self.compact()

    def _index_rows(self, batch: pl.DataFrame, start: int) -> None:
        index, counts = self.index, self.counts
        diffs = batch[DIFF]
        self._live += int(diffs.sum())
        self._retracted += int((diffs < 0).sum())
        if batch.height <= _SMALL:
            for position, (key, diff) in enumerate(
                zip(batch[KEY].to_list(), diffs.to_list(), strict=True), start
            ):
                self._add(key, position)
                counts[key] = counts.get(key, 0) + diff
            return
        if not index and batch[KEY].n_unique() == batch.height:
            # A first load with distinct keys: one position per key, dicts built in one go.
            keys = batch[KEY].to_list()
            self.index = dict(zip(keys, range(start, start + batch.height), strict=True))
            self.counts = dict(zip(keys, diffs.to_list(), strict=True))
            return
        positions = batch.select(
            pl.col(KEY), (pl.int_range(pl.len()) + start).alias("_pos"), pl.col(DIFF)
        )
        if not index:
            # A first load: the positions sorted by key, and per key a slice of them (no
            # Python object per row).
            ordered = positions.sort(KEY, maintain_order=True).with_row_index("_at")
            grouped = ordered.group_by(KEY, maintain_order=True).agg(
                pl.col("_at").first().alias("lo"), pl.len().alias("n"), pl.col(DIFF).sum()
            )
            self._bulk = ordered["_pos"].to_numpy()
            lows = grouped["lo"].to_list()
            highs = map(operator.add, lows, grouped["n"].to_list())
            keys = grouped[KEY].to_list()
            self.index = dict(zip(keys, map(slice, lows, highs), strict=True))
            self.counts = dict(zip(keys, grouped[DIFF].to_list(), strict=True))
            return
        grouped = positions.group_by(KEY, maintain_order=True).agg(
            pl.col("_pos"), pl.col(DIFF).sum()
        )
        keys = grouped[KEY].to_list()
        for key, found, diff in zip(
            keys, grouped["_pos"].to_list(), grouped[DIFF].to_list(), strict=True
        ):
            known = index.get(key)
            if known is None:
                index[key] = found
            elif type(known) is list:
                known.extend(found)  # in place, as ``_add`` appends: no copy of the list
            else:
                index[key] = [*self._positions(known), *found]
            counts[key] = counts.get(key, 0) + diff

    def _positions(self, found: int | list[int] | slice) -> list[int]:
        """The log positions an index entry stands for."""
        if type(found) is int:
            return [found]
        if type(found) is slice:
            return self._bulk[found].tolist()
        return cast("list[int]", found)  # (``type(x) is int`` does not narrow for mypy)

    def _add(self, key: object, position: int) -> None:
        found = self.index.get(key)
        if found is None:
            self.index[key] = position
        elif type(found) is list:
            found.append(position)
        else:
            self.index[key] = [*self._positions(found), position]

    def insert_rows(self, rows: list[tuple], schema: dict[str, pl.DataType]) -> None:
        """Add a few rows given as tuples in ``schema``'s column order (key first, diff last)."""
        if not rows:
            return
        if self.schema is None:
            self.schema = pl.Schema(schema)
        counts = self.counts
        position = (0 if self.data is None else self.data.height) + len(self.tail)
        for row in rows:
            key, diff = row[0], row[-1]
            self._add(key, position)
            counts[key] = counts.get(key, 0) + diff
            position += 1
            self._live += diff
            if diff < 0:
                self._retracted += 1
        self.tail.extend(rows)
        if len(self.tail) >= _TAIL_LIMIT:
            self.flush()
        if self._retracted > max(self._live, 4096):
            self.compact()

    def flush(self) -> None:
        """Move the rows added one by one into the columnar log."""
        if not self.tail:
            return
        assert self.schema is not None  # set by the first row added
        frame = frame_from_rows(self.tail, self.schema)
        self.tail = []
        if self.data is None:
            self.data = frame
        else:
            self.data = pl.concat([self.data, frame], how="vertical", rechunk=False)
            self._appends += 1
            if self._appends >= _MAX_CHUNKS:
                self.data = self.data.rechunk()
                self._appends = 0

    def size(self, keys: Iterable[object]) -> int:
        """How many logged rows (live or cancelled) the given keys have."""
        index = self.index
        total = 0
        for key in keys:
            found = index.get(key)
            if found is None:
                continue
            if type(found) is int:
                total += 1
            elif type(found) is slice:
                total += found.stop - found.start
            else:
                total += len(cast("list[int]", found))
        return total

    def lookup_rows(self, keys: Iterable[object]) -> list[tuple]:
        """Like ``lookup``, as row tuples (cheap for a few rows: no Polars query runs)."""
        index = self.index
        data = _NO_ROWS if self.data is None else self.data
        height = data.height
        tail = self.tail
        positions: list[int] = []
        for key in keys:
            found = index.get(key)
            if found is None:
                continue
            if type(found) is int:
                positions.append(found)
            else:
                positions.extend(self._positions(found))
        logged = [p for p in positions if p < height]
        if len(logged) <= _ROW_BY_ROW:
            out = [data.row(p) for p in logged]
        else:
            out = data[logged].rows()
        if len(logged) < len(positions):
            out.extend(tail[p - height] for p in positions if p >= height)
        return out

    def lookup(self, keys: Iterable[object]) -> pl.DataFrame | None:
        """Every logged row (with its diff) whose key is one of ``keys``; ``None`` if none."""
        self.flush()
        index = self.index
        positions: list[int] = []
        for key in keys:
            found = index.get(key)
            if found is None:
                continue
            if type(found) is int:
                positions.append(found)
            else:
                positions.extend(self._positions(found))
        if not positions or self.data is None:
            return None
        return self.data[positions]

    def lookup_frame(self, keys: pl.Series) -> pl.DataFrame | None:
        """Like ``lookup`` for many keys at once, with a vectorized semi-join on the log."""
        self.flush()
        if self.data is None:
            return None
        wanted = pl.DataFrame({KEY: keys}).unique()
        found = self.data.join(wanted, on=KEY, how="semi", nulls_equal=True)
        return found if found.height else None

    def state(self) -> dict[str, Any]:
        """The state, with the keys of the first large load's slices stored as arrays
        (a slice per key would be pickled as a call each, slow to load back)."""
        fields = super().state()
        sliced = [(k, v) for k, v in self.index.items() if type(v) is slice]
        if sliced:
            others = {k: v for k, v in self.index.items() if type(v) is not slice}
            fields["index"] = _PackedIndex(
                others,
                [k for k, _ in sliced],
                np.fromiter((v.start for _, v in sliced), dtype=np.int64, count=len(sliced)),
                np.fromiter((v.stop for _, v in sliced), dtype=np.int64, count=len(sliced)),
            )
        return fields

    def load_state(self, fields: dict[str, Any]) -> None:
        super().load_state(fields)
        packed = self.index
        if isinstance(packed, _PackedIndex):
            index = dict(zip(
                packed.sliced_keys, map(slice, packed.lows.tolist(), packed.highs.tolist()),
                strict=True,
            ))
            index.update(packed.others)
            self.index = index

    def live_rows(self) -> pl.DataFrame | None:
        """Every row held, with the diffs of identical rows summed and cancelled rows left
        out (None when there is none): what ``insert`` of a fresh index needs to hold the
        same rows."""
        self.flush()
        if self.data is None or self.data.height == 0:
            return None
        return _consolidate_log(self.data)

    def compact(self) -> None:
        """Cancel retracted rows against the rows they retract and rebuild the index."""
        self.flush()
        if self.data is None:
            return
        self.data = _consolidate_log(self.data.rechunk())
        self.index = {}
        self.counts = {}
        self._bulk = np.empty(0, dtype=np.int64)
        self._appends = 0
        self._retracted = 0
        self._live = 0
        if self.data is not None:
            self._index_rows(self.data, 0)


class _PackedIndex(NamedTuple):
    """A ``KeyIndex.index`` as saved: the entries that are slices go as key list + arrays."""

    others: dict
    sliced_keys: list
    lows: np.ndarray
    highs: np.ndarray


def _consolidate_log(frame: pl.DataFrame) -> pl.DataFrame | None:
    """Sum the diffs of identical rows and drop the rows whose diffs cancel."""
    columns = [c for c in frame.columns if c != DIFF]
    if all(dtype != pl.Object for dtype in frame.schema.values()):
        merged = (
            frame.group_by(columns, maintain_order=True)
            .agg(pl.col(DIFF).sum())
            .filter(pl.col(DIFF) != 0)
            .select(frame.columns)
        )
        return merged if merged.height else None
    # Python objects: compare rows by their text form.
    diff_index = frame.columns.index(DIFF)
    totals: dict[str, list[int]] = {}
    for position, row in enumerate(frame.rows()):
        key = repr([v for i, v in enumerate(row) if i != diff_index])
        entry = totals.get(key)
        if entry is None:
            totals[key] = [position, row[diff_index]]
        else:
            entry[1] += row[diff_index]
    kept = [(p, d) for p, d in totals.values() if d != 0]
    if not kept:
        return None
    return frame[[p for p, _ in kept]].with_columns(
        pl.Series(DIFF, [d for _, d in kept], dtype=DIFF_DTYPE)
    )

