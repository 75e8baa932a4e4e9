"""Running a dataflow on Ray: the shards of ``reflow.engine.sharding`` as Ray Core
actors, batches between them through Ray's object store, the calling process as the
coordinator driving logical times and as the one writer of every sink.

- **Actors.** Each actor (``ShardActor``) builds the same dataflow from the program's plan
  (sent to it pickled), keeps its share of the static inputs (a contiguous slice of each
  batch) and runs one shard. Ray places the actors on the nodes of the cluster
  (``ray.init()`` starts a local one, ``RAY_ADDRESS`` names an existing one).
- **Exchange** (``RayExchange``). At each exchange step a worker sends the batch for each other
  worker (Arrow IPC bytes, ``reflow.runtime.exchange.encode_batch``) to that worker's mailbox:
  a large batch through the object store (the mailbox gets its reference), a small one inside
  the call. One message per worker pair per step, never one per row.
- **Coordinator.** The caller starts logical time *t* on every actor and waits for all of
  them: time *t* is complete only when every actor has returned from it.
- **Sinks.** The sinks run in the caller, not in the actors: actor 0 (the shard every sink row
  is exchanged to) returns what its sinks would have received for *t*, and the coordinator
  hands it to the real sinks only once every actor has finished *t*. A sink never sees half a
  time, and output files are written where the program runs.
- **Live sources** are read by the caller, which runs the streaming loop over a
  ``RayCoordinator`` and sends each commit's rows to the actors, a slice to each.
- **Persistence** (``pw.persistence``): the caller checkpoints every actor's state through the
  persistence backend (``RayShards``, the layout of ``PersistentShards``) and on a restart
  sends each actor its shard, re-partitioned by key when the number of actors changed.

Run a program on Ray by setting ``REFLOW_RAY_ACTORS`` (``pw.run()`` reads it), or call
``run_on_ray`` with a function building the dataflow:

>>> RayConfig.from_env({"REFLOW_RAY_ACTORS": "2"})
RayConfig(actors=2, cpus_per_actor=1.0)
>>> RayConfig.from_env({}) is None
True
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
import time as clock
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import polars as pl

from reflow.engine.dataflow import grouped_inputs
from reflow.engine.operator import Operator
from reflow.engine.sharding import (
    WRITER,
    ShardedDataflow,
    StepsFromAllToAll,
    gather_shards,
    reshard_states,
    shards_of,
    share_of,
)
from reflow.plan.nodes import Lowering
from reflow.runtime.exchange import ExchangeError, decode_batch, encode_batch
from reflow.runtime.monitoring import WorkerStats
from reflow.runtime.sharded_streaming import WholeStates, refuse_deltas
from reflow.runtime.sources import LiveSource
from reflow.runtime.worker_config import RayConfig as RayConfig
from reflow.runtime.workers import build_for, static_batches

Build = Callable[[], Lowering]

logger = logging.getLogger("reflow")

#: Batches up to this size (bytes) travel inside the call to the receiving actor; larger ones
#: through the object store.
_INLINE_BYTES = 64 * 1024

#: Built as this worker, a dataflow's sinks open nothing: the actors' sinks never write.
_NO_WRITER = -1


@dataclass
class RayRunStats:
    """What a run on Ray measured: seconds per logical time (from starting it on every actor
    to the last actor returning) and the lag of the slowest actor behind the fastest, and per
    actor the rows its stateful operators processed and the rows and bytes it sent to other
    actors."""

    time_seconds: list[float] = field(default_factory=list)
    #: Per logical time, how long the fastest actor waited for the slowest (seconds).
    lag_seconds: list[float] = field(default_factory=list)
    rows_processed: list[int] = field(default_factory=list)
    rows_sent: list[int] = field(default_factory=list)
    bytes_sent: list[int] = field(default_factory=list)

    def per_time(self) -> tuple[float, float]:
        """Median and 99th percentile of the seconds per logical time."""
        import statistics  # (with fractions, which compiles a large regex: only here)

        times = sorted(self.time_seconds) or [0.0]
        p99 = times[min(len(times) - 1, round(0.99 * (len(times) - 1)))]
        return statistics.median(times), p99


class _Mailbox:
    """What the other workers sent this one, by exchange step."""

    def __init__(self) -> None:
        self._ready = threading.Condition()
        self._got: dict[int, dict[int, tuple[Any, bool]]] = {}
        #: Seconds spent waiting for the other workers' batches.
        self.waited = 0.0

    def put(self, step: int, sender: int, payload: Any, flag: bool) -> None:
        with self._ready:
            self._got.setdefault(step, {})[sender] = (payload, flag)
            self._ready.notify_all()

    def take(self, step: int, senders: int, timeout: float) -> dict[int, tuple[Any, bool]]:
        started = clock.monotonic()
        deadline = started + timeout
        with self._ready:
            while len(self._got.get(step, ())) < senders:
                left = deadline - clock.monotonic()
                if left <= 0:
                    raise ExchangeError(
                        f"exchange step {step}: only {len(self._got.get(step, ()))} of "
                        f"{senders} workers sent their batch within {timeout:.0f} s "
                        "(did an actor fail?)"
                    )
                self._ready.wait(left)
            self.waited += clock.monotonic() - started
            return self._got.pop(step, {})


class RayExchange(StepsFromAllToAll):
    """The exchange of worker ``worker`` among Ray actors (``peers``, in worker order)."""

    def __init__(self, worker: int, peers: Sequence[Any], mailbox: _Mailbox,
                 timeout: float = 600.0) -> None:
        self.worker = worker
        self.workers = len(peers)
        self.bytes_sent = 0
        self._peers = peers
        self._mailbox = mailbox
        self._timeout = timeout
        self._step = 0

    def all_to_all(
        self, parts: Sequence[pl.DataFrame | None], flag: bool
    ) -> tuple[list[pl.DataFrame | None], bool]:
        import ray

        step, self._step = self._step, self._step + 1
        for peer, handle in enumerate(self._peers):
            if peer == self.worker:
                continue
            part = parts[peer]
            payload: Any = None
            if part is not None:
                data = encode_batch(part)
                self.bytes_sent += len(data)
                # A small batch rides in the call itself (Ray inlines small arguments); a
                # large one goes to the object store, and its reference travels inside a list
                # so that Ray hands it over unresolved: the receiver fetches it.
                payload = data if len(data) <= _INLINE_BYTES else [ray.put(data)]
            handle.deliver.remote(step, self.worker, payload, flag)
        got: list[pl.DataFrame | None] = [None] * self.workers
        got[self.worker] = parts[self.worker]
        anyone = flag
        for sender, (payload, peer_flag) in self._mailbox.take(
            step, self.workers - 1, self._timeout
        ).items():
            if isinstance(payload, list):
                payload = ray.get(payload[0])
            got[sender] = None if payload is None else decode_batch(payload)
            anyone = anyone or peer_flag
        return got, anyone


class _Shard:
    """The body of a shard actor (``ShardActor`` is this class made a Ray actor)."""

    def __init__(self, worker: int, workers: int) -> None:
        self.worker = worker
        self.workers = workers
        self.mailbox = _Mailbox()
        self.shard: ShardedDataflow | None = None
        self.by_time: dict[int, list[tuple[Operator, pl.DataFrame]]] = {}
        self.sunk: list[tuple] = []

    def setup(self, build: Build, peers: list[Any], live: bool = False) -> tuple[list[int], int]:
        """Build the dataflow and join the others; the logical times of the static inputs
        and the number of sinks. In a ``live`` run the coordinator sends every input row."""
        lowering = build_for(_NO_WRITER, build)
        exchange = RayExchange(self.worker, peers, self.mailbox)
        self.shard = ShardedDataflow(lowering.dataflow, self.worker, self.workers, exchange)
        self.by_time = {} if live else static_batches(lowering)
        if self.worker == WRITER:
            for index, output in enumerate(lowering.dataflow.outputs):
                self._capture(index, output)
        return sorted(self.by_time), len(lowering.dataflow.outputs)

    def _capture(self, index: int, output: Any) -> None:
        sunk = self.sunk
        output.on_time = lambda t, delta: sunk.append(("time", index, t, encode_batch(delta)))
        output.on_time_end = lambda t: sunk.append(("end", index, t))
        output.on_end = lambda: sunk.append(("finish", index))

    def deliver(self, step: int, sender: int, payload: Any, flag: bool) -> None:
        self.mailbox.put(step, sender, payload, flag)

    def run_time(
        self, time: int, sent: dict[int, bytes] | None = None, errors: list | None = None
    ) -> tuple[list[tuple], float, int, int]:
        """Run this shard's rows of ``time``: its share of the static inputs, or in a live run
        the batches the coordinator ``sent`` (by input operator index) and the input
        ``errors`` it read. Returns what the sinks received (actor 0 only), the seconds this
        actor spent computing (not waiting in exchanges), and its rows processed and sent so
        far."""
        assert self.shard is not None
        start, waited = clock.perf_counter(), self.mailbox.waited
        if sent is not None:
            operators = self.shard.dataflow.operators
            inputs = {operators[index]: decode_batch(data) for index, data in sent.items()}
            self.shard.dataflow.ctx.errors.extend(errors or [])
        else:
            inputs = {op: self.shard.own_rows(batch)
                      for op, batch in grouped_inputs(self.by_time.get(time, [])).items()}
        self.shard.run_time(time, inputs)
        sunk, self.sunk[:] = list(self.sunk), []
        busy = clock.perf_counter() - start - (self.mailbox.waited - waited)
        return sunk, busy, self.shard.rows_processed, self.shard.rows_sent

    def snapshot(self) -> bytes:
        """This shard's state after the last completed time (``ShardedDataflow.snapshot``)."""
        assert self.shard is not None
        return self.shard.snapshot()

    def restore(self, data: bytes) -> None:
        assert self.shard is not None
        self.shard.restore(data)

    def snapshot_states(self, indices: list[int]) -> dict[int, bytes]:
        """This shard's state of the stateful operators at ``indices`` (for a checkpoint on
        storage, ``ShardedDataflow.snapshot_states``)."""
        assert self.shard is not None
        return self.shard.snapshot_states(indices)

    def restore_states(self, states: dict[int, bytes], last_time: int | None) -> None:
        assert self.shard is not None
        self.shard.restore_states(states, last_time)

    def finish(self) -> list[tuple]:
        assert self.shard is not None
        self.shard.finish()
        sunk, self.sunk[:] = list(self.sunk), []
        return sunk

    def stats(self) -> tuple[int, int, int]:
        """Rows processed by stateful operators, rows and bytes sent to other actors."""
        assert self.shard is not None
        exchange = self.shard.exchange
        return (self.shard.rows_processed, self.shard.rows_sent,
                getattr(exchange, "bytes_sent", 0))


