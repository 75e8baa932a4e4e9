"""Live sources on several workers.

Worker 0 (the *leader*) reads every live source and runs the streaming loop
(``reflow.runtime.streaming``). Before each logical time it tells the other workers (the
*followers*) which time comes next, in one exchange step; then every worker runs that time
together (``reflow.engine.sharding.ShardedDataflow``): the leader's rows go to the workers that
own their keys at the first stateful operator, and sinks write through worker 0 as in a static
sharded run. When the sources close the leader announces the end and every worker finishes.

Static reads of files (``LiveSource.splits_by_file``) are split by file: every worker reads
its own files (``LiveSource.read_part``), the followers from the start of the run in a thread
of their own, and their rows enter at the logical time of the leader's part (``PartSource``),
which the announcement names. The rows then go to their keys' owners at the first exchange,
like the leader's. (Not in a persistent run: a file source's offsets name the files it read.)

The followers answer each announcement with their counters (rows processed, rows sent, the
time their last logical time took), so the leader's status display and ``/metrics`` show
every worker, one logical time late.

In a persistent run the leader also checkpoints every worker's shard: when a checkpoint is
due it asks the followers for the state of their operators (``PersistentShards``) and stores
it with its own in one checkpoint; on a restart it hands each follower its shard back before
the first logical time. A checkpoint written by another number of workers is re-partitioned
by key first (``reflow.engine.sharding.reshard_states``).

>>> announcement(7)["time"].to_list(), announcement(None)["time"].to_list()
([7], [None])
>>> announcement(7, reads=[3, 5])["reads"].to_list()
[[3, 5]]
"""

from __future__ import annotations

import functools
import logging
import threading
import time as clock
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import polars as pl

from reflow.engine.dataflow import Dataflow, grouped_inputs
from reflow.engine.operator import Operator
from reflow.engine.sharding import ShardedDataflow, gather_shards, reshard_states, shards_of
from reflow.engine.state.snapshot import SavedState, SnapshotError, decode, encode
from reflow.plan.nodes import Lowering
from reflow.runtime.monitoring import WorkerStats
from reflow.runtime.sources import LiveSource, SourceHandle
from reflow.runtime.workers import Build, WorkerConfig, run_workers

if TYPE_CHECKING:
    from reflow.runtime.monitoring import Monitor

logger = logging.getLogger("reflow")

#: The worker that reads the live sources and drives the logical times.
LEADER = 0


#: What the leader asks of the followers besides a logical time (``announcement``): their
#: shard's state (snapshot), or to load the state sent with the message (restore).
SNAPSHOT, RESTORE = "snapshot", "restore"
_MESSAGE: dict[str, pl.DataType] = {
    "time": pl.Int64(), "request": pl.String(), "state": pl.Binary(),
    "reads": pl.List(pl.Int64),
}


def announcement(
    time: int | None, request: str | None = None, state: bytes | None = None,
    reads: Sequence[int] = (),
) -> pl.DataFrame:
    """The leader's message to the followers: the next logical time, or None for the end;
    or a ``request`` (``SNAPSHOT``, ``RESTORE`` with the worker's ``state``). ``reads``: the
    input operators whose files each follower adds its part of at this time."""
    return pl.DataFrame({"time": [time], "request": [request], "state": [state],
                         "reads": [list(reads)]}, schema=_MESSAGE)


