"""Running one shard of a dataflow among several workers.

Every worker holds a copy of the same dataflow and feeds it its share of the input rows. At
each stateful operator the workers swap rows (``Exchange.all_to_all``): each row goes to the
worker owning its key (``Operator.partition_key``, ``reflow.engine.state.partition``), so a
piece of state lives in exactly one worker and the union of the workers' outputs is the
single-worker output. Stateless operators run on whatever rows their worker holds. Sinks read
through one writer, worker 0: every worker sends its sink rows there.

Progress: the workers run the operators of one logical time in the same order and exchange at
the same operators, so when worker 0 has passed the last operator every worker has sent it
everything of that time; only then does it tell its sinks that the time is complete. A sink
never sees half of a time.

>>> import polars as pl
>>> from reflow.engine.dataflow import Dataflow
>>> from reflow.engine.operators.stateless import InputOperator, OutputOperator
>>> flow = Dataflow()
>>> source = flow.add(InputOperator("in", {"x": pl.Int64}))
>>> seen = []
>>> _ = flow.add(OutputOperator(source, "out", lambda t, d: seen.append((t, d.height))))
>>> shard = ShardedDataflow(flow, worker=0, workers=1, exchange=SoloExchange())
>>> batch = pl.DataFrame({"_id": [1, 2], "x": [5, 6], "_diff": [1, 1]},
...                      schema={"_id": pl.UInt128, "x": pl.Int64, "_diff": pl.Int64})
>>> shard.run_time(0, {source: shard.own_rows(batch)})
>>> seen
[(0, 2)]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

import polars as pl

from reflow.engine.batch import concat_batches, consolidate
from reflow.engine.dataflow import Dataflow
from reflow.engine.operator import Operator
from reflow.engine.operators.stateless import InputOperator, OutputOperator
from reflow.engine.resharding import reshard
from reflow.engine.shares import WRITER as WRITER
from reflow.engine.shares import share_bounds as share_bounds
from reflow.engine.shares import share_of as share_of
from reflow.engine.state.partition import PARTIAL_KEY, Broadcast, split
from reflow.engine.state.snapshot import decode, encode


class Exchange(Protocol):
    """How workers swap batches. Every worker calls the methods in the same order."""

    def all_to_all(
        self, parts: Sequence[pl.DataFrame | None], flag: bool
    ) -> tuple[list[pl.DataFrame | None], bool]:
        """Send ``parts[w]`` to worker ``w``; return what each worker sent to this one (in
        worker order) and whether any worker raised ``flag``."""
        ...

    def all_to_all_many(
        self, parts: Sequence[Sequence[pl.DataFrame | None]], flag: bool
    ) -> tuple[list[list[pl.DataFrame | None]], bool]:
        """``all_to_all`` of several batches per worker at once (one per input of an
        operator): ``parts[w]`` goes to worker ``w``, the same number of batches for every
        worker; return the batches each worker sent to this one."""
        ...

    def gather(self, part: pl.DataFrame | None, root: int) -> list[pl.DataFrame | None] | None:
        """Every worker's ``part`` at worker ``root``, in worker order; None on the others,
        which need not wait for anything."""
        ...


class StepsFromAllToAll:
    """``all_to_all_many`` and ``gather`` made of ``all_to_all`` steps, for exchanges that
    have no cheaper way: one step per batch, and a gather that waits like any step."""

    worker: int
    workers: int

    def all_to_all(
        self, parts: Sequence[pl.DataFrame | None], flag: bool
    ) -> tuple[list[pl.DataFrame | None], bool]:
        raise NotImplementedError

    def all_to_all_many(
        self, parts: Sequence[Sequence[pl.DataFrame | None]], flag: bool
    ) -> tuple[list[list[pl.DataFrame | None]], bool]:
        workers = len(parts)
        got: list[list[pl.DataFrame | None]] = [[] for _ in range(workers)]
        anyone = flag
        for index in range(len(parts[0]) if workers else 0):
            step, any_flag = self.all_to_all([frames[index] for frames in parts], flag)
            anyone = anyone or any_flag
            for worker, frame in enumerate(step):
                got[worker].append(frame)
        return got, anyone

    def gather(self, part: pl.DataFrame | None, root: int) -> list[pl.DataFrame | None] | None:
        got, _ = self.all_to_all(
            [part if w == root else None for w in range(self.workers)], False
        )
        return got if self.worker == root else None


class SoloExchange:
    """The exchange of a single worker: everything stays where it is."""

    def all_to_all(
        self, parts: Sequence[pl.DataFrame | None], flag: bool
    ) -> tuple[list[pl.DataFrame | None], bool]:
        return list(parts), flag

    def all_to_all_many(
        self, parts: Sequence[Sequence[pl.DataFrame | None]], flag: bool
    ) -> tuple[list[list[pl.DataFrame | None]], bool]:
        return [list(frames) for frames in parts], flag

    def gather(self, part: pl.DataFrame | None, root: int) -> list[pl.DataFrame | None] | None:
        return [part]


class ShardedDataflow:
    """Worker ``worker`` of ``workers``, running its copy ``dataflow`` of the dataflow."""

    def __init__(self, dataflow: Dataflow, worker: int, workers: int, exchange: Exchange) -> None:
        self.dataflow = dataflow
        self.worker = worker
        self.workers = workers
        self.exchange = exchange
        # Operators with an input every worker receives whole (a frontier, a wake-up): they act
        # on the time itself, so every worker runs them whenever any worker does.
        self._wake_all: set[int] = set()
        #: Rows exchanged so far: sent to other workers, and processed by stateful operators here.
        self.rows_sent = 0
        self.rows_processed = 0

    @property
    def is_writer(self) -> bool:
        return self.worker == WRITER

    def own_rows(self, batch: pl.DataFrame | None) -> pl.DataFrame | None:
        """The rows of a source batch this worker reads: its contiguous share."""
        if batch is None or self.workers == 1:
            return batch
        return share_of(batch, self.worker, self.workers)

    def run_time(self, time: int, inputs: Mapping[Operator, pl.DataFrame | None]) -> None:
        """Process this worker's ``inputs`` of logical ``time`` together with the others."""
        flow = self.dataflow
        if flow.last_time is not None and time < flow.last_time:
            raise ValueError(f"logical time went back from {flow.last_time} to {time}")
        flow.last_time = flow.ctx.time = time
        flow.completed = False
        self._push(time, dict(inputs), flush=False)
        # Error rounds: every worker takes part while any worker has new errors.
        while flow.error_logs:
            errors, flow.ctx.errors = flow.ctx.errors, []
            _, any_errors = self.exchange.all_to_all([None] * self.workers, bool(errors))
            if not any_errors:
                break
            self._push(time, flow.error_batches(errors), flush=False)
        flow.ctx.errors.clear()
        self._end_time(time)
        flow.completed = True

    def snapshot(self) -> bytes:
        """This shard's state after the last completed time: its dataflow's operators and
        which operators run on every worker, as bytes."""
        return encode({
            "dataflow": self.dataflow.snapshot(),
            "wake_all": sorted(self._wake_all),
            "rows": [self.rows_sent, self.rows_processed],
        })

    def restore(self, data: bytes) -> None:
        """Load a ``snapshot()`` of the same shard into this freshly built one."""
        saved = decode(data)
        self.dataflow.restore(saved["dataflow"])
        self._wake_all = set(saved["wake_all"])
        self.rows_sent, self.rows_processed = saved["rows"]

    def snapshot_states(self, indices: Sequence[int]) -> dict[int, bytes]:
        """Per stateful operator at ``indices``: its state in this shard after the last
        completed time, and whether it runs on every worker."""
        states = self.dataflow.snapshot_states(indices)
        return {index: encode({"state": state, "wake_all": index in self._wake_all})
                for index, state in states.items()}

    def restore_states(self, states: Mapping[int, bytes], last_time: int | None) -> None:
        """Load ``snapshot_states`` of every stateful operator of the same shard into this
        freshly built one, as of logical time ``last_time``."""
        saved = {index: decode(blob) for index, blob in states.items()}
        self.dataflow.restore_states(
            {index: shard["state"] for index, shard in saved.items()}, last_time
        )
        self._wake_all = {index for index, shard in saved.items() if shard["wake_all"]}

    def finish(self) -> None:
        """Release what operators hold until the end of input, then end the sinks (writer)."""
        flow = self.dataflow
        if flow.last_time is not None and any(
            hasattr(op, "flush_at_end") for op in flow.operators
        ):
            time = flow.last_time + 1
            flow.last_time = flow.ctx.time = time
            self._push(time, {}, flush=True)
            self._end_time(time)
        if self.is_writer:
            for output in flow.outputs:
                output.finish()

    def _end_time(self, time: int) -> None:
        for operator in self.dataflow.operators:
            if isinstance(operator, OutputOperator) and not self.is_writer:
                continue
            self.dataflow.ctx.scope = operator.error_scope
            operator.end_of_time(time, self.dataflow.ctx)
        self.dataflow.ctx.scope = None

    def _push(self, time: int, inputs: dict[Operator, pl.DataFrame | None], flush: bool) -> None:
        flow = self.dataflow
        outputs: list[pl.DataFrame | None] = [None] * len(flow.operators)
        for operator in flow.operators:
            if isinstance(operator, InputOperator):
                if not flush:
                    delta = inputs.get(operator)
                    outputs[operator.index] = delta if delta is not None and delta.height else None
                continue
            deltas = [outputs[source.index] for source in operator.inputs]
            wake = any(d is not None for d in deltas)
            combined = self.workers > 1 and operator.combines
            if combined:
                flow.ctx.scope = operator.error_scope
                (delta,) = deltas
                part = None if delta is None else operator.combine(delta, flow.ctx)
                deltas, wake = self._exchange(operator, [part], combined=True)
            elif operator.stateful or isinstance(operator, OutputOperator):
                deltas, wake = self._exchange(operator, deltas)
            out = None
            if wake:
                flow.ctx.scope = operator.error_scope
                if combined:
                    out = operator.process_combined(time, deltas, flow.ctx)
                else:
                    out = operator.process(time, deltas, flow.ctx)
            if flush:
                release = getattr(operator, "flush_at_end", None)
                if release is not None:
                    out = concat_batches([out, release()])
            outputs[operator.index] = out if out is not None and out.height else None
        flow.ctx.scope = None

    def _exchange(
        self, operator: Operator, deltas: list[pl.DataFrame | None], combined: bool = False
    ) -> tuple[list[pl.DataFrame | None], bool]:
        """Swap the rows of each input of ``operator``; whether it must run on this worker.
        ``combined``: ``deltas`` is the one pre-aggregated input (``Operator.combine``),
        routed by its key column; the parts received are returned apart, not concatenated."""
        if isinstance(operator, OutputOperator):
            # One-way: every worker's sink rows go to the writer; the others go on at once.
            (delta,) = deltas
            gathered = self.exchange.gather(delta, WRITER)
            if gathered is None:
                self.rows_sent += 0 if delta is None else delta.height
                return [None], False
            merged = concat_batches(gathered)
            if sum(p is not None for p in gathered) > 1:
                # Workers read slices of a source, so a row's retraction and its insertion at
                # one time may reach the sink from two workers: they cancel here, as they do
                # in one worker's input.
                merged = consolidate(merged)
            self.rows_processed += 0 if merged is None else merged.height
            return [merged], merged is not None
        broadcast = False
        parts_of: list[list[pl.DataFrame | None]] = []  # per input, one part per worker
        for input_index, delta in enumerate(deltas):
            if delta is None:
                parts: list[pl.DataFrame | None] = [None] * self.workers
            elif combined:
                parts = split(delta, delta[PARTIAL_KEY], self.workers)
            else:
                key = operator.partition_key(input_index, delta, self.dataflow.ctx)
                if isinstance(key, Broadcast):
                    broadcast = True
                    parts = [delta] * self.workers
                else:
                    parts = split(delta, key, self.workers)
            self.rows_sent += sum(
                p.height for w, p in enumerate(parts) if p is not None and w != self.worker
            )
            parts_of.append(parts)
        # Every input's parts in one step: one message per worker pair.
        got_of, any_broadcast = self.exchange.all_to_all_many(
            [[parts[w] for parts in parts_of] for w in range(self.workers)], broadcast
        )
        if any_broadcast:
            self._wake_all.add(operator.index)
        if combined:
            got = [frames[0] for frames in got_of]
            self.rows_processed += sum(p.height for p in got if p is not None)
            return got, any(p is not None for p in got)
        received = [concat_batches([frames[i] for frames in got_of]) for i in range(len(deltas))]
        local = any(d is not None for d in received)
        if operator.index in self._wake_all:
            # Did any worker have rows for it? Ask once more, cheaply.
            _, anyone = self.exchange.all_to_all([None] * self.workers, local)
            local = anyone
        self.rows_processed += sum(d.height for d in received if d is not None)
        return received, local