def _replay(outputs: Sequence[Any], sunk: list[tuple]) -> None:
    """Hand what actor 0's sinks received to the real sinks, in the same order."""
    for event in sunk:
        if event[0] == "time":
            _, index, time, data = event
            delta = decode_batch(data)
            if delta is not None:
                outputs[index].on_time(time, delta)
        elif event[0] == "end":
            _, index, time = event
            if outputs[index].on_time_end is not None:
                outputs[index].on_time_end(time)
        else:
            outputs[event[1]].finish()


def _unwrapped(error: BaseException) -> BaseException:
    """The user's exception inside a Ray task error (Ray wraps what an actor raised)."""
    cause = getattr(error, "cause", None)
    return cause if isinstance(cause, BaseException) else error


class RayActors:
    """The actors of one run and the coordinator's side of it: this process's dataflow (whose
    sinks write and whose live sources are read here) and one ``ShardActor`` per shard.

    Use it as a context manager: entering starts a local Ray cluster when none is connected
    and builds the dataflow on every actor; leaving kills the actors (and stops the cluster
    it started). An exception raised in an actor is re-raised as itself.

    **A dead actor** (its process or node gone) is replaced: every actor is restarted from the
    last checkpoint, the logical times run since then are run again with their sink output
    dropped (the sinks had it already), and the run goes on, so the sinks see every time once.
    A checkpoint is every actor's ``ShardedDataflow.snapshot()``, taken between two times at
    most every ``REFLOW_RAY_CHECKPOINT_SECONDS`` (default 10) and kept in Ray's object store;
    until the first one, recovery runs again from the first time. After
    ``REFLOW_RAY_MAX_RECOVERIES`` (default 3) replacements the run fails with
    ``ExchangeError``.
    """

    def __init__(self, build: Build, actors: int, cpus_per_actor: float = 1.0,
                 live: bool = False) -> None:
        self.build = build
        self.actors = actors
        self.cpus_per_actor = cpus_per_actor
        self.live = live
        self.lowering = build_for(WRITER, build)
        self.outputs = list(self.lowering.dataflow.outputs)
        self.handles: list[Any] = []
        self.times: list[int] = []
        self.stats = RayRunStats()
        self.checkpoint_seconds = float(os.environ.get("REFLOW_RAY_CHECKPOINT_SECONDS") or 10)
        self.max_recoveries = int(os.environ.get("REFLOW_RAY_MAX_RECOVERIES") or 3)
        self.recoveries = 0
        self._started_ray = False
        self._build_ref: Any = None
        #: Every actor's snapshot (object references), and the times run since it.
        self._checkpoint: list[Any] | None = None
        self._checkpointed_at = clock.monotonic()
        self._log: list[tuple[int, list[dict[int, bytes]] | None, list | None]] = []

    def __enter__(self) -> RayActors:
        if "ray" not in sys.modules and "usearch" in sys.modules:
            raise RuntimeError(
                "Ray cannot start in this process: usearch was imported before Ray, and its "
                "NumKong library's C++ runtime symbols make ray.init abort; import ray before "
                "usearch (reflow's own usearch indexes do so when Ray is installed)"
            )
        import ray

        if not ray.is_initialized():
            ray.init(address=os.environ.get("RAY_ADDRESS") or None,
                     num_cpus=None if os.environ.get("RAY_ADDRESS") else max(self.actors, 1),
                     include_dashboard=False, log_to_driver=False, configure_logging=False)
            self._started_ray = True
        try:
            with self.errors(), _detached_sources(self.lowering):
                self._build_ref = ray.put(self.build)
                built = self._start_actors()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        if any(sinks != len(self.outputs) for _, sinks in built):
            self.__exit__(None, None, None)
            raise ValueError(
                f"the dataflow built on the Ray actors has {built[0][1]} sinks, the one built "
                f"here {len(self.outputs)}: the build function must not depend on state of "
                "this process (build the list of outputs before sending it)"
            )
        self.times = sorted({time for times, _ in built for time in times})
        return self

    def __exit__(self, *exc: object) -> None:
        import ray

        self._kill_actors()
        if self._started_ray:
            ray.shutdown()
            self._started_ray = False

    def _start_actors(self) -> list[tuple[list[int], int]]:
        import ray

        # Threaded actors: ``deliver`` calls from the others run while ``run_time`` waits.
        options: dict[str, Any] = {"num_cpus": self.cpus_per_actor,
                                   "max_concurrency": max(4, self.actors + 2)}
        actor_class: Any = ray.remote(**options)(_Shard)
        self.handles = [actor_class.remote(w, self.actors) for w in range(self.actors)]
        return _get_all([h.setup.remote(self._build_ref, self.handles, self.live)
                         for h in self.handles])

    def _kill_actors(self) -> None:
        import ray

        for handle in self.handles:
            ray.kill(handle)
        self.handles = []

    @contextlib.contextmanager
    def errors(self) -> Iterator[None]:
        """Ray's exceptions as reflow's."""
        import ray

        try:
            yield
        except ray.exceptions.RayTaskError as error:
            raise _unwrapped(error) from None
        except ray.exceptions.RayActorError as error:
            raise ExchangeError(f"a Ray actor of the run died: {error}") from None
        except ray.exceptions.RayError as error:
            raise ExchangeError(f"Ray could not run the program's actors: {error}") from None

    def _surviving(self, call: Callable[[], Any]) -> Any:
        """``call()``, replacing the actors from the last checkpoint whenever one dies."""
        import ray

        while True:
            with self.errors():
                try:
                    return call()
                except ray.exceptions.RayActorError as error:
                    self._recover(error)

    def _recover(self, error: BaseException) -> None:
        import ray

        while True:
            if self.recoveries >= self.max_recoveries:
                raise ExchangeError(f"a Ray actor of the run died ({self.recoveries} replaced "
                                    f"already, REFLOW_RAY_MAX_RECOVERIES): {error}") from None
            self.recoveries += 1
            logger.warning("a Ray actor died; restarting the %d actors from the %s and "
                           "running %d logical times again: %s", self.actors,
                           "last checkpoint" if self._checkpoint else "start", len(self._log),
                           (str(error).splitlines() or [type(error).__name__])[0])
            self._kill_actors()
            try:
                self._start_actors()
                if self._checkpoint is not None:
                    _get_all([h.restore.remote(ref)
                              for h, ref in zip(self.handles, self._checkpoint, strict=True)])
                for time, sent, errors in self._log:
                    self._call_actors(time, sent, errors)  # the sinks had these times already
                return
            except ray.exceptions.RayActorError as again:
                error = again

    def _call_actors(self, time: int, sent: list[dict[int, bytes]] | None,
                     errors: list | None) -> list[tuple[list[tuple], float, int, int]]:

        return _get_all([
            h.run_time.remote(time, None if sent is None else sent[w],
                              errors if w == WRITER else None)
            for w, h in enumerate(self.handles)
        ])

    def _checkpoint_if_due(self, now: bool = False) -> None:
        import ray

        if not now and clock.monotonic() - self._checkpointed_at < self.checkpoint_seconds:
            return
        refs = [h.snapshot.remote() for h in self.handles]
        ray.wait(refs, num_returns=len(refs), fetch_local=False)
        ray.get(refs[0])  # raises here if taking a snapshot failed
        self._checkpoint, self._log = refs, []
        self._checkpointed_at = clock.monotonic()

    def run_time(self, time: int, sent: list[dict[int, bytes]] | None = None,
                 errors: list | None = None) -> list[tuple[float, int, int]]:
        """Run logical ``time`` on every actor (with the batches ``sent[w]`` to actor ``w`` in
        a live run), then hand what the sinks received to this process's sinks. Returns, per
        actor, the seconds it computed and its rows processed and sent so far."""
        start = clock.perf_counter()
        done = self._surviving(lambda: self._call_actors(time, sent, errors))
        self._log.append((time, sent, errors))
        self.stats.time_seconds.append(clock.perf_counter() - start)
        busy = [seconds for _, seconds, _, _ in done]
        self.stats.lag_seconds.append(max(busy) - min(busy))
        _replay(self.outputs, done[WRITER][0])
        self._surviving(self._checkpoint_if_due)
        return [(seconds, processed, rows) for _, seconds, processed, rows in done]

    def snapshot_states(self, indices: list[int]) -> list[dict[int, bytes]]:
        """Every actor's state of the stateful operators at ``indices``, in actor order."""
        return cast("list[dict[int, bytes]]", self._surviving(
            lambda: _get_all([h.snapshot_states.remote(indices) for h in self.handles])))

    def restore_states(self, states: Sequence[Mapping[int, bytes]],
                       last_time: int | None) -> None:
        """Load ``states[w]`` (``snapshot_states`` of actor ``w`` of a run with as many
        actors) into each actor before the first time, then keep it as the in-memory
        checkpoint a replaced actor restarts from."""
        with self.errors():
            _get_all([h.restore_states.remote(dict(part), last_time)
                      for h, part in zip(self.handles, states, strict=True)])
        self._surviving(lambda: self._checkpoint_if_due(now=True))

    def finish(self) -> None:
        """Release what operators hold until the end of input, end the sinks and collect the
        per-actor counters."""

        def finish_all() -> tuple[list, list]:
            sunk = _get_all([h.finish.remote() for h in self.handles])
            return sunk, _get_all([h.stats.remote() for h in self.handles])

        sunk, counters = self._surviving(finish_all)
        _replay(self.outputs, sunk[WRITER])
        for processed, rows, sent in counters:
            self.stats.rows_processed.append(processed)
            self.stats.rows_sent.append(rows)
            self.stats.bytes_sent.append(sent)
        logger.info("ray run: %d actors, %d times; rows processed %s, rows sent %s, bytes sent "
                    "%s; per time median %.4f s, p99 %.4f s; slowest actor behind the fastest "
                    "by %.4f s at most", self.actors, len(self.stats.time_seconds),
                    self.stats.rows_processed, self.stats.rows_sent, self.stats.bytes_sent,
                    *self.stats.per_time(), max(self.stats.lag_seconds, default=0.0))


