"""``RowStore``: the live rows of one input, indexed by row id.

A row is a reference ``(chunk, position)`` into the batch it arrived in, and rows are gathered
back from those batches with Polars, so every dtype (nanosecond datetimes, objects, error
companions) round-trips exactly. A batch is dropped once none of its rows is live any more.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import polars as pl

from reflow.engine.batch import DIFF, ID, pick_columns
from reflow.engine.gather import take
from reflow.engine.state.snapshot import Snapshottable

Ref = int  # chunk number * 2**32 + position of the row in that chunk
NULL_CHUNK = -1
_SHIFT = 32
_MASK = (1 << _SHIFT) - 1
# Above this many rows, gathering goes through numpy instead of Python lists.
_BULK = 256


class RowStore(Snapshottable):
    """The live rows of one input, by id, as references into the batches they came in.

    >>> import polars as pl
    >>> store = RowStore({"x": pl.Int64})
    >>> batch = pl.DataFrame({"_id": [1, 2], "x": [10, 20], "_diff": [1, 1]},
    ...                      schema={"_id": pl.UInt128, "x": pl.Int64, "_diff": pl.Int64})
    >>> _ = store.apply(batch)
    >>> store.gather([store.ref(2), None])["x"].to_list()
    [20, None]
    """

    state_fields = ("rows", "extra", "chunks", "live", "_dead", "_next_chunk")

    def __init__(self, columns: dict[str, pl.DataType]) -> None:
        self.columns = dict(columns)
        self.rows: dict[int, Ref] = {}
        # Ids inserted more often than retracted (count above one); rare, kept aside.
        self.extra: dict[int, int] = {}
        self.chunks: dict[int, pl.DataFrame] = {
            NULL_CHUNK: pl.DataFrame(schema=self.columns).clear(1)
        }
        self.live: dict[int, int] = {}
        self._dead: set[int] = set()
        self._next_chunk = 0

    def __len__(self) -> int:
        return len(self.rows)

    def __contains__(self, row_id: int) -> bool:
        return row_id in self.rows

    def ref(self, row_id: int) -> Ref | None:
        return self.rows.get(row_id)

    def apply(
        self, delta: pl.DataFrame, ids: list[int] | None = None, replace: bool = False
    ) -> np.ndarray | None:
        """Add the rows of ``delta`` (a batch with ``_id`` and ``_diff``) to the store.

        A row's count is the sum of its diffs; its values are those of its latest insertion,
        so a retraction and a re-insertion of one id work in either order. When the batch only
        inserts new ids, returns their references (in batch order). With ``replace``, an
        insertion replaces the row with the same id instead of adding to its count.
        """
        chunk_no = self._next_chunk
        self._next_chunk += 1
        base = chunk_no << _SHIFT
        rows = self.rows
        if ids is None:
            ids = delta[ID].to_list()
        diffs = delta[DIFF]
        if diffs.min() == 1 and diffs.max() == 1 and (not rows or rows.keys().isdisjoint(ids)):
            # Only new rows (an initial load, typically): one bulk dictionary update.
            before = len(rows)
            rows.update(zip(ids, range(base, base + len(ids))))
            if len(rows) - before != len(ids):  # an id repeated inside the batch
                for row_id in ids:
                    rows.pop(row_id, None)
                self._apply_rows(delta, ids, chunk_no, replace)
                return None
            self.live[chunk_no] = len(ids)
            self.chunks[chunk_no] = self._values(delta)
            return np.arange(base, base + len(ids), dtype=np.int64)
        self._apply_rows(delta, ids, chunk_no, replace)
        return None

    def _apply_rows(
        self, delta: pl.DataFrame, ids: list[int], chunk_no: int, replace: bool = False
    ) -> None:
        base = chunk_no << _SHIFT
        rows = self.rows
        extra = self.extra
        inserted = 0
        for position, (row_id, diff) in enumerate(zip(ids, delta[DIFF].to_list(), strict=True)):
            old = rows.get(row_id)
            if diff > 0:
                inserted += 1
                rows[row_id] = base + position
                if old is not None:
                    self._release(old >> _SHIFT)
                    if not replace:
                        extra[row_id] = extra.get(row_id, 1) + diff
                elif diff > 1:
                    extra[row_id] = diff
            elif old is not None:
                count = extra.pop(row_id, 1) + diff
                if count > 1:
                    extra[row_id] = count
                elif count <= 0:
                    del rows[row_id]
                    self._release(old >> _SHIFT)
        if inserted:
            # Only rows still referenced keep the chunk alive.
            live = sum(1 for r in dict.fromkeys(ids) if (rows.get(r, -1) >> _SHIFT) == chunk_no)
            self.chunks[chunk_no] = self._values(delta)
            if live:
                self.live[chunk_no] = live
            else:
                self._dead.add(chunk_no)

    def _values(self, delta: pl.DataFrame) -> pl.DataFrame:
        # The value columns, sharing their data; unlike ``select``, no Polars query.
        return pick_columns(delta, [(c, c) for c in self.columns])

    def _release(self, chunk_no: int) -> None:
        left = self.live.get(chunk_no, 0) - 1
        if left > 0:
            self.live[chunk_no] = left
        else:
            self.live.pop(chunk_no, None)
            self._dead.add(chunk_no)

    def split(self, owner: Callable[[list[int]], np.ndarray], workers: int) -> list[pl.DataFrame]:
        """The live rows cut among ``workers`` shards by ``owner`` of their ids: per shard, a
        batch (``_id``, the value columns, ``_diff`` = the row's count) that ``apply`` of an
        empty store turns into the same rows."""
        ids = list(self.rows)
        refs = np.fromiter(self.rows.values(), dtype=np.int64, count=len(ids))
        frame = self.gather(refs).with_columns(
            pl.Series(ID, ids, dtype=pl.UInt128),
            pl.Series(DIFF, [self.extra.get(i, 1) for i in ids] if self.extra
                      else [1] * len(ids), dtype=pl.Int64),
        ).select(ID, *self.columns, DIFF)
        owned = owner(ids)
        return [frame.filter(pl.Series(owned == worker)) for worker in range(workers)]

    def collect(self) -> None:
        """Drop the batches none of whose rows is live.

        Until this is called, references to rows removed since the last call stay valid, so an
        operator can still gather the rows it has to retract.
        """
        for chunk_no in self._dead:
            if chunk_no not in self.live:
                self.chunks.pop(chunk_no, None)
        self._dead.clear()

    def gather(self, refs: Sequence[Ref | None] | np.ndarray) -> pl.DataFrame:
        """The value columns of the referenced rows, in order; ``None`` gives a null row."""
        if isinstance(refs, np.ndarray):
            return self._gather_array(refs)
        if len(refs) > _BULK:
            return self._gather_bulk(refs)
        by_chunk: dict[int, tuple[list[int], list[int]]] = {}
        for i, ref in enumerate(refs):
            if ref is None:
                chunk, position = NULL_CHUNK, 0
            else:
                chunk, position = ref >> _SHIFT, ref & _MASK
            slots, positions = by_chunk.setdefault(chunk, ([], []))
            slots.append(i)
            positions.append(position)
        if not by_chunk:
            return pl.DataFrame(schema=self.columns)
        if len(by_chunk) == 1:
            ((chunk, (_, positions)),) = by_chunk.items()
            return _take_all(self.chunks[chunk], positions)
        parts = []
        order: list[int] = []
        for chunk, (slots, positions) in by_chunk.items():
            parts.append(take(self.chunks[chunk], positions))
            order.extend(slots)
        stacked = pl.concat(parts, how="vertical")
        inverse = [0] * len(order)
        for at, slot in enumerate(order):
            inverse[slot] = at
        return take(stacked, inverse)

    def _gather_bulk(self, refs: Sequence[Ref | None]) -> pl.DataFrame:
        encoded = np.fromiter(
            ((NULL_CHUNK << _SHIFT) if r is None else r for r in refs),
            dtype=np.int64,
            count=len(refs),
        )
        return self._gather_array(encoded)

    def _gather_array(self, encoded: np.ndarray) -> pl.DataFrame:
        if len(encoded) == 0:
            return pl.DataFrame(schema=self.columns)
        chunks = encoded >> _SHIFT
        positions = encoded & _MASK
        distinct = np.unique(chunks)
        if len(distinct) == 1:
            return _take_all(self.chunks[int(distinct[0])], positions)
        order = np.argsort(chunks, kind="stable")
        sorted_chunks = chunks[order]
        bounds = [*np.searchsorted(sorted_chunks, distinct, side="left").tolist(), len(order)]
        parts = []
        for k, chunk in enumerate(distinct.tolist()):
            slots = order[bounds[k]:bounds[k + 1]]
            parts.append(take(self.chunks[chunk], positions[slots]))
        stacked = pl.concat(parts, how="vertical")
        inverse = np.empty(len(order), dtype=np.int64)
        inverse[order] = np.arange(len(order))
        return take(stacked, inverse)


def _take_all(chunk: pl.DataFrame, positions: list[int] | np.ndarray) -> pl.DataFrame:
    """``chunk``'s rows at ``positions``; the chunk itself when they are all of its rows in
    order (the new rows of a batch that only inserted new ids), which costs no gather; a
    copy of the frame (sharing the columns), as callers may add columns to what they get."""
    count = len(positions)
    if count == chunk.height and count and positions[0] == 0 and positions[-1] == count - 1:
        ordered = (np.diff(positions) == 1).all() if isinstance(positions, np.ndarray) else (
            positions == list(range(count)))
        if ordered:
            return chunk.clone()
    return take(chunk, positions)
