"""Event-time operators: the time frontier, buffering, ignoring late rows, forgetting, sessions.

Event time advances with the data: the *frontier* of a stream is the largest event time seen
so far (deleting a row never moves it back). ``FrontierOperator`` publishes it as a one-row
table; the gates below read it as their second input.

At logical time ``t`` a gate knows two frontiers: ``previous`` (the frontier before ``t``) and
``current`` (after the rows of ``t``). Rows carry a *threshold* (a physical time: Int64 or
Float64) computed by the plan layer:

- ``BufferOperator`` holds a row until ``threshold <= current``;
- ``IgnoreLateOperator`` drops rows with ``threshold <= previous`` (late rows) and counts the
  dropped insertions;
- ``ForgetOperator`` retracts, at ``t``, the rows it passed earlier whose
  ``threshold <= previous``, so the state downstream of it (a reduce, a join) shrinks.

State is kept columnar, in chunks with their smallest threshold, so a time at which nothing
becomes due touches no stored row.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any, cast

import polars as pl

from reflow.engine.batch import DIFF, ID, ID_DTYPE, concat_batches, consolidate, negate
from reflow.engine.ids import hash_columns
from reflow.engine.operator import Operator, RunContext
from reflow.engine.state.partition import BROADCAST, Broadcast, owners, single_partition
from reflow.engine.state.snapshot import Snapshottable

FRONTIER = "_pw_frontier"

logger = logging.getLogger("reflow.temporal")

_late_total = 0


def late_rows_ignored() -> int:
    """How many late insertions every ``IgnoreLateOperator`` of this process has dropped."""
    return _late_total


class FrontierOperator(Operator):
    """The largest value of ``time_column`` among inserted rows, as a one-row table."""

    state_fields = ("value",)

    stateful = True

    def __init__(
        self, source: Operator, time_column: str, dtype: pl.DataType, name: str
    ) -> None:
        super().__init__([source], name)
        self.time_column = time_column
        self.dtype = dtype
        self.value: int | float | None = None

    def partition_key(
        self, input_index: int, delta: pl.DataFrame, ctx: RunContext
    ) -> pl.Series | Broadcast:
        """One global value: the frontier is not split (its readers get it broadcast)."""
        return single_partition(delta)

    def split_state(self, workers: int) -> list[object]:
        """The value goes to the worker owning partition 0 (its rows' route)."""
        return [self.value if worker == 0 else None for worker in range(workers)]

    def merge_state(self, pieces: list[object]) -> None:
        self.value = _latest(pieces)

    def process(
        self, time: int, deltas: list[pl.DataFrame | None], ctx: RunContext
    ) -> pl.DataFrame | None:
        (delta,) = deltas
        assert delta is not None  # a one-input operator runs only when its input changed
        times = delta.filter(pl.col(DIFF) > 0)[self.time_column].drop_nulls()
        if times.is_empty():
            return None
        top = cast("int | float", times.max())
        if top != top:  # NaN
            times = times.drop_nans()
            if times.is_empty():
                return None
            top = cast("int | float", times.max())
        if self.value is not None and top <= self.value:
            return None
        rows = [(self.value, -1)] if self.value is not None else []
        rows.append((top, 1))
        self.value = top
        return pl.DataFrame(
            {
                ID: pl.Series([0] * len(rows), dtype=ID_DTYPE),
                FRONTIER: pl.Series([v for v, _ in rows], dtype=self.dtype),
                DIFF: pl.Series([d for _, d in rows], dtype=pl.Int64),
            }
        )


class _FrontierReader(Operator):
    """Base of operators whose second input is a ``FrontierOperator``."""

    state_fields: tuple[str, ...] = ("previous", "current")

    stateful = True

    broadcasts = True

    def __init__(self, data: Operator, frontier: Operator, name: str) -> None:
        super().__init__([data, frontier], name)
        self.previous: int | float | None = None
        self.current: int | float | None = None

    def _read_frontier(self, delta: pl.DataFrame | None) -> None:
        if delta is None:
            return
        inserted = delta.filter(pl.col(DIFF) > 0)[FRONTIER]
        if not inserted.is_empty():
            value = cast("int | float", inserted.max())
            if self.current is None or value > self.current:
                self.current = value

    def end_of_time(self, time: int, ctx: RunContext) -> None:
        self.previous = self.current

    def split_state(self, workers: int) -> list[object]:
        """The frontier (every worker reads it) to every worker; the rows a subclass keeps
        (``_kept``) cut by the owner of their ids."""
        kept = getattr(self, self._kept).split(workers) if self._kept else [[]] * workers
        return [{"frontier": (self.previous, self.current), "kept": kept[worker],
                 "extra": self._extra_state(worker)} for worker in range(workers)]

    def merge_state(self, pieces: list[object]) -> None:
        parts = cast("list[dict[str, Any]]", pieces)
        self.previous = _latest([part["frontier"][0] for part in parts])
        self.current = _latest([part["frontier"][1] for part in parts])
        if self._kept:
            getattr(self, self._kept).chunks = [c for part in parts for c in part["kept"]]
        self._merge_extra([part["extra"] for part in parts])

    #: The field holding the rows this operator keeps (a ``_Chunks``), if any.
    _kept: str | None = None

    def _extra_state(self, worker: int) -> Any:
        return None

    def _merge_extra(self, pieces: list[Any]) -> None:
        pass

    def partition_key(
        self, input_index: int, delta: pl.DataFrame, ctx: RunContext
    ) -> pl.Series | Broadcast:
        """Rows by id; the frontier goes to every shard."""
        return BROADCAST if input_index == 1 else delta[ID]


class _Chunks(Snapshottable):
    """Rows kept in chunks, each with the smallest threshold it holds."""

    state_fields = ("chunks",)

    def __init__(self, threshold: str) -> None:
        self.threshold = threshold
        self.chunks: list[tuple[float, pl.DataFrame]] = []

    def add(self, frame: pl.DataFrame) -> None:
        if frame.height:
            self.chunks.append((_smallest(frame[self.threshold]), frame))
            if len(self.chunks) > 64:
                self._compact()

    def _compact(self) -> None:
        merged = consolidate(pl.concat([f for _, f in self.chunks], how="vertical_relaxed"))
        self.chunks = []
        if merged is not None:
            self.chunks.append((_smallest(merged[self.threshold]), merged))

    def take_due(self, bound: int | float) -> pl.DataFrame | None:
        """Remove and return the rows with ``threshold <= bound``."""
        due: list[pl.DataFrame] = []
        kept: list[tuple[float, pl.DataFrame]] = []
        for low, frame in self.chunks:
            if low > bound:
                kept.append((low, frame))
                continue
            mask = frame[self.threshold] <= bound
            due.append(frame.filter(mask))
            rest = frame.filter(~mask)
            if rest.height:
                kept.append((_smallest(rest[self.threshold]), rest))
        self.chunks = kept
        return concat_batches(due)

    def height(self) -> int:
        return sum(f.height for _, f in self.chunks)

    def split(self, workers: int) -> list[list[tuple[float, pl.DataFrame]]]:
        """The chunks cut among ``workers`` shards by the owner of their rows' ids."""
        out: list[list[tuple[float, pl.DataFrame]]] = [[] for _ in range(workers)]
        for _, frame in self.chunks:
            owned = owners(frame[ID], workers)
            for worker in range(workers):
                part = frame.filter(pl.Series(owned == worker))
                if part.height:
                    out[worker].append((_smallest(part[self.threshold]), part))
        return out


def _latest(values: list[Any]) -> Any:
    """The largest of ``values`` that are not None (None if all are)."""
    known = [v for v in values if v is not None]
    return max(known) if known else None


def _smallest(thresholds: pl.Series) -> float:
    """The smallest threshold of a non-empty chunk (numbers: event times as integers)."""
    return cast(float, thresholds.min())


class BufferOperator(_FrontierReader):
    """Holds each row until its threshold is at or behind the current frontier."""

    state_fields = ("previous", "current", "held")
    _kept = "held"

    def __init__(self, data: Operator, frontier: Operator, threshold: str, name: str) -> None:
        super().__init__(data, frontier, name)
        self.threshold = threshold
        self.held = _Chunks(threshold)

    def process(
        self, time: int, deltas: list[pl.DataFrame | None], ctx: RunContext
    ) -> pl.DataFrame | None:
        delta, frontier = deltas
        self._read_frontier(frontier)
        untimed = None
        if delta is not None:
            unknown = pl.col(self.threshold).is_null()
            untimed = delta.filter(unknown)  # no time, nothing to wait for
            self.held.add(delta.filter(~unknown))
        due = self.held.take_due(self.current) if self.current is not None else None
        return consolidate(concat_batches([untimed, due]))

    def flush_at_end(self) -> pl.DataFrame | None:
        """Everything still held (when the input has ended)."""
        out = concat_batches(f for _, f in self.held.chunks)
        self.held.chunks = []
        return consolidate(out)


class IgnoreLateOperator(_FrontierReader):
    """Drops rows whose threshold is at or behind the frontier of the previous times.

    ``count`` makes dropped insertions count as ignored late events (logged and added to
    ``late_rows_ignored()``); without it the operator silently freezes closed results.
    """

    state_fields = ("previous", "current", "ignored", "_ignored_now")

    def __init__(
        self, data: Operator, frontier: Operator, threshold: str, name: str, count: bool = True
    ) -> None:
        super().__init__(data, frontier, name)
        self.threshold = threshold
        self.count = count
        self.ignored = 0
        self._ignored_now = 0

    def _extra_state(self, worker: int) -> Any:
        return self.ignored if worker == 0 else 0  # a count of this operator's drops

    def _merge_extra(self, pieces: list[Any]) -> None:
        self.ignored = sum(pieces)

    def process(
        self, time: int, deltas: list[pl.DataFrame | None], ctx: RunContext
    ) -> pl.DataFrame | None:
        global _late_total
        delta, frontier = deltas
        self._read_frontier(frontier)
        if delta is None or self.previous is None:
            return delta
        late = pl.col(self.threshold) <= self.previous
        if self.count:
            dropped = cast(int, delta.filter(late & (pl.col(DIFF) > 0))[DIFF].sum())
            if dropped:
                self.ignored += dropped
                self._ignored_now += dropped
                _late_total += dropped
        kept = delta.filter(~late.fill_null(False))
        return kept if kept.height else None

    def end_of_time(self, time: int, ctx: RunContext) -> None:
        if self._ignored_now:
            logger.warning(
                "%s: ignored %d late event(s) at time %d (%d so far)",
                self.name, self._ignored_now, time, self.ignored,
            )
            self._ignored_now = 0
        super().end_of_time(time, ctx)


class ForgetOperator(_FrontierReader):
    """Passes rows through and retracts them once their threshold falls behind the frontier.

    Rows arriving with a threshold already behind it are dropped (they would be forgotten at
    once), so a late retraction of a forgotten row cannot make a count negative downstream.
    """

    state_fields = ("previous", "current", "live", "_forgot_at")
    _kept = "live"

    def __init__(self, data: Operator, frontier: Operator, threshold: str, name: str) -> None:
        super().__init__(data, frontier, name)
        self.threshold = threshold
        self.live = _Chunks(threshold)
        self._forgot_at: int | None = None

    def _extra_state(self, worker: int) -> Any:
        return self._forgot_at

    def _merge_extra(self, pieces: list[Any]) -> None:
        self._forgot_at = _latest(pieces)

    def process(
        self, time: int, deltas: list[pl.DataFrame | None], ctx: RunContext
    ) -> pl.DataFrame | None:
        delta, frontier = deltas
        self._read_frontier(frontier)
        bound = self.previous
        out: list[pl.DataFrame] = []
        if delta is not None:
            unknown = pl.col(self.threshold).is_null()
            out.append(delta.filter(unknown))  # no time: never forgotten
            delta = delta.filter(~unknown)
            if bound is not None:
                delta = delta.filter(pl.col(self.threshold) > bound)
            self.live.add(delta)
            out.append(delta)
        if bound is not None and self._forgot_at != time:
            self._forgot_at = time
            due = self.live.take_due(bound)
            if due is not None:
                out.append(negate(due))
        return consolidate(concat_batches(out))

    def state_rows(self) -> int:
        return self.live.height()


SessionKernel = Callable[[pl.DataFrame], pl.DataFrame]


class SessionOperator(Operator):
    """Assigns every row a session window per instance, revising assignments as rows change.

    ``assign(frame)`` receives live rows (``_id``, input columns, ``_diff`` > 0) of some
    instances and returns them with the window columns filled. Only the sessions a change can
    affect are recomputed: with ``max_gap`` (sessions are rows closer than it), the sessions
    of the instance overlapping ``[earliest change - max_gap, latest change + max_gap]``;
    otherwise (an arbitrary predicate) every session of the instance. Only rows whose window
    changed are emitted.
    """

    state_fields = ("assigned",)

    stateful = True

    def __init__(
        self, source: Operator, instance: str, assign: SessionKernel, name: str,
        window_columns: Sequence[str], time_column: str, start_column: str, end_column: str,
        max_gap: float | None = None,
    ) -> None:
        super().__init__([source], name)
        self.instance = instance
        self.assign = assign
        self.window_columns = list(window_columns)
        self.time_column = time_column
        self.start_column = start_column
        self.end_column = end_column
        self.max_gap = max_gap
        self.assigned: pl.DataFrame | None = None  # live rows with their windows

    def partition_key(
        self, input_index: int, delta: pl.DataFrame, ctx: RunContext
    ) -> pl.Series | Broadcast:
        """The instance: its sessions live in one shard."""
        return hash_columns(delta, [self.instance])

    def process(
        self, time: int, deltas: list[pl.DataFrame | None], ctx: RunContext
    ) -> pl.DataFrame | None:
        (delta,) = deltas
        assert delta is not None  # a one-input operator runs only when its input changed
        delta = delta.filter(pl.col(self.time_column).is_not_null())
        if delta.height == 0:
            return None
        inputs = [c for c in delta.columns if c not in (ID, DIFF)]
        delta = delta.select(ID, *inputs, DIFF)
        old = rest = None
        if self.assigned is not None and self.assigned.height:
            mask = self._affected(self.assigned, delta)
            old = self.assigned.filter(mask)
            rest = self.assigned.filter(~mask)
        parts = [old.select(ID, *inputs, DIFF) if old is not None else None, delta]
        rows = consolidate(concat_batches(parts))
        new = None
        if rows is not None:
            if (rows[DIFF] < 0).any():
                raise ValueError(f"{self.name}: a row was deleted that was never inserted")
            new = self.assign(rows)
        self.assigned = concat_batches([rest, new])
        out = concat_batches([negate(old) if old is not None else None, new])
        return consolidate(out)

    def _affected(self, assigned: pl.DataFrame, delta: pl.DataFrame) -> pl.Expr | pl.Series:
        touched = pl.col(self.instance).is_in(delta[self.instance].unique().implode())
        if self.max_gap is None:
            return touched
        ranges = delta.group_by(self.instance).agg(
            (pl.col(self.time_column).min() - self.max_gap).alias("_lo"),
            (pl.col(self.time_column).max() + self.max_gap).alias("_hi"),
        )
        marked = assigned.select(self.instance, self.start_column, self.end_column).join(
            ranges, on=self.instance, how="left", maintain_order="left"
        )
        after = marked[self.end_column] >= marked["_lo"]
        before = marked[self.start_column] <= marked["_hi"]
        return (after & before).fill_null(False)


class InactivityOperator(Operator):
    """Inactivity periods of a stream, per instance, in processing (wall-clock) time.

    Inputs: the monitored rows (``instance_hash`` and ``instance`` columns) and a clock (rows
    with a ``timestamp_utc`` column, e.g. ``utc_now``). When a clock reading is more than
    ``allowed_ns`` after an instance's last activity, a period ``(last activity, None)`` is
    opened; the instance's next row closes it with the time it arrived (``now()``). Before
    any row arrives, the start of the run counts as the last activity of the ``None``
    instance.
    """

    state_fields = ("start_ns", "seen_any", "last", "open")

    stateful = True

    def __init__(self, data: Operator, clock: Operator, name: str, allowed_ns: int,
                 instance_dtype: pl.DataType, now: Callable[[], int]) -> None:
        super().__init__([data, clock], name)
        self.allowed_ns = allowed_ns
        self.instance_dtype = instance_dtype
        self.now = now
        self.start_ns = now()
        self.seen_any = False
        self.last: dict[int, tuple[int, object]] = {}  # hash -> (last activity ns, instance)
        # hash -> inactivity start ns; ``None``: no row at all yet, since the start of the run
        self.open: dict[int | None, int] = {}

    def _row(self, key: int | None, instance: object, since: int, until: int | None,
             diff: int) -> tuple:
        return (key, instance, since, until, diff)

    def partition_key(
        self, input_index: int, delta: pl.DataFrame, ctx: RunContext
    ) -> pl.Series | Broadcast:
        """Not split: before any row arrives, inactivity is reported for the whole stream."""
        return single_partition(delta)

    def process(
        self, time: int, deltas: list[pl.DataFrame | None], ctx: RunContext
    ) -> pl.DataFrame | None:
        data, clock = deltas
        out: list[tuple] = []
        if data is not None:
            now = self.now()
            inserted = data.filter(pl.col(DIFF) > 0)
            for key, instance in zip(inserted["instance_hash"].to_list(),
                                     inserted["instance"].to_list(), strict=True):
                if not self.seen_any:
                    self.seen_any = True
                    if None in self.open:
                        since = self.open.pop(None)
                        out.append(self._row(None, None, since, None, -1))
                        out.append(self._row(None, None, since, now, 1))
                if key in self.open:
                    since = self.open.pop(key)
                    out.append(self._row(key, instance, since, None, -1))
                    out.append(self._row(key, instance, since, now, 1))
                self.last[key] = (now, instance)
        if clock is not None:
            readings = clock.filter(pl.col(DIFF) > 0)["timestamp_utc"]
            if readings.len():
                reading = cast(int, readings.dt.epoch("ns").max())
                if not self.seen_any and None not in self.open and (
                    reading - self.start_ns > self.allowed_ns
                ):
                    self.open[None] = self.start_ns
                    out.append(self._row(None, None, self.start_ns, None, 1))
                for key, (last, instance) in self.last.items():
                    if key not in self.open and reading - last > self.allowed_ns:
                        self.open[key] = last
                        out.append(self._row(key, instance, last, None, 1))
        if not out:
            return None
        keys = [0 if k is None else k for k, *_ in out]
        frame = pl.DataFrame(
            {
                "instance_hash": pl.Series(keys, dtype=ID_DTYPE),
                "since": pl.Series([r[2] for r in out], dtype=pl.Int64),
            }
        )
        from reflow.engine.ids import hash_columns

        ids = hash_columns(frame, ["instance_hash", "since"], "inactivity")
        instance_values = [r[1] for r in out]
        instance = (pl.Series(instance_values, dtype=pl.Object)
                    if self.instance_dtype == pl.Object
                    else pl.Series(instance_values, dtype=self.instance_dtype))
        batch = pl.DataFrame(
            {
                ID: ids,
                "inactivity_timestamp_utc": pl.Series([r[2] for r in out], dtype=pl.Int64)
                .cast(pl.Datetime("ns", "UTC")),
                "resumed_activity_timestamp_utc": pl.Series([r[3] for r in out],
                                                            dtype=pl.Int64)
                .cast(pl.Datetime("ns", "UTC")),
                "instance": instance,
                DIFF: pl.Series([r[4] for r in out], dtype=pl.Int64),
            }
        )
        return consolidate(batch)