def _get_all(refs: list[Any]) -> list[Any]:
    """The results of ``refs``, raising the first failure as soon as it happens (``ray.get``
    of a list would first wait for the actors blocked on the one that failed)."""
    import ray

    pending = list(refs)
    while pending:
        ready, pending = ray.wait(pending, num_returns=1)
        ray.get(ready)
    return ray.get(refs)


def run_on_ray(build: Build, actors: int, cpus_per_actor: float = 1.0) -> RayRunStats:
    """Run the static dataflow ``build()`` makes on ``actors`` Ray actors; its sinks write in
    this process. Starts a local Ray cluster when none is connected (and stops it after).

    Each logical time of the static inputs is started on every actor and complete when all
    have returned; the returned ``RayRunStats`` has the seconds each took.
    """
    with RayActors(build, actors, cpus_per_actor) as run:
        for time in run.times or [0]:
            run.run_time(time)
        run.finish()
    return run.stats


class RayCoordinator:
    """The dataflow the streaming loop drives in a live run on Ray: each logical time's input
    batches are sliced among the actors, which run the time together; what actor 0's
    sinks received is written by this process's sinks. Everything else (``ctx``, ``outputs``)
    is this process's own dataflow, which runs no operator."""

    def __init__(self, run: RayActors) -> None:
        self.run = run
        self.last_time: int | None = None
        #: The status display, shown the actors' counters (``reflow.runtime.monitoring``).
        self.monitor: Any = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.run.lowering.dataflow, name)

    def run_batches(
        self, time: int, batches: Iterable[tuple[Operator, pl.DataFrame | None]]
    ) -> None:
        sent: list[dict[int, bytes]] = [{} for _ in range(self.run.actors)]
        for operator, batch in grouped_inputs(batches).items():
            if batch is None or not batch.height:
                continue
            for worker in range(self.run.actors):
                share = share_of(batch, worker, self.run.actors)
                if share.height:
                    sent[worker][operator.index] = encode_batch(share)
        ctx = self.run.lowering.dataflow.ctx
        errors, ctx.errors = ctx.errors, []
        self.last_time = time
        actors = self.run.run_time(time, sent, errors)
        if self.monitor is not None:
            self.monitor.workers = [WorkerStats(w, processed, rows, seconds * 1000)
                                    for w, (seconds, processed, rows) in enumerate(actors)]

    def finish(self) -> None:
        self.run.finish()

    @property
    def persistent_states(self) -> RayShards:
        """Every actor's state, as ``PersistentRun`` saves and restores a dataflow's."""
        return RayShards(self)