class PartSource(LiveSource):
    """The leader's part of a source read by file among the workers: read once in a thread,
    then closed. Its commit makes a logical time even when the leader's part is empty
    (``commit_makes_time``), since the followers' parts enter at that time."""

    commit_makes_time = True

    def __init__(self, source: LiveSource, workers: int) -> None:
        self.source = source
        self.workers = workers
        self.name = source.name
        self._thread: threading.Thread | None = None

    def check(self) -> None:
        self.source.check()

    def start(self, handle: SourceHandle) -> None:
        def read() -> None:
            try:
                batch, errors = self.source.read_part(LEADER, self.workers)
                if batch is not None:
                    self.rows_read = batch.height
                    handle.push(batch)
                for message in errors:
                    handle.report_error(message)
                handle.commit()
                handle.close()
            except Exception as exc:  # noqa: BLE001 - reported to the run loop, which re-raises
                handle.fail(exc)

        self._thread = threading.Thread(target=read, name=f"reflow-{self.name}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)


class PartReader:
    """A follower's part of a source read by file (``LiveSource.read_part``), read in a
    thread from the start of the run; ``take`` waits for it."""

    def __init__(self, source: LiveSource, worker: int, workers: int) -> None:
        self.source = source
        self._result: tuple[pl.DataFrame | None, list[str]] | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(
            target=self._read, args=(worker, workers), name=f"reflow-{source.name}",
            daemon=True,
        )
        self._thread.start()

    def _read(self, worker: int, workers: int) -> None:
        try:
            self._result = self.source.read_part(worker, workers)
        except BaseException as error:  # noqa: BLE001 - raised by ``take``
            self._error = error

    def take(self) -> tuple[pl.DataFrame | None, list[str]]:
        """The part's rows and bad-row reports (raises what reading raised)."""
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._result is not None
        return self._result


def state_frame(state: bytes) -> pl.DataFrame:
    """A follower's shard state as the one-row batch it sends the leader."""
    return pl.DataFrame({"state": [state]}, schema={"state": pl.Binary})


def stats_frame(stats: WorkerStats) -> pl.DataFrame:
    """A follower's counters as the one-row batch it sends the leader."""
    return pl.DataFrame(
        {"rows_processed": [stats.rows_processed], "rows_sent": [stats.rows_sent],
         "last_time_ms": [stats.last_time_ms]},
        schema={"rows_processed": pl.Int64, "rows_sent": pl.Int64, "last_time_ms": pl.Float64},
    )


def _timed_run(shard: ShardedDataflow, stats: WorkerStats, run: Callable[[], None]) -> None:
    started = clock.perf_counter()
    run()
    stats.last_time_ms = (clock.perf_counter() - started) * 1000
    stats.rows_processed = shard.rows_processed
    stats.rows_sent = shard.rows_sent


class LeadingShard:
    """Worker 0's dataflow as the streaming loop drives it: each ``run_batches`` first
    announces the time to the followers, then runs it with them. Everything else (``ctx``,
    ``outputs``, ``last_time``) is the worker's own dataflow."""

    def __init__(
        self, shard: ShardedDataflow, monitor: Monitor | None = None,
        parts: Iterable[int] = (),
    ) -> None:
        self.shard = shard
        self.monitor = monitor
        self.stats = [WorkerStats(w) for w in range(shard.workers)]
        #: Input operators (by index) read by file among the workers (``PartSource``).
        self.parts = set(parts)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.shard.dataflow, name)

    def run_batches(
        self, time: int, batches: Iterable[tuple[Operator, pl.DataFrame | None]]
    ) -> None:
        inputs = grouped_inputs(batches)
        reads = sorted(op.index for op in inputs if op.index in self.parts)
        self._announce(time, reads=reads)
        _timed_run(self.shard, self.stats[LEADER], lambda: self.shard.run_time(time, inputs))
        self._publish()

    def finish(self) -> None:
        self._announce(None)
        self.shard.finish()

    @property
    def persistent_states(self) -> PersistentShards:
        """Every worker's state, as ``PersistentRun`` saves and restores a dataflow's."""
        return PersistentShards(self)

    def _announce(
        self, time: int | None, messages: list[pl.DataFrame | None] | None = None,
        reads: Sequence[int] = (),
    ) -> None:
        if messages is None:
            message = announcement(time, reads=reads)
            messages = [None if w == LEADER else message for w in range(self.shard.workers)]
        replies, _ = self.shard.exchange.all_to_all(messages, False)
        for worker, reply in enumerate(replies):
            if worker != LEADER and reply is not None and reply.height:
                row = reply.row(0, named=True)
                stats = self.stats[worker]
                stats.rows_processed = row["rows_processed"]
                stats.rows_sent = row["rows_sent"]
                stats.last_time_ms = row["last_time_ms"]

    def _publish(self) -> None:
        if self.monitor is not None:
            self.monitor.workers = list(self.stats)


