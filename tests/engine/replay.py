"""Running a pipeline time by time, with a snapshot/restore in the middle or sharded by key.

A *case* is a function building a fresh pipeline: it returns a ``pw.Table`` (lowered here
with a sink that records its output) or a ready ``Built`` (for engine-level pipelines).
Every call must build the same plan, so that a snapshot of one build restores into another.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import polars as pl

import reflow as pw
from reflow.debug.output import rows_of
from reflow.engine.batch import DIFF, concat_batches, consolidate
from reflow.engine.dataflow import Dataflow
from reflow.engine.operator import Operator, RunContext
from reflow.engine.operators.stateless import OutputOperator
from reflow.engine.state.partition import BROADCAST, split
from reflow.runtime.runner import OutputSpec, build
from reflow.runtime.sources import StaticSource

#: The logical time being run, for cases whose wall clock must follow it.
CURRENT_TIME = [0]


@dataclass
class Built:
    """A dataflow, its input batches by time, and what its sink received."""

    dataflow: Dataflow
    batches: dict[int, list[tuple[Operator, pl.DataFrame]]]
    seen: list[tuple] = field(default_factory=list)
    # Called before each time with that time (e.g. to finish asynchronous calls).
    before_time: Callable[[int], None] | None = None
    # Where a snapshot may be taken (positions in ``times``); every position when ``None``.
    splits: tuple[int, ...] | None = None

    @property
    def times(self) -> list[int]:
        return sorted(self.batches)

    def run(self, times: list[int]) -> None:
        for time in times:
            CURRENT_TIME[0] = time
            if self.before_time is not None:
                self.before_time(time)
            self.dataflow.run_batches(time, self.batches.get(time, []))

    def finish(self) -> None:
        self.dataflow.finish()


Case = Callable[[], "pw.Table | Built"]


def lower(case: Case) -> Built:
    """A fresh build of ``case``, ready to run."""
    made = case()
    if isinstance(made, Built):
        return made
    node = made._node
    seen: list[tuple] = []

    def on_time(time: int, delta: pl.DataFrame) -> None:
        for row_id, row, diff in rows_of(node.columns, delta):
            seen.append((time, row_id.value, repr(sorted(row.items())), diff))

    def attach(lowering, operator):
        return lowering.add(OutputOperator(operator, "recorded output", on_time))

    lowering = build([OutputSpec(node, attach)], RunContext(terminate_on_error=False))
    batches: dict[int, list[tuple[Operator, pl.DataFrame]]] = {}
    for operator, source in lowering.inputs:
        if isinstance(source, StaticSource):
            for time, batch in source.batches:
                batches.setdefault(time, []).append((operator, batch))
    return Built(lowering.dataflow, batches, seen)


def by_time(seen: list[tuple]) -> dict[int, Counter]:
    """The recorded output as a multiset of changes per time (empty times left out)."""
    out: dict[int, Counter] = {}
    for time, *change in seen:
        out.setdefault(time, Counter())[tuple(change)] += 1
    return {t: c for t, c in out.items() if c}


def uninterrupted(case: Case) -> dict[int, Counter]:
    built = lower(case)
    built.run(built.times)
    built.finish()
    return by_time(built.seen)


def interrupted(case: Case, split_at: int, *, restore: bool = True) -> dict[int, Counter]:
    """Run the times before ``times[split_at]``, snapshot, restore the bytes into a fresh
    build (or, with ``restore=False``, do not), and run the rest there."""
    first = lower(case)
    times = first.times
    first.run(times[:split_at])
    data = first.dataflow.snapshot()
    second = lower(case)
    if restore:
        second.dataflow.restore(data)
    second.run(times[split_at:])
    second.finish()
    return by_time(first.seen + second.seen)


def stateful_classes(built: Built) -> set[type]:
    return {type(op) for op in built.dataflow.operators if op.stateful}


# --- sharding ----------------------------------------------------------------------------------


def consolidated(frames: list[pl.DataFrame | None]) -> Counter:
    """The rows of ``frames`` summed up, as a multiset of ``(row, diff)``."""
    merged = consolidate(concat_batches(frames))
    out: Counter = Counter()
    if merged is None:
        return out
    names = [c for c in merged.columns if c != DIFF]
    for row in merged.select(*names, DIFF).rows():
        out[tuple(repr(v) for v in row[:-1])] += row[-1]
    return +out


@dataclass
class Recording:
    """Every call an operator received in one run: ``(time, deltas)`` and what it returned."""

    calls: list[tuple[int, list[pl.DataFrame | None]]] = field(default_factory=list)
    outputs: dict[int, list[pl.DataFrame | None]] = field(default_factory=dict)


def record_stateful(built: Built) -> dict[int, Recording]:
    """Wrap every stateful operator of ``built`` so that its calls are recorded."""
    recordings: dict[int, Recording] = {}
    for operator in built.dataflow.operators:
        if not operator.stateful:
            continue
        recording = recordings[operator.index] = Recording()

        def process(time, deltas, ctx, _op=operator, _rec=recording, _inner=operator.process):
            _rec.calls.append((time, list(deltas)))
            out = _inner(time, deltas, ctx)
            _rec.outputs.setdefault(time, []).append(out)
            return out

        operator.process = process  # type: ignore[method-assign]
        flush = getattr(operator, "flush_at_end", None)
        if flush is not None:
            def flush_at_end(_rec=recording, _inner=flush):
                out = _inner()
                _rec.outputs.setdefault("end", []).append(out)
                return out

            operator.flush_at_end = flush_at_end  # type: ignore[attr-defined]
    return recordings


def run_sharded(case: Case, index: int, recording: Recording, shards: int) -> dict[Any, Counter]:
    """Feed ``recording``'s calls, split by key, to ``shards`` fresh copies of operator
    ``index``; the union of their outputs per time."""
    copies = [lower(case).dataflow.operators[index] for _ in range(shards)]
    ctx = RunContext(terminate_on_error=False)
    # An operator with an input every shard receives (a frontier, a wake-up) acts on the
    # time itself, not only on its rows: then every shard runs whenever the operator runs.
    wake_all = any(
        copies[0].partition_key(i, delta, ctx) is BROADCAST
        for _, deltas in recording.calls for i, delta in enumerate(deltas) if delta is not None
    )
    outputs: dict[Any, list[pl.DataFrame | None]] = {}
    times = []
    for time, deltas in recording.calls:
        if not times or times[-1] != time:
            if times:
                for copy in copies:
                    copy.end_of_time(times[-1], ctx)
            times.append(time)
        ctx.time = CURRENT_TIME[0] = time
        parts: list[list[pl.DataFrame | None]] = [[] for _ in copies]
        for input_index, delta in enumerate(deltas):
            if delta is None:
                cut: list[pl.DataFrame | None] = [None] * shards
            else:
                key = copies[0].partition_key(input_index, delta, ctx)
                cut = [delta] * shards if key is BROADCAST else split(delta, key, shards)
            for shard in range(shards):
                parts[shard].append(cut[shard])
        for copy, shard_deltas in zip(copies, parts, strict=True):
            if wake_all or any(d is not None for d in shard_deltas):
                outputs.setdefault(time, []).append(copy.process(time, shard_deltas, ctx))
    if times:
        for copy in copies:
            copy.end_of_time(times[-1], ctx)
    for copy in copies:
        flush = getattr(copy, "flush_at_end", None)
        if flush is not None:
            outputs.setdefault("end", []).append(flush())
    return {t: consolidated(frames) for t, frames in outputs.items() if consolidated(frames)}


def recorded_outputs(recording: Recording) -> dict[Any, Counter]:
    return {
        t: consolidated(frames)
        for t, frames in recording.outputs.items()
        if consolidated(frames)
    }



# --- whole dataflows on several workers --------------------------------------------------------


def run_on_workers(make: Callable[[], Built], workers: int) -> list[tuple]:
    """Run fresh builds of one pipeline on ``workers`` threads exchanging rows by key; what
    the writer's sink received."""
    import threading

    from reflow.engine.sharding import ShardedDataflow
    from reflow.runtime.exchange import ThreadExchange
    from reflow.runtime.workers import build_for

    builts = [build_for(w, make) for w in range(workers)]
    exchanges = ThreadExchange.group(workers)
    shards = [ShardedDataflow(b.dataflow, w, workers, exchanges[w]) for w, b in enumerate(builts)]
    failures: list[BaseException] = []

    def work(w: int) -> None:
        built, shard = builts[w], shards[w]
        try:
            for time in built.times:
                grouped: dict[Operator, list[pl.DataFrame]] = {}
                for operator, batch in built.batches.get(time, []):
                    grouped.setdefault(operator, []).append(batch)
                shard.run_time(time, {op: shard.own_rows(concat_batches(parts))
                                      for op, parts in grouped.items()})
            shard.finish()
        except threading.BrokenBarrierError:
            pass
        except BaseException as error:  # noqa: BLE001 - re-raised below
            failures.append(error)
            exchanges[w].abort()

    threads = [threading.Thread(target=work, args=(w,)) for w in range(1, workers)]
    for thread in threads:
        thread.start()
    work(0)
    for thread in threads:
        thread.join()
    if failures:
        raise failures[0]
    for built in builts[1:]:
        assert not built.seen, "only the writer's sink may receive rows"
    return builts[0].seen