class RayShards(WholeStates):
    """The state of every actor of a run, seen by ``PersistentRun`` as one dataflow's, as
    ``reflow.runtime.sharded_streaming.PersistentShards`` for threads and processes (same
    checkpoint layout and fingerprint): the state of stateful operator ``i`` is the list of
    its states on each actor. The coordinator gathers them for a checkpoint on storage and
    sends each actor its own on a restart; the coordinator's own dataflow never runs."""

    def __init__(self, coordinator: RayCoordinator) -> None:
        self.coordinator = coordinator
        self.run = coordinator.run
        self.dataflow = coordinator.run.lowering.dataflow
        self.workers = coordinator.run.actors

    @property
    def last_time(self) -> int | None:
        return self.coordinator.last_time

    def snapshot_states(self, indices: Iterable[int]) -> dict[int, bytes]:
        wanted = list(indices)
        shards = self.run.snapshot_states(wanted)
        return {index: gather_shards([shard[index] for shard in shards]) for index in wanted}

    def restore_states(
        self, states: Mapping[int, bytes], last_time: int | None,
        deltas: Mapping[int, Sequence[bytes]] | None = None,
    ) -> None:
        refuse_deltas(deltas)
        shards = reshard_states(self.dataflow.operators,
                                {index: shards_of(blob) for index, blob in states.items()},
                                self.run.actors)
        self.run.restore_states(
            [{index: parts[w] for index, parts in shards.items()}
             for w in range(self.run.actors)], last_time)
        self.coordinator.last_time = last_time