class WholeStates:
    """What the persistent facades of sharded runs share (threads/processes here, Ray
    actors in ``reflow.runtime.ray_workers``): ``dataflow`` is the plan's operators as built
    in this process, ``workers`` how many run it; every state is saved whole (the workers'
    operators change out of the saving thread's sight), so there are no marks and no deltas.
    Subclasses give ``last_time``, ``snapshot_states`` and ``restore_states``."""

    dataflow: Dataflow
    workers: int

    @property
    def operators(self) -> list[Operator]:
        return self.dataflow.operators

    @property
    def outputs(self) -> list:
        return self.dataflow.outputs

    @property
    def last_time(self) -> int | None:
        raise NotImplementedError

    @property
    def versions(self) -> list[int | None]:
        # Every checkpoint (one per completed time at most) saves every state.
        return [self.last_time] * len(self.dataflow.operators)

    def fingerprint(self) -> str:
        return f"{self.dataflow.fingerprint()}{WORKERS_MARK}{self.workers}"

    def stateful_indices(self) -> list[int]:
        return self.dataflow.stateful_indices()

    def snapshot_states(self, indices: Iterable[int]) -> dict[int, bytes]:
        raise NotImplementedError

    def save_states(self, marks: Mapping[int, object | None]) -> dict[int, SavedState]:
        """``snapshot_states`` of the operators named by ``marks``, each whole."""
        return {index: SavedState(data, False, None)
                for index, data in self.snapshot_states(list(marks)).items()}

    def checkpoint_marks(self, indices: Iterable[int]) -> dict[int, object | None]:
        """No marks: every checkpoint of a sharded run saves whole states."""
        return dict.fromkeys(indices)


def refuse_deltas(deltas: Mapping[int, Sequence[bytes]] | None) -> None:
    """A sharded run restores whole states only (``PersistentRun`` folds the deltas of a
    one-worker checkpoint into them before re-partitioning)."""
    if any(deltas.values() if deltas else ()):
        raise SnapshotError("a sharded run's checkpoint holds whole states only")


class PersistentShards(WholeStates):
    """The state of every worker of a sharded run, seen by ``PersistentRun`` as one
    dataflow's: the state of stateful operator ``i`` is the list of its states in each worker
    (``ShardedDataflow.snapshot_states``). The leader gathers the followers' states when it
    checkpoints and sends each its own on a restart. The fingerprint names the number of
    workers: a checkpoint of another number is re-partitioned by key before it is sent
    (``PersistentRun`` does it, ``reshard_states``)."""

    def __init__(self, leading: LeadingShard) -> None:
        self.leading = leading
        self.shard = leading.shard
        self.dataflow = leading.shard.dataflow
        self.workers = leading.shard.workers

    @property
    def last_time(self) -> int | None:
        return self.dataflow.last_time

    def snapshot_states(self, indices: Iterable[int]) -> dict[int, bytes]:
        """The states of operators ``indices`` in every worker."""
        wanted = list(indices)
        mine = self.shard.snapshot_states(wanted)  # raises before asking if it cannot
        workers = self.shard.workers
        self.leading._announce(None, [None if w == LEADER else announcement(None, SNAPSHOT)
                                      for w in range(workers)])
        replies, _ = self.shard.exchange.all_to_all([None] * workers, False)
        shards = [mine if w == LEADER else decode(_only(reply)["state"][0])["states"]
                  for w, reply in enumerate(replies)]
        return {index: gather_shards([shard[index] for shard in shards]) for index in wanted}

    def restore_states(
        self, states: Mapping[int, bytes], last_time: int | None,
        deltas: Mapping[int, Sequence[bytes]] | None = None,
    ) -> None:
        """Give each worker its part of ``states`` (``snapshot_states``)."""
        refuse_deltas(deltas)
        workers = self.shard.workers
        shards = reshard_states(
            self.dataflow.operators,
            {index: shards_of(blob) for index, blob in states.items()}, workers,
        )

        def part(worker: int) -> dict[int, bytes]:
            return {index: parts[worker] for index, parts in shards.items()}

        self.leading._announce(None, [
            None if w == LEADER
            else announcement(None, RESTORE, encode({"states": part(w), "time": last_time}))
            for w in range(workers)
        ])
        self.shard.restore_states(part(LEADER), last_time)

    def restore(self, data: bytes) -> None:
        raise SnapshotError("a sharded run restores per-operator states only")


