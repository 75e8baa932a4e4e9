"""A row-wise map that remembers what it produced, for functions that must not be re-run.

``MemoMapOperator`` applies a kernel to inserted rows like ``MapOperator``, but keeps every
output row it emitted. A retraction of an input row is answered from that memory: the operator
retracts exactly the row it produced for that id, without calling the kernel again. This is what
makes a non-deterministic function (a random number, a call to a model that changes) safe under
updates and deletions: the value taken back is the value that was given out.

The memory is columnar: output batches are kept as Polars chunks. A dict from row id to
``[chunk, row, multiplicity]`` is built lazily, only for chunks stored before a retraction
arrives, so an insert-only run (a static load) never pays for it. Chunks are merged size-tiered
(the last chunk is merged into the one before while it is at least half its size), which keeps
their number logarithmic and drops retracted rows along the way.

>>> import polars as pl
>>> from reflow.engine.batch import ID, DIFF
>>> from reflow.engine.operator import RunContext
>>> from reflow.engine.operators.stateless import InputOperator
>>> calls = []
>>> def kernel(frame, ctx):
...     calls.append(frame.height)
...     return frame.select(ID, DIFF, (pl.col("x") * 10 + len(calls)).alias("y"))
>>> op = MemoMapOperator(InputOperator("in", {"x": pl.Int64}), kernel, "memo")
>>> def batch(xs, diff):
...     return pl.DataFrame({ID: [1] * len(xs), "x": xs, DIFF: [diff] * len(xs)},
...                         schema={ID: pl.UInt128, "x": pl.Int64, DIFF: pl.Int64})
>>> op.process(0, [batch([5], 1)], RunContext())["y"].to_list()
[51]
>>> op.process(1, [batch([5], -1)], RunContext())["y"].to_list()  # not recomputed
[51]
>>> calls
[1]
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import polars as pl

from reflow.engine.batch import DIFF, DIFF_DTYPE, ID, concat_batches, consolidate
from reflow.engine.lazy_modules import imported_on_use
from reflow.engine.operator import Operator, RunContext
from reflow.engine.operators.stateless import FrameKernel

if TYPE_CHECKING:
    import numpy as np
else:
    np = imported_on_use("numpy", globals(), "np")


class MemoMapOperator(Operator):
    """Applies ``kernel`` to inserted rows and answers retractions from the rows it emitted.

    ``kernel`` maps a batch of insertions to output rows carrying the input ids (it may drop
    rows, as a filter does). A retracted id that produced no output retracts nothing.
    """

    state_fields = ("_chunks", "_dead", "_indexed", "_index")

    stateful = True
    emits_consolidated = True

    def __init__(self, source: Operator, kernel: FrameKernel, name: str) -> None:
        super().__init__([source], name)
        self.kernel = kernel
        self._chunks: list[pl.DataFrame] = []
        self._dead: list[list[int]] = []
        self._indexed = 0  # chunks [0, _indexed) are in _index
        self._index: dict[int, list[int]] = {}

    # --- Operator ----------------------------------------------------------------------------
    def process(
        self, time: int, deltas: list[pl.DataFrame | None], ctx: RunContext
    ) -> pl.DataFrame | None:
        (delta,) = deltas
        if delta is None or delta.height == 0:
            return None
        if not self.inputs[0].emits_consolidated and (delta[DIFF] <= 0).any():
            # A row inserted and retracted within this delta must cancel before the memory
            # is consulted, or the retraction would take back an older row of the same id.
            # (Pure insertions have nothing to cancel: a table holds an id once.)
            delta = consolidate(delta)
            if delta is None:
                return None
        negative = delta[DIFF] < 0
        parts: list[pl.DataFrame] = []
        if negative.any():
            retracted = self._retract(delta.filter(negative))
            if retracted is not None:
                parts.append(retracted)
            delta = delta.filter(~negative)
        if delta.height:
            out = self.kernel(delta, ctx)
            if out is not None and out.height:
                self._remember(out)
                if not parts:
                    # Insertions alone, consolidated, hold each id once; so does their image.
                    return out
                parts.append(out)
        return consolidate(concat_batches(parts))

    @property
    def remembered_rows(self) -> int:
        """How many output rows are currently remembered."""
        return sum(c.height - len(d) for c, d in zip(self._chunks, self._dead, strict=True))

    # --- memory ------------------------------------------------------------------------------
    def _remember(self, out: pl.DataFrame) -> None:
        self._chunks.append(out)
        self._dead.append([])
        while len(self._chunks) >= 2 and 2 * self._live(-1) >= self._live(-2):
            self._merge_last_two()

    def _live(self, k: int) -> int:
        return self._chunks[k].height - len(self._dead[k])

    def _fold(self) -> None:
        """Index the chunks stored since the last retraction."""
        index = self._index
        for c in range(self._indexed, len(self._chunks)):
            chunk = self._chunks[c]
            ids = chunk[ID].to_list()
            diffs = chunk[DIFF].to_list()
            for row, (row_id, diff) in enumerate(zip(ids, diffs, strict=True)):
                entry = index.get(row_id)
                if entry is None:
                    index[row_id] = [c, row, diff]
                else:  # the same id inserted again without a retraction
                    entry[2] += diff
        self._indexed = len(self._chunks)

    def _without_dead(self, k: int) -> pl.DataFrame:
        chunk, dead = self._chunks[k], self._dead[k]
        if not dead:
            return chunk
        keep = np.ones(chunk.height, dtype=bool)
        keep[dead] = False
        return chunk.filter(pl.Series(keep))

    def _merge_last_two(self) -> None:
        n = len(self._chunks)
        if self._indexed == n - 1:
            self._fold()
        was_indexed = self._indexed == n
        merged = pl.concat(
            [self._without_dead(n - 2), self._without_dead(n - 1)], how="vertical_relaxed"
        )
        del self._chunks[-2:]
        del self._dead[-2:]
        self._chunks.append(merged)
        self._dead.append([])
        if was_indexed:
            index = self._index
            for row, row_id in enumerate(merged[ID].to_list()):
                entry = index.get(row_id)
                if entry is not None and entry[0] >= n - 2:
                    entry[0] = n - 2
                    entry[1] = row
            self._indexed = n - 1

    def _retract(self, retractions: pl.DataFrame) -> pl.DataFrame | None:
        self._fold()
        index = self._index
        wanted: dict[int, tuple[list[int], list[int]]] = {}
        ids = retractions[ID].to_list()
        diffs = retractions[DIFF].to_list()
        for row_id, diff in zip(ids, diffs, strict=True):
            entry = index.get(row_id)
            if entry is None:  # never produced a row (e.g. filtered out)
                continue
            chunk, row = entry[0], entry[1]
            rows, row_diffs = wanted.setdefault(chunk, ([], []))
            rows.append(row)
            row_diffs.append(diff)
            entry[2] += diff
            if entry[2] <= 0:
                del index[row_id]
                self._dead[chunk].append(row)
        parts = [
            self._chunks[chunk][rows].with_columns(pl.Series(DIFF, row_diffs, dtype=DIFF_DTYPE))
            for chunk, (rows, row_diffs) in wanted.items()
        ]
        return concat_batches(parts)