def run_live_on_ray(
    build: Build, actors: int, cpus_per_actor: float, lead: Callable[[Lowering, Any], None]
) -> RayRunStats:
    """Run a program with live sources on ``actors`` Ray actors: this process reads the
    sources and runs the streaming loop, ``lead(lowering, dataflow)``, over a
    ``RayCoordinator``; the actors run the operators."""
    with RayActors(build, actors, cpus_per_actor, live=True) as run:
        lead(run.lowering, RayCoordinator(run))
    return run.stats


@contextlib.contextmanager
def _detached_sources(lowering: Lowering) -> Iterator[None]:
    """While the program is sent to the actors, its live sources travel as ``DetachedSource``
    placeholders: they are read in this process only (and often hold threads or sockets
    that cannot be pickled)."""
    import ray.util

    kinds = {type(source) for _, source in lowering.inputs if isinstance(source, LiveSource)}
    for kind in kinds:
        ray.util.register_serializer(
            kind, serializer=lambda source: source.name, deserializer=DetachedSource
        )
    try:
        yield
    finally:
        for kind in kinds:
            ray.util.deregister_serializer(kind)


class DetachedSource(LiveSource):
    """A live source's stand-in on a Ray actor: the coordinator reads the real one."""

    def __init__(self, name: str) -> None:
        self.name = name

    def start(self, handle: Any) -> None:
        raise RuntimeError(f"{self.name} is read by the coordinator, not by a Ray actor")
