"""Live sources on several workers.

Worker 0 (the *leader*) reads every live source and runs the streaming loop
(``reflow.runtime.streaming``). Before each logical time it tells the other workers (the
*followers*) which time comes next, in one exchange step; then every worker runs that time
together (``reflow.engine.sharding.ShardedDataflow``): the leader's rows go to the workers that
own their keys at the first stateful operator, and sinks write through worker 0 as in a static
sharded run. When the sources close the leader announces the end and every worker finishes.

The followers answer each announcement with their counters (rows processed, rows sent, the
time their last logical time took), so the leader's status display and ``/metrics`` show
every worker, one logical time late.

>>> announcement(7)["time"].to_list(), announcement(None)["time"].to_list()
([7], [None])
"""

from __future__ import annotations

import functools
import time as clock
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import polars as pl

from reflow.engine.dataflow import grouped_inputs
from reflow.engine.operator import Operator
from reflow.engine.sharding import ShardedDataflow
from reflow.plan.nodes import Lowering
from reflow.runtime.monitoring import WorkerStats
from reflow.runtime.workers import Build, WorkerConfig, run_workers

if TYPE_CHECKING:
    from reflow.runtime.monitoring import Monitor

#: The worker that reads the live sources and drives the logical times.
LEADER = 0


def announcement(time: int | None) -> pl.DataFrame:
    """The leader's message to the followers: the next logical time, or None for the end."""
    return pl.DataFrame({"time": [time]}, schema={"time": pl.Int64})


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

    def __init__(self, shard: ShardedDataflow, monitor: Monitor | None = None) -> None:
        self.shard = shard
        self.monitor = monitor
        self.stats = [WorkerStats(w) for w in range(shard.workers)]

    def __getattr__(self, name: str) -> Any:
        return getattr(self.shard.dataflow, name)

    def run_batches(
        self, time: int, batches: Iterable[tuple[Operator, pl.DataFrame | None]]
    ) -> None:
        inputs = grouped_inputs(batches)
        self._announce(time)
        _timed_run(self.shard, self.stats[LEADER], lambda: self.shard.run_time(time, inputs))
        self._publish()

    def finish(self) -> None:
        self._announce(None)
        self.shard.finish()

    def _announce(self, time: int | None) -> None:
        message = announcement(time)
        parts = [None if w == LEADER else message for w in range(self.shard.workers)]
        replies, _ = self.shard.exchange.all_to_all(parts, False)
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


def follow(shard: ShardedDataflow) -> None:
    """A follower's loop: run each logical time the leader announces, until the end."""
    stats = WorkerStats(shard.worker)
    while True:
        parts = [stats_frame(stats) if w == LEADER else None for w in range(shard.workers)]
        got, _ = shard.exchange.all_to_all(parts, False)
        message = got[LEADER]
        time = None if message is None else message["time"][0]
        if time is None:
            shard.finish()
            return
        _timed_run(shard, stats, functools.partial(shard.run_time, time, {}))


def run_streaming_sharded(
    build: Build,
    config: WorkerConfig,
    lead: Callable[[Lowering, LeadingShard], None],
) -> None:
    """Run a program with live sources on ``config.workers`` workers: ``lead(lowering,
    dataflow)`` runs the streaming loop of worker 0 over ``dataflow``; the other workers (the
    threads started here, or the other processes of a spawn) follow it."""

    def work(worker: int, shard: ShardedDataflow, lowering: Lowering) -> None:
        if worker == LEADER:
            lead(lowering, LeadingShard(shard))
        else:
            follow(shard)

    run_workers(build, config, work)
