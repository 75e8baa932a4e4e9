"""Running a static dataflow on Ray: the shards of ``reflow.engine.sharding`` as Ray Core
actors, batches between them through Ray's object store, the calling process as the
coordinator driving logical times and as the one writer of every sink.

- **Actors.** Each actor (``ShardActor``) builds the same dataflow from the program's plan
  (sent to it pickled), keeps its share of the static inputs (rows split by row id) and runs
  one shard. Ray places the actors on the nodes of the cluster (``ray.init()`` starts a local
  one, ``RAY_ADDRESS`` names an existing one).
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

Run a program on Ray by setting ``REFLOW_RAY_ACTORS`` (``pw.run()`` reads it), or call
``run_on_ray`` with a function building the dataflow:

>>> RayConfig.from_env({"REFLOW_RAY_ACTORS": "2"})
RayConfig(actors=2, cpus_per_actor=1.0)
>>> RayConfig.from_env({}) is None
True
"""

from __future__ import annotations

import logging
import os
import statistics
import threading
import time as clock
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from reflow.engine.batch import concat_batches
from reflow.engine.operator import Operator
from reflow.engine.sharding import WRITER, ShardedDataflow
from reflow.plan.nodes import Lowering
from reflow.runtime.exchange import ExchangeError, decode_batch, encode_batch
from reflow.runtime.workers import build_for, static_batches

Build = Callable[[], Lowering]

logger = logging.getLogger("reflow")

#: Batches up to this size (bytes) travel inside the call to the receiving actor; larger ones
#: through the object store.
_INLINE_BYTES = 64 * 1024

#: Built as this worker, a dataflow's sinks open nothing: the actors' sinks never write.
_NO_WRITER = -1


@dataclass(frozen=True)
class RayConfig:
    """How many Ray actors run a program (``REFLOW_RAY_ACTORS``) and the CPUs each reserves
    (``REFLOW_RAY_CPUS_PER_ACTOR``, default 1)."""

    actors: int
    cpus_per_actor: float = 1.0

    @staticmethod
    def from_env(env: Mapping[str, str] | None = None) -> RayConfig | None:
        """The configuration in the environment, or ``None`` when ``REFLOW_RAY_ACTORS`` is
        not set."""
        env = os.environ if env is None else env
        text = env.get("REFLOW_RAY_ACTORS", "").strip()
        if not text:
            return None
        try:
            actors = int(text)
            cpus = float(env.get("REFLOW_RAY_CPUS_PER_ACTOR", "").strip() or 1.0)
        except ValueError:
            raise ValueError(
                "REFLOW_RAY_ACTORS must be an integer and REFLOW_RAY_CPUS_PER_ACTOR a number, "
                f"not {text!r} / {env.get('REFLOW_RAY_CPUS_PER_ACTOR')!r}"
            ) from None
        if actors < 1:
            raise ValueError(f"REFLOW_RAY_ACTORS must be at least 1, not {actors}")
        if cpus < 0:
            raise ValueError(f"REFLOW_RAY_CPUS_PER_ACTOR must not be negative, not {cpus}")
        return RayConfig(actors, cpus)


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


class RayExchange:
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

    def setup(self, build: Build, peers: list[Any]) -> tuple[list[int], int]:
        """Build the dataflow and join the others; the logical times of the static inputs
        and the number of sinks."""
        lowering = build_for(_NO_WRITER, build)
        exchange = RayExchange(self.worker, peers, self.mailbox)
        self.shard = ShardedDataflow(lowering.dataflow, self.worker, self.workers, exchange)
        self.by_time = static_batches(lowering)
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

    def run_time(self, time: int) -> tuple[list[tuple], float]:
        """Run this shard's rows of ``time``; what the sinks received (actor 0 only) and the
        seconds this actor spent computing (not waiting in exchanges)."""
        assert self.shard is not None
        start, waited = clock.perf_counter(), self.mailbox.waited
        grouped: dict[Operator, list[pl.DataFrame]] = {}
        for operator, batch in self.by_time.get(time, []):
            grouped.setdefault(operator, []).append(batch)
        self.shard.run_time(time, {
            op: self.shard.own_rows(concat_batches(parts)) for op, parts in grouped.items()
        })
        sunk, self.sunk[:] = list(self.sunk), []
        return sunk, clock.perf_counter() - start - (self.mailbox.waited - waited)

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


def run_on_ray(build: Build, actors: int, cpus_per_actor: float = 1.0) -> RayRunStats:
    """Run the static dataflow ``build()`` makes on ``actors`` Ray actors; its sinks write in
    this process. Starts a local Ray cluster when none is connected (and stops it after).

    Each logical time of the static inputs is started on every actor and complete when all
    have returned; the returned ``RayRunStats`` has the seconds each took.
    """
    import ray

    started = False
    if not ray.is_initialized():
        ray.init(address=os.environ.get("RAY_ADDRESS") or None,
                 num_cpus=None if os.environ.get("RAY_ADDRESS") else max(actors, 1),
                 include_dashboard=False, log_to_driver=False, configure_logging=False)
        started = True
    lowering = build_for(WRITER, build)
    outputs = list(lowering.dataflow.outputs)
    # Threaded actors: ``deliver`` calls from the others run while ``run_time`` waits.
    options: dict[str, Any] = {"num_cpus": cpus_per_actor, "max_concurrency": max(4, actors + 2)}
    actor_class: Any = ray.remote(**options)(_Shard)
    handles: list[Any] = [actor_class.remote(w, actors) for w in range(actors)]
    stats = RayRunStats()
    try:
        try:
            build_ref = ray.put(build)
            built = ray.get([h.setup.remote(build_ref, handles) for h in handles])
            if any(sinks != len(outputs) for _, sinks in built):
                raise ValueError(
                    f"the dataflow built on the Ray actors has {built[0][1]} sinks, the one "
                    f"built here {len(outputs)}: the build function must not depend on state "
                    "of this process (build the list of outputs before sending it)"
                )
            times = {time for times, _ in built for time in times}
            for time in sorted(times) or [0]:
                start = clock.perf_counter()
                done = ray.get([h.run_time.remote(time) for h in handles])
                stats.time_seconds.append(clock.perf_counter() - start)
                busy = [seconds for _, seconds in done]
                stats.lag_seconds.append(max(busy) - min(busy))
                _replay(outputs, done[WRITER][0])
            sunk = ray.get([h.finish.remote() for h in handles])
            _replay(outputs, sunk[WRITER])
            for processed, rows, sent in ray.get([h.stats.remote() for h in handles]):
                stats.rows_processed.append(processed)
                stats.rows_sent.append(rows)
                stats.bytes_sent.append(sent)
            logger.info("ray run: %d actors, %d times; rows processed %s, rows sent %s, "
                        "bytes sent %s; per time median %.4f s, p99 %.4f s; slowest actor "
                        "behind the fastest by %.4f s at most", actors, len(stats.time_seconds),
                        stats.rows_processed, stats.rows_sent, stats.bytes_sent,
                        *stats.per_time(), max(stats.lag_seconds, default=0.0))
        except ray.exceptions.RayTaskError as error:
            raise _unwrapped(error) from None
        except ray.exceptions.RayActorError as error:
            raise ExchangeError(f"a Ray actor of the run died: {error}") from None
        except ray.exceptions.RayError as error:
            raise ExchangeError(f"Ray could not run the program's actors: {error}") from None
    finally:
        for handle in handles:
            ray.kill(handle)
        if started:
            ray.shutdown()
    return stats