# --- checkpoints of a sharded run --------------------------------------------------------------
#
# A sharded run's checkpoint holds, per stateful operator, the list of its states on each worker
# (``ShardedDataflow.snapshot_states``) as one blob; a one-worker run's holds each operator's
# own snapshot. ``rescale_states`` turns one into the other, for any numbers of workers.


def gather_shards(parts: Sequence[bytes]) -> bytes:
    """One operator's ``ShardedDataflow.snapshot_states`` of every worker, as one blob."""
    return encode({"shards": list(parts)})


def shards_of(blob: bytes) -> list[bytes]:
    """The per-worker states in a ``gather_shards`` blob."""
    return list(decode(blob)["shards"])


def reshard_states(
    operators: Sequence[Operator], states: Mapping[int, Sequence[bytes]], workers: int
) -> dict[int, list[bytes]]:
    """Per stateful operator (by index in ``operators``, freshly built ones of the same
    dataflow): its ``ShardedDataflow.snapshot_states`` on each worker of a run, moved to
    ``workers`` workers (``reflow.engine.resharding``). An operator that runs on every worker
    keeps doing so."""
    out: dict[int, list[bytes]] = {}
    for index, parts in states.items():
        if len(parts) == workers:
            out[index] = list(parts)
            continue
        saved = [decode(part) for part in parts]
        wake_all = any(shard["wake_all"] for shard in saved)
        moved = reshard(operators[index], [shard["state"] for shard in saved], workers)
        out[index] = [encode({"state": state, "wake_all": wake_all}) for state in moved]
    return out


def rescale_states(
    states: Mapping[int, bytes], before: int, after: int, operators: Sequence[Operator]
) -> dict[int, bytes]:
    """A checkpoint's per-operator states written by ``before`` workers, as a run on ``after``
    workers restores them: each operator's own snapshot for one worker, ``gather_shards``
    of the workers' states for several."""
    if before == 1:
        per_worker = {index: [encode({"state": blob,
                                      "wake_all": operators[index].broadcasts})]
                      for index, blob in states.items()}
    else:
        per_worker = {index: shards_of(blob) for index, blob in states.items()}
    moved = reshard_states(operators, per_worker, after)
    if after == 1:
        return {index: decode(parts[0])["state"] for index, parts in moved.items()}
    return {index: gather_shards(parts) for index, parts in moved.items()}
