"""Stateless operators: each output delta depends only on the input delta of the same time.

They work on whole batches; the kernels they apply are vectorized functions handed to them by
the plan layer, so nothing here loops over rows in Python.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import polars as pl

from reflow.engine.batch import DIFF, ID, ID_DTYPE, concat_batches, consolidate
from reflow.engine.ids import hash_columns
from reflow.engine.lazy_modules import imported_on_use
from reflow.engine.operator import Operator, RunContext

if TYPE_CHECKING:
    import numpy as np
else:
    np = imported_on_use("numpy", globals(), "np")

FrameKernel = Callable[[pl.DataFrame, RunContext], pl.DataFrame]
MaskKernel = Callable[[pl.DataFrame, RunContext], pl.Series]
IdKernel = Callable[[pl.DataFrame, RunContext], pl.Series]


class InputOperator(Operator):
    """Where batches enter the dataflow; the runtime feeds it."""

    def __init__(self, name: str, columns: dict[str, pl.DataType]) -> None:
        super().__init__([], name)
        self.columns = columns

    def process(
        self, time: int, deltas: list[pl.DataFrame | None], ctx: RunContext
    ) -> pl.DataFrame | None:  # pragma: no cover - fed directly by the dataflow
        raise AssertionError("input operators are fed by the dataflow")


class MapOperator(Operator):
    """Row-wise projection: ``kernel`` maps a batch to a batch with the same ``_id``/``_diff``.

    ``keeps_consolidated``: the plan knows that the kernel maps a consolidated batch of the
    source to a consolidated batch (a projection keeping every column in which an update's
    old and new rows can differ), so a consolidated input is not consolidated again.
    """

    emits_consolidated = True

    def __init__(
        self, source: Operator, kernel: FrameKernel, name: str, keeps_consolidated: bool = False
    ) -> None:
        super().__init__([source], name)
        self.kernel = kernel
        self.skips_consolidation = keeps_consolidated and source.emits_consolidated

    def process(
        self, time: int, deltas: list[pl.DataFrame | None], ctx: RunContext
    ) -> pl.DataFrame | None:
        (delta,) = deltas
        assert delta is not None  # a one-input operator runs only when its input changed
        out = self.kernel(delta, ctx)
        if self.skips_consolidation:
            return out
        if out is not None and out.height and (delta[DIFF].to_numpy() > 0).all():
            # Pure insertions hold each id once (a table holds an id once), and so does their
            # image: nothing can merge or cancel. An update's -old/+new pair can, when the
            # projection drops what changed.
            return out
        return consolidate(out)


# Up to this many rows a filter with a ``small_mask`` evaluates it on numpy arrays.
SMALL_MASK_ROWS = 4096


class FilterOperator(Operator):
    """Keeps the rows for which ``predicate`` is true.

    ``condition``, if given, is the same mask as one Polars expression: the rows are then
    filtered in one query instead of two (the mask, then the filter). ``small_mask``, if
    given, is the same mask on numpy for batches of up to ``SMALL_MASK_ROWS`` rows (``None``
    for a batch it cannot evaluate): no Polars query at all.
    """

    def __init__(
        self, source: Operator, predicate: MaskKernel, name: str,
        condition: pl.Expr | None = None,
        small_mask: Callable[[pl.DataFrame], np.ndarray | None] | None = None,
    ) -> None:
        super().__init__([source], name)
        self.predicate = predicate
        self.condition = condition
        self.small_mask = small_mask
        # A subset of a consolidated batch is consolidated.
        self.emits_consolidated = source.emits_consolidated

    def process(
        self, time: int, deltas: list[pl.DataFrame | None], ctx: RunContext
    ) -> pl.DataFrame | None:
        (delta,) = deltas
        assert delta is not None  # a one-input operator runs only when its input changed
        if self.small_mask is not None and delta.height <= SMALL_MASK_ROWS:
            small = self.small_mask(delta)
            if small is not None:
                return _kept_rows(delta, small)
        if self.condition is not None:  # the whole condition is one Polars expression
            kept = delta.filter(self.condition)
            return kept if kept.height else None
        predicate = self.predicate(delta, ctx)
        if predicate.null_count():
            kept = delta.filter(predicate)
            return kept if kept.height else None
        return _kept_rows(delta, predicate.to_numpy())


def _kept_rows(delta: pl.DataFrame, mask: np.ndarray) -> pl.DataFrame | None:
    """The rows of ``delta`` where ``mask`` (a numpy bool array) is true."""
    if mask.all():
        return delta
    rows = np.flatnonzero(mask)
    if not len(rows):
        return None
    first = int(rows[0])
    if int(rows[-1]) - first + 1 == len(rows):
        return delta.slice(first, len(rows))  # consecutive rows: no copy, no Polars query
    # A gather by position is no Polars query (``DataFrame.filter`` is one).
    return delta[rows]


class ReindexOperator(Operator):
    """Gives every row a new id computed from the row (``with_id_from``, ``with_id``)."""

    emits_consolidated = True

    def __init__(self, source: Operator, new_ids: IdKernel, name: str) -> None:
        super().__init__([source], name)
        self.new_ids = new_ids

    def process(
        self, time: int, deltas: list[pl.DataFrame | None], ctx: RunContext
    ) -> pl.DataFrame | None:
        (delta,) = deltas
        assert delta is not None  # a one-input operator runs only when its input changed
        return consolidate(delta.with_columns(self.new_ids(delta, ctx).alias(ID)))


class FlattenOperator(Operator):
    """One output row per element of a list-like column.

    ``explode`` maps the column to ``(row, position, value)`` triples, one per element. The new
    id hashes the original id with the element's position, so retracting a row retracts exactly
    the rows it produced. ``origin_column``, if given, keeps the original id.
    """

    def __init__(
        self,
        source: Operator,
        column: str,
        name: str,
        explode: Callable[[pl.Series], tuple[pl.Series, pl.Series, pl.Series]],
        origin_column: str | None = None,
    ) -> None:
        super().__init__([source], name)
        self.column = column
        self.explode = explode
        self.origin_column = origin_column

    def process(
        self, time: int, deltas: list[pl.DataFrame | None], ctx: RunContext
    ) -> pl.DataFrame | None:
        (delta,) = deltas
        assert delta is not None  # a one-input operator runs only when its input changed
        rows, positions, values = self.explode(delta[self.column])
        if rows.len() == 0:
            return None
        frame = delta[rows]
        if self.origin_column is not None:
            frame = frame.with_columns(pl.col(ID).alias(self.origin_column))
        frame = frame.with_columns(values.alias(self.column), positions.alias("_pos"))
        new_ids = hash_columns(frame, [ID, "_pos"], salt="flatten")
        return frame.with_columns(new_ids.alias(ID)).drop("_pos")


class ConcatOperator(Operator):
    """The union of several inputs with the same columns."""

    emits_consolidated = True

    def __init__(self, sources: Sequence[Operator], name: str) -> None:
        super().__init__(sources, name)

    def process(
        self, time: int, deltas: list[pl.DataFrame | None], ctx: RunContext
    ) -> pl.DataFrame | None:
        return consolidate(concat_batches(deltas))


class OutputOperator(Operator):
    """Buffers the deltas of one time and hands them over, consolidated, once it is complete."""

    # Set by the connector that adds the sink: its monitoring counters and, for a sink that
    # can resume, where its output ends after a completed time.
    stats: object = None
    position: Callable[[], object] | None = None

    def __init__(
        self,
        source: Operator,
        name: str,
        on_time: Callable[[int, pl.DataFrame], None],
        on_time_end: Callable[[int], None] | None = None,
        on_end: Callable[[], None] | None = None,
        prepare: Callable[[pl.DataFrame, RunContext], pl.DataFrame] | None = None,
    ) -> None:
        """``prepare`` may transform each delta as it arrives (e.g. withhold rows with error
        values, reporting them while the time is computed, so they reach the error log)."""
        super().__init__([source], name)
        self.prepare = prepare
        self.on_time = on_time
        self.on_time_end = on_time_end
        self.on_end = on_end
        self._pending: list[pl.DataFrame] = []

    def process(
        self, time: int, deltas: list[pl.DataFrame | None], ctx: RunContext
    ) -> pl.DataFrame | None:
        (delta,) = deltas
        if delta is not None and self.prepare is not None:
            delta = self.prepare(delta, ctx)
        if delta is not None and delta.height:
            self._pending.append(delta)
        return None

    def end_of_time(self, time: int, ctx: RunContext) -> None:
        pending, self._pending = self._pending, []
        delta: pl.DataFrame | None
        if len(pending) == 1 and self.inputs[0].emits_consolidated:
            delta = pending[0]
        else:
            delta = consolidate(concat_batches(pending))
        if delta is not None:
            self.on_time(time, delta)
        if self.on_time_end is not None:
            self.on_time_end(time)

    def finish(self) -> None:
        if self.on_end is not None:
            self.on_end()


def with_fresh_ids(frame: pl.DataFrame, ids: Sequence[int]) -> pl.DataFrame:
    """``frame`` with its ``_id`` column replaced by ``ids``."""
    return frame.with_columns(pl.Series(ID, list(ids), dtype=ID_DTYPE))


__all__ = [
    "DIFF",
    "ConcatOperator",
    "FilterOperator",
    "FlattenOperator",
    "InputOperator",
    "MapOperator",
    "OutputOperator",
    "ReindexOperator",
    "with_fresh_ids",
]