#: Between a dataflow's fingerprint and the number of workers in a sharded run's
#: (``reflow.runtime.persistence.run`` reads it back to name both numbers).
WORKERS_MARK = "/workers="


def _only(reply: pl.DataFrame | None) -> pl.DataFrame:
    if reply is None or reply.height != 1:
        raise SnapshotError("a worker did not send its state for the checkpoint")
    return reply


def follow(shard: ShardedDataflow, readers: Mapping[int, tuple[Operator, PartReader]] | None = None
           ) -> None:
    """A follower's loop: run each logical time the leader announces, until the end; send
    its state or load one when the leader asks. ``readers``: its parts of the sources read
    by file, by input operator index, added at the time the leader names them."""
    readers = dict(readers or {})
    stats = WorkerStats(shard.worker)
    while True:
        parts = [stats_frame(stats) if w == LEADER else None for w in range(shard.workers)]
        got, _ = shard.exchange.all_to_all(parts, False)
        message = got[LEADER]
        request = None if message is None else message["request"][0]
        if request == SNAPSHOT:
            state = encode({"states": shard.snapshot_states(shard.dataflow.stateful_indices())})
            shard.exchange.all_to_all(
                [state_frame(state) if w == LEADER else None for w in range(shard.workers)],
                False,
            )
            continue
        if request == RESTORE:
            assert message is not None
            saved = decode(message["state"][0])
            shard.restore_states(saved["states"], saved["time"])
            continue
        time = None if message is None else message["time"][0]
        if time is None:
            shard.finish()
            return
        inputs: dict[Operator, pl.DataFrame | None] = {}
        for index in message["reads"][0] if message is not None else ():
            operator, reader = readers.pop(index)
            batch, errors = reader.take()
            shard.dataflow.ctx.time = time
            for text in errors:
                logger.warning("%s: %s", reader.source.name, text)
                shard.dataflow.ctx.report_input_error(reader.source.name, text)
            inputs[operator] = batch
        _timed_run(shard, stats, functools.partial(shard.run_time, time, inputs))


def run_streaming_sharded(
    build: Build,
    config: WorkerConfig,
    lead: Callable[[Lowering, LeadingShard], None],
    split_files: bool = True,
) -> None:
    """Run a program with live sources on ``config.workers`` workers: ``lead(lowering,
    dataflow)`` runs the streaming loop of worker 0 over ``dataflow``; the other workers (the
    threads started here, or the other processes of a spawn) follow it. ``split_files``:
    each worker reads its own files of the static file reads (``LiveSource.splits_by_file``)."""

    def work(worker: int, shard: ShardedDataflow, lowering: Lowering) -> None:
        split = [
            (position, operator, source)
            for position, (operator, source) in enumerate(lowering.inputs)
            if split_files and shard.workers > 1 and isinstance(source, LiveSource)
            and source.splits_by_file()
        ]
        if worker == LEADER:
            for position, operator, source in split:
                # The worker's own list: the source object is shared by worker threads.
                lowering.inputs[position] = (operator, PartSource(source, shard.workers))
            lead(lowering, LeadingShard(shard, parts=[op.index for _, op, _ in split]))
        else:
            follow(shard, {operator.index: (operator, PartReader(source, worker, shard.workers))
                           for _, operator, source in split})

    run_workers(build, config, work)