# --- restoring on another number of workers ------------------------------------------------------


def _run_threads(builts: list[Built], shards: list, times: list[int], finish: bool) -> None:
    """Run ``times`` (then finish, if asked) on every shard, one thread each."""
    import threading

    failures: list[BaseException] = []

    def work(w: int) -> None:
        built, shard = builts[w], shards[w]
        try:
            for time in times:
                grouped: dict[Operator, list[pl.DataFrame]] = {}
                for operator, batch in built.batches.get(time, []):
                    grouped.setdefault(operator, []).append(batch)
                shard.run_time(time, {op: shard.own_rows(concat_batches(parts))
                                      for op, parts in grouped.items()})
            if finish:
                shard.finish()
        except threading.BrokenBarrierError:
            pass
        except BaseException as error:  # noqa: BLE001 - re-raised below
            failures.append(error)
            shard.exchange.abort()

    threads = [threading.Thread(target=work, args=(w,)) for w in range(1, len(shards))]
    for thread in threads:
        thread.start()
    work(0)
    for thread in threads:
        thread.join()
    if failures:
        raise failures[0]


def _shards(make: Callable[[], Built], workers: int) -> tuple[list[Built], list]:
    from reflow.engine.sharding import ShardedDataflow
    from reflow.runtime.exchange import ThreadExchange
    from reflow.runtime.workers import build_for

    builts = [build_for(w, make) for w in range(workers)]
    exchanges = ThreadExchange.group(workers)
    return builts, [ShardedDataflow(b.dataflow, w, workers, exchanges[w])
                    for w, b in enumerate(builts)]


def rescaled(case: Case, before: int, after: int, split_at: int) -> dict[int, Counter]:
    """Run the times before ``times[split_at]`` on ``before`` worker threads, take every
    worker's state of every stateful operator, move it to ``after`` workers
    (``reshard_states``), restore it into fresh builds and run the rest there: what the
    writers' sinks received."""
    from reflow.engine.sharding import reshard_states

    def make() -> Built:
        return lower(case)

    builts, shards = _shards(make, before)
    times = builts[0].times
    _run_threads(builts, shards, times[:split_at], finish=False)
    indices = builts[0].dataflow.stateful_indices()
    saved = [shard.snapshot_states(indices) for shard in shards]
    last_time = builts[0].dataflow.last_time
    again, fresh = _shards(make, after)
    moved = reshard_states(again[0].dataflow.operators,
                           {i: [states[i] for states in saved] for i in indices}, after)
    for w, shard in enumerate(fresh):
        shard.restore_states({i: parts[w] for i, parts in moved.items()}, last_time)
    _run_threads(again, fresh, times[split_at:], finish=True)
    return by_time(builts[0].seen + again[0].seen)
