"""The join's state: the rows of one input, indexed by join key, maintained under deltas.

A ``KeyIndex`` keeps every batch it was given in an append-only columnar log (a Polars frame
with a ``_key`` column) and a Python index from key to the log positions of its rows, together
with the net number of rows per key. The positions of a first large load are held apart, as one
slice per key of a numpy array sorted by key: later changes to a key add to its other entry and
never copy that slice into Python lists, so a large delta is indexed with a few bulk dictionary
operations and one short loop over its keys. Looking up the rows of a few keys is a handful of dict
lookups and one gather, so it costs time proportional to the rows found, not to the size of
the state. Rows are indexed when the index is first read after they arrived, not when they
arrive: an input whose rows are never looked up (the side of a join whose partner never
changes) costs an append per delta, and the rows of several deltas are indexed together.
Retractions stay in the log next to the rows they cancel; a lookup may therefore
return rows whose diffs cancel, which is harmless for bilinear operators (the cancelling output
rows disappear when the output is consolidated). When cancelled rows outnumber live ones, the
log is consolidated and re-indexed, which keeps the cost amortized proportional to the changes.

Between two consolidations the log only grows, so a checkpoint can save just the rows appended
since the previous one (``snapshot_delta``); restoring appends and indexes them again.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable
from itertools import chain, repeat
from typing import Any, NamedTuple, cast

import numpy as np
import polars as pl

from reflow.engine.batch import DIFF, DIFF_DTYPE, frame_from_rows
from reflow.engine.gather import column_builders, columns_frame, take
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
        "data", "tail", "schema", "index", "_bulk", "counts", "_appends", "_retracted", "_live",
        "_pending",
    )
    # (``sliced`` is saved inside ``index``, see ``state``.)
    # Keys, positions and row values: each pickled in one call (see ``Snapshottable``).
    plain_fields = ("tail", "index", "counts")

    def __init__(self) -> None:
        self.data: pl.DataFrame | None = None
        # Rows added one by one (``insert_rows``) wait here before joining ``data`` in bulk.
        self.tail: list[tuple] = []
        self.schema: pl.Schema | None = None
        # key -> log position, or list of positions when the key has several rows ...
        self.index: dict[object, int | list[int]] = {}
        # ... besides its positions in the first large load, if any: a slice of ``_bulk``
        # (that load's positions, sorted by key). A key's rows are the slice's, then the index's.
        self.sliced: dict[object, slice] = {}
        self._bulk = np.empty(0, dtype=np.int64)
        self.counts: dict[object, int] = {}
        self._appends = 0
        self._retracted = 0
        self._live = 0
        # How many rows at the end of the log (``data``, then ``tail``) are not indexed yet.
        self._pending = 0
        # The height of ``data`` when its chunks were last merged (``_append``).
        self._settled = 0
        # How many times recent chunks were merged without the whole log (``_append``).
        self._merges = 0
        # Replaced whenever the log is rewritten rather than appended to (consolidation,
        # restore): a checkpoint mark taken before then no longer describes a prefix of it.
        self._log_id = object()

    def __len__(self) -> int:
        return self._live

    def count(self, key: object) -> int:
        """Net number of rows with ``key``."""
        if self._pending:
            self._sync()
        return self.counts.get(key, 0)

    def insert(self, batch: pl.DataFrame | None, diffs: list[int] | None = None) -> None:
        """Add a delta batch (which must have a ``_key`` column); ``diffs``, when given, are
        its diffs as Python ints (read already by the caller)."""
        if batch is None or batch.height == 0:
            return
        self.flush()
        if self.schema is None:
            self.schema = batch.schema
        self._append(batch)
        if diffs is None:
            column = batch[DIFF]
            self._live += int(column.sum())
            self._retracted += int((column < 0).sum())
        else:
            self._live += sum(diffs)
            self._retracted += sum(1 for diff in diffs if diff < 0)
        self._pending += batch.height
        if self._retracted > max(self._live, 4096):
            self.compact()

    def _sync(self) -> None:
        """Index the rows appended since the index was last read."""
        pending = self._pending
        if not pending:
            return
        self._pending = 0
        height = 0 if self.data is None else self.data.height
        start = height + len(self.tail) - pending
        if start >= height:
            # Rows added one by one, still tuples: indexed in a loop (no Polars call).
            index, counts = self.index, self.counts
            for position, row in enumerate(self.tail[start - height:], start):
                key = row[0]
                found = index.get(key)
                if found is None:
                    index[key] = position
                elif type(found) is list:
                    found.append(position)
                else:
                    index[key] = [cast("int", found), position]
                counts[key] = counts.get(key, 0) + row[-1]
            return
        self.flush()
        assert self.data is not None  # ``start < height``
        self._index_rows(self.data.slice(start), start)

    def _index_rows(self, batch: pl.DataFrame, start: int) -> None:
        index, counts = self.index, self.counts
        diffs = batch[DIFF]
        if batch.height <= _SMALL:
            for position, (key, diff) in enumerate(
                zip(batch[KEY].to_list(), diffs.to_list(), strict=True), start
            ):
                self._add(key, position)
                counts[key] = counts.get(key, 0) + diff
            return
        first = not index and not self.sliced
        if first and batch[KEY].n_unique() == batch.height:
            # A first load with distinct keys: one position per key, dicts built in one go.
            keys = batch[KEY].to_list()
            self.index = dict(zip(keys, range(start, start + batch.height), strict=True))
            self.counts = dict(zip(keys, diffs.to_list(), strict=True))
            return
        positions = batch.select(
            pl.col(KEY), (pl.int_range(pl.len()) + start).alias("_pos"), pl.col(DIFF)
        )
        if first:
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
            self.sliced = dict(zip(keys, map(slice, lows, highs), strict=True))
            self.counts = dict(zip(keys, grouped[DIFF].to_list(), strict=True))
            return
        # Within a group, positions keep the delta's (ascending) order.
        grouped = positions.group_by(KEY).agg(pl.col("_pos"), pl.col(DIFF).sum())
        keys = grouped[KEY].to_list()
        found = grouped["_pos"].to_list()
        sums = grouped[DIFF].to_list()
        counts.update(zip(keys, map(operator.add, map(counts.get, keys, repeat(0)), sums)))
        known = list(map(index.get, keys))
        index.update([(k, f) for k, f, o in zip(keys, found, known, strict=True) if o is None])
        for key, more, old in zip(keys, found, known, strict=True):
            if old is None:
                continue
            if type(old) is list:
                old.extend(more)  # in place, as ``_add`` appends: no copy of the list
            else:
                index[key] = [cast("int", old), *more]

    def _add(self, key: object, position: int) -> None:
        found = self.index.get(key)
        if found is None:
            self.index[key] = position
        elif type(found) is list:
            found.append(position)
        else:
            self.index[key] = [cast("int", found), position]

    def _positions_of(self, keys: Iterable[object], sliced: bool = True) -> list[int]:
        """The log positions of the rows of ``keys``, key by key, each key's in log order
        (without their slices of the first load if ``sliced`` is false)."""
        if self._pending:
            self._sync()
        index, bulk = self.index, self._bulk
        positions: list[int] = []
        if not sliced or not self.sliced:
            for key in keys:
                found = index.get(key)
                if found is None:
                    continue
                if type(found) is int:
                    positions.append(found)
                else:
                    positions.extend(cast("list[int]", found))
            return positions
        get_slice = self.sliced.get
        for key in keys:
            part = get_slice(key)
            if part is not None:
                positions.extend(bulk[part].tolist())
            found = index.get(key)
            if found is None:
                continue
            if type(found) is int:
                positions.append(found)
            else:
                positions.extend(cast("list[int]", found))
        return positions

    def insert_rows(self, rows: list[tuple], schema: dict[str, pl.DataType]) -> None:
        """Add a few rows given as tuples in ``schema``'s column order (key first, diff last)."""
        if not rows:
            return
        if self.schema is None:
            self.schema = pl.Schema(schema)
        live = retracted = 0
        for row in rows:
            diff = row[-1]
            live += diff
            if diff < 0:
                retracted += 1
        self._live += live
        self._retracted += retracted
        self._pending += len(rows)
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
        builders = column_builders(pl.Schema(self.schema))
        frame = None if builders is None else columns_frame(self.tail, builders)
        if frame is None:
            frame = frame_from_rows(self.tail, self.schema)
        self.tail = []
        self._append(frame)

    def _append(self, frame: pl.DataFrame) -> None:
        """Append ``frame`` to the log. Every ``_MAX_CHUNKS`` appends, the chunks appended
        since the previous time are made one: the log before them is not copied again while
        it is much longer than they are, for up to ``_MAX_CHUNKS`` such merges (each adds one
        chunk to it; counted, not read from ``n_chunks``, since a first load read in many
        chunks would otherwise have the whole log copied at every merge)."""
        if self.data is None:
            self.data = frame
            return
        data = pl.concat([self.data, frame], how="vertical", rechunk=False)
        self._appends += 1
        if self._appends >= _MAX_CHUNKS:
            height, settled = data.height, self._settled
            if 0 < settled < height and (height - settled) * _MAX_CHUNKS < settled and (
                self._merges < _MAX_CHUNKS
            ):
                data = pl.concat(
                    [data.slice(0, settled), data.slice(settled).rechunk()],
                    how="vertical", rechunk=False,
                )
                self._merges += 1
            else:
                data = data.rechunk()
                self._merges = 0
            self._settled = height
            self._appends = 0
        self.data = data

    def size(self, keys: Iterable[object]) -> int:
        """How many logged rows (live or cancelled) the given keys have."""
        if self._pending:
            self._sync()
        index = self.index
        total = 0
        get_slice = self.sliced.get
        for key in keys:
            part = get_slice(key)
            if part is not None:
                total += part.stop - part.start
            found = index.get(key)
            if found is None:
                continue
            if type(found) is int:
                total += 1
            else:
                total += len(cast("list[int]", found))
        return total

    def lookup_rows(self, keys: Iterable[object]) -> list[tuple]:
        """Like ``lookup``, as row tuples (cheap for a few rows: no Polars query runs)."""
        positions = self._positions_of(keys)  # (first: indexing may move the tail to the log)
        return self._rows_at(positions)

    def single_positions(self, keys: list) -> list[int | None] | None:
        """The log position of the one logged row of each key (None: no row), or None when
        a key has several (then ``groups`` or ``lookup`` read them). Rows added one by one
        are moved into the log first, so every position is one of ``data`` (``take``)."""
        if self._pending:
            self._sync()
        if self.tail:
            self.flush()
        if not self.sliced:
            found = list(map(self.index.get, keys))
            if not all(type(at) is int or at is None for at in found):
                return None
            return cast("list[int | None]", found)
        index, get_slice, bulk = self.index, self.sliced.get, self._bulk
        out: list[int | None] = []
        for key in keys:
            at = index.get(key)
            part = get_slice(key)
            if part is not None:  # a key of the first load: one row in its slice, none later
                if at is not None or part.stop - part.start != 1:
                    return None
                at = int(bulk[part.start])
            elif at is not None and type(at) is not int:
                return None
            out.append(at)
        return out

    def take(self, positions: list[int]) -> pl.DataFrame:
        """The logged rows at these positions of ``data`` (from ``single_positions``)."""
        assert self.data is not None and not self.tail  # ``single_positions`` flushed
        return take(self.data, positions)

    def groups(self, keys: Iterable[object], limit: int) -> dict[object, list[tuple]] | None:
        """The logged rows of each of the distinct ``keys`` that has any, as row tuples
        (as ``lookup_rows``), or None when there are more than ``limit`` rows in all."""
        if self._pending:
            self._sync()
        index, bulk = self.index, self._bulk
        if not self.sliced:
            hits = [(key, at) for key in keys if (at := index.get(key)) is not None]
            if all(type(at) is int for _, at in hits):  # one row per key
                if len(hits) > limit:
                    return None
                rows = self._rows_at([cast("int", at) for _, at in hits])
                return {key: [row] for (key, _), row in zip(hits, rows, strict=True)}
            keys = [key for key, _ in hits]
        get_slice = self.sliced.get if self.sliced else None
        positions: list[int] = []
        spans: list[tuple[object, int]] = []  # each key found, and where its positions end
        for key in keys:
            before = len(positions)
            if get_slice is not None:
                part = get_slice(key)
                if part is not None:
                    positions.extend(bulk[part].tolist())
            found = index.get(key)
            if found is not None:
                if type(found) is int:
                    positions.append(found)
                else:
                    positions.extend(cast("list[int]", found))
            if len(positions) > before:
                spans.append((key, len(positions)))
        if len(positions) > limit:
            return None
        rows = self._rows_at(positions)
        out: dict[object, list[tuple]] = {}
        low = 0
        for key, high in spans:
            out[key] = rows[low:high]
            low = high
        return out

    def _rows_at(self, positions: list[int]) -> list[tuple]:
        """The rows at these log positions, in order, as tuples."""
        data = _NO_ROWS if self.data is None else self.data
        height = data.height
        logged = [p for p in positions if p < height] if self.tail else positions
        out = [data.row(p) for p in logged] if len(logged) <= _ROW_BY_ROW else take(
            data, logged).rows()
        if len(logged) < len(positions):
            out = _merge_tail(out, positions, height, self.tail)
        return out

    def log(self) -> pl.DataFrame | None:
        """Every logged row (live or cancelled), with its diff; None if none."""
        self.flush()
        return self.data if self.data is not None and self.data.height else None

    def lookup(self, keys: Iterable[object]) -> pl.DataFrame | None:
        """Every logged row (with its diff) whose key is one of ``keys``; ``None`` if none."""
        self._sync()
        self.flush()
        if self.data is None:
            return None
        keys = list(keys)
        if len(keys) <= _ROW_BY_ROW or not self.sliced:
            listed = self._positions_of(keys)
            return take(self.data, listed) if listed else None
        # Many keys: their slices of the first load are read with one numpy gather.
        parts = [p for p in map(self.sliced.get, keys) if p is not None]
        lows = np.fromiter((p.start for p in parts), dtype=np.int64, count=len(parts))
        lengths = np.fromiter((p.stop for p in parts), dtype=np.int64, count=len(parts)) - lows
        starts = np.cumsum(lengths) - lengths  # where each key's slice starts in ``at``
        at = np.arange(int(lengths.sum())) + np.repeat(lows - starts, lengths)
        later = self._positions_of(keys, sliced=False)
        positions = np.concatenate([self._bulk[at], np.array(later, dtype=np.int64)])
        return take(self.data, positions) if len(positions) else None

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
        (a slice per key would be pickled as a call each, slow to load back), and the keys
        with several positions in ``index`` packed into those arrays too (``_packed``).

        Rows not indexed yet are saved as they are, with their number (``_pending``, left
        out when 0, as in snapshots of versions that indexed every row before saving): a
        snapshot does not index rows nobody read (one side of a streaming join is often
        never looked up), and the restored index indexes them when it is first read."""
        fields = super().state()
        if not self._pending:
            del fields["_pending"]
        sliced = self.sliced
        listed = [key for key, found in self.index.items() if type(found) is list]
        if len(listed) >= _PACK_FROM:
            others, keys, lows, highs, fields["_bulk"] = self._packed(listed)
            fields["index"] = _PackedIndex(others, keys, lows, highs)
        elif sliced:
            fields["index"] = _PackedIndex(
                self.index,
                list(sliced),
                np.fromiter((v.start for v in sliced.values()), dtype=np.int64, count=len(sliced)),
                np.fromiter((v.stop for v in sliced.values()), dtype=np.int64, count=len(sliced)),
            )
        return fields

    def _packed(self, listed: list) -> tuple[dict, list, np.ndarray, np.ndarray, np.ndarray]:
        """The index as one array of positions sorted by key, for the keys of ``sliced``
        and the keys ``listed`` (those with a list in ``index``): each such key's slice of
        the first load, then its list, become one slice of the new array (same positions,
        same order). Returns what is left of ``index`` (single positions), the keys, their
        slices' bounds and the array: a restore builds a slice per key from them, where
        pickled lists would be loaded object by object."""
        sliced, index = self.sliced, self.index
        keys = [*sliced, *(key for key in listed if key not in sliced)]
        first = np.zeros(len(keys), dtype=np.int64)  # per key: its slice of ``_bulk`` ...
        first_len = np.zeros(len(keys), dtype=np.int64)
        if sliced:
            first[:len(sliced)] = np.fromiter(
                (v.start for v in sliced.values()), dtype=np.int64, count=len(sliced))
            first_len[:len(sliced)] = np.fromiter(
                (v.stop for v in sliced.values()), dtype=np.int64, count=len(sliced)
            ) - first[:len(sliced)]
        lists = [found if type(found) is list else [] for found in map(index.get, keys)]
        more_len = np.fromiter(map(len, lists), dtype=np.int64, count=len(keys))  # ... its list
        more = np.fromiter(chain.from_iterable(lists), dtype=np.int64, count=int(more_len.sum()))
        lengths = first_len + more_len
        starts = np.cumsum(lengths) - lengths
        packed = np.empty(int(lengths.sum()), dtype=np.int64)
        packed[_spread(starts, first_len)] = self._bulk[_spread(first, first_len)]
        packed[_spread(starts + first_len, more_len)] = more
        others = {key: found for key, found in index.items() if type(found) is not list}
        return others, keys, starts, starts + lengths, packed

    def load_state(self, fields: dict[str, Any]) -> None:
        self._pending = 0  # (snapshots without ``_pending`` hold every row indexed)
        super().load_state(fields)
        self._log_id = object()
        packed = self.index
        self.sliced = {}
        if isinstance(packed, _PackedIndex):
            self.sliced = dict(zip(
                packed.sliced_keys, map(slice, packed.lows.tolist(), packed.highs.tolist()),
                strict=True,
            ))
            self.index = packed.others

    # --- incremental saves: the rows appended since a mark -------------------------------------
    def _length(self) -> int:
        return (0 if self.data is None else self.data.height) + len(self.tail)

    def checkpoint_mark(self) -> object | None:
        """The log as it is now: which log, and how many rows it holds."""
        return (self._log_id, self._length())

    def delta_state(self, mark: object) -> dict[str, Any] | None:
        """The rows appended to the log since ``mark``; None if it was rewritten since, or
        when they are at least as many as the rows before (and more than a few) and most of
        the log is indexed: a whole snapshot then costs at most twice as much to write and
        restores the index as it is, where a delta's rows are indexed again. (Rows not
        indexed yet are saved unindexed either way: a log mostly unread, as one side of a
        streaming join often is, gains nothing from a whole snapshot.)"""
        log_id, length = cast("tuple[object, int]", mark)
        if log_id is not self._log_id or length > self._length():
            return None
        total = self._length()
        if total - length >= max(length, _WHOLE_FROM) and 2 * self._pending < total:
            return None
        height = 0 if self.data is None else self.data.height
        parts = []
        if self.data is not None and length < height:
            parts.append(self.data.slice(length))
        tail = self.tail[max(length - height, 0):]
        if tail:
            assert self.schema is not None  # set by the first row added
            parts.append(frame_from_rows(tail, self.schema))
        rows = pl.concat(parts, how="vertical", rechunk=False) if parts else None
        return {"rows": rows, "schema": self.schema}

    def load_delta(self, saved: dict[str, Any]) -> None:
        """Append and index the rows of a ``delta_state`` (the index and the counts are
        not saved in deltas: they follow from the rows).

        A delta at least as long as the log it extends (a checkpoint taken early in a large
        load) is not indexed key by key: the whole log is indexed again as one first load
        (sorted positions and a slice per key, in bulk) when it is first read, which gives
        every key the same rows in the same order and costs a sort instead of a Python list
        per key."""
        if self.schema is None:
            self.schema = saved["schema"]
        rows = saved["rows"]
        if rows is None or rows.height == 0:
            return
        if rows.height < max(self._length(), _SMALL):
            self.insert(rows)
            return
        self.flush()
        if self.data is None:
            self._reindex(rows, 0)
        else:
            self._reindex(pl.concat([self.data, rows], how="vertical", rechunk=False), 1)

    def _reindex(self, data: pl.DataFrame, appends: int) -> None:
        """Hold the log ``data`` (an extension of the current one, appended to ``appends``
        times), to be indexed from scratch when it is first read."""
        self.data = data
        self.index = {}
        self.sliced = {}
        self.counts = {}
        self._bulk = np.empty(0, dtype=np.int64)
        self._appends = appends
        diffs = data[DIFF]
        self._live = int(diffs.sum())
        self._retracted = int((diffs < 0).sum())
        self._pending = data.height  # the index is empty: a first load when next read
        if self._retracted > max(self._live, 4096):
            self.compact()

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
        self._log_id = object()
        self.data = _consolidate_log(self.data.rechunk())
        self.index = {}
        self.sliced = {}
        self.counts = {}
        self._bulk = np.empty(0, dtype=np.int64)
        self._appends = 0
        self._retracted = 0
        self._live = 0
        self._pending = 0
        if self.data is not None:
            diffs = self.data[DIFF]
            self._live = int(diffs.sum())
            self._retracted = int((diffs < 0).sum())
            self._pending = self.data.height  # indexed when next read


def _merge_tail(logged: list[tuple], positions: list[int], height: int,
                tail: list[tuple]) -> list[tuple]:
    """The rows at ``positions`` in order, given those of the log below ``height``."""
    rows = iter(logged)
    return [next(rows) if p < height else tail[p - height] for p in positions]


#: A snapshot packs the lists of ``index`` into arrays from this many keys with a list on.
_PACK_FROM = 256


def _spread(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The positions ``starts[i] .. starts[i] + lengths[i] - 1`` for every ``i``, in order.

    >>> _spread(np.array([10, 0, 5]), np.array([2, 0, 3])).tolist()
    [10, 11, 5, 6, 7]
    """
    offsets = np.cumsum(lengths) - lengths
    return np.arange(int(lengths.sum()), dtype=np.int64) + np.repeat(starts - offsets, lengths)


#: A delta of at least this many rows, and as many as the log had before, is not saved when
#: most of the log is indexed: the whole state is (``delta_state``).
_WHOLE_FROM = 4096


class _PackedIndex(NamedTuple):
    """A ``KeyIndex``'s index as saved: ``others`` is ``index``; the slices of ``sliced`` go
    as a key list and two arrays. (A key may have entries in both.)"""

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

