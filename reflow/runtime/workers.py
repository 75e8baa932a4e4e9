"""Running a dataflow on several workers: threads (``PATHWAY_THREADS``) or processes
(``PATHWAY_PROCESSES``, started by ``reflow spawn``), with the environment variables Pathway
uses.

Each worker builds the same dataflow from the program's plan, reads its share of the static
inputs (a contiguous slice of each batch; a ``pw.debug.table_from_pandas`` table converts
only that slice) and runs the logical times in lockstep with the others
(``reflow.engine.sharding``). Sinks write through worker 0 only.

How many workers run is ``WorkerConfig`` (``reflow.runtime.worker_config``). Sinks ask
``building_writer`` while a dataflow is built, so this module loads the exchange and the
sharded dataflow only when several workers run.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

import polars as pl

from reflow.engine.dataflow import grouped_inputs
from reflow.engine.operator import Operator
from reflow.engine.shares import WRITER
from reflow.plan.nodes import Lowering
from reflow.runtime.sources import ErrorLogSource, StaticSource
from reflow.runtime.worker_config import WorkerConfig as WorkerConfig

if TYPE_CHECKING:
    from reflow.engine.sharding import ShardedDataflow

logger = logging.getLogger("reflow")

_building = threading.local()


def building_writer() -> bool:
    """True unless a dataflow is being built for a worker other than the writer: sinks
    create their files and connections only in the writer."""
    return getattr(_building, "worker", WRITER) == WRITER


Build = Callable[[], Lowering]


def build_for(worker: int, build: Build) -> Lowering:
    """``build()`` for ``worker``, telling sinks whether they are the writer."""
    _building.worker = worker
    try:
        return build()
    finally:
        _building.worker = WRITER


def static_batches(
    lowering: Lowering, worker: int = 0, workers: int = 1
) -> dict[int, list[tuple[Operator, pl.DataFrame]]]:
    """The batches of every static source, by logical time: worker ``worker``'s share of
    them among ``workers`` (``StaticSource.share``; a deferred source builds only that)."""
    by_time: dict[int, list[tuple[Operator, pl.DataFrame]]] = {}
    for operator, source in lowering.inputs:
        if isinstance(source, StaticSource):
            for time, batch in source.share(worker, workers):
                by_time.setdefault(time, []).append((operator, batch))
        elif not isinstance(source, ErrorLogSource):
            raise TypeError(f"source {source!r} cannot be run statically")
    return by_time


def run_shard(shard: ShardedDataflow, lowering: Lowering) -> None:
    """Run this worker's share of every static input, time by time, then finish."""
    by_time = static_batches(lowering, shard.worker, shard.workers)
    for time in sorted(by_time) or [0]:
        shard.run_time(time, grouped_inputs(by_time.get(time, [])))
    shard.finish()


#: What a worker does with its shard of the dataflow: ``work(worker, shard, lowering)``.
Work = Callable[[int, "ShardedDataflow", Lowering], None]


def _run_static(worker: int, shard: ShardedDataflow, lowering: Lowering) -> None:
    run_shard(shard, lowering)


def run_static_sharded(build: Build, config: WorkerConfig) -> list[ShardedDataflow]:
    """Run a static program on ``config.workers`` workers; returns this process's shards."""
    return run_workers(build, config, _run_static)


def run_workers(build: Build, config: WorkerConfig, work: Work) -> list[ShardedDataflow]:
    """Run ``work`` on each worker of this process (``config``: one of several processes
    connected by sockets, or threads) over its own build of the dataflow; returns this
    process's shards."""
    from reflow.engine.sharding import ShardedDataflow, SoloExchange
    from reflow.runtime.exchange import SocketExchange

    if config.processes > 1:
        worker = config.process_id
        lowering = build_for(worker, build)
        exchange = SocketExchange(worker, config.processes, config.first_port)
        try:
            shard = ShardedDataflow(lowering.dataflow, worker, config.processes, exchange)
            work(worker, shard, lowering)
        finally:
            exchange.close()
        return [shard]
    if config.threads == 1:
        lowering = build()
        shard = ShardedDataflow(lowering.dataflow, 0, 1, SoloExchange())
        work(0, shard, lowering)
        return [shard]
    return run_threads(build, config.threads, work)


def run_threads(build: Build, workers: int, work: Work = _run_static) -> list[ShardedDataflow]:
    """Run ``work(worker, shard, lowering)`` (by default a static program) on ``workers``
    threads of this process, the first in the calling thread; the first error of any worker
    is raised once all have stopped."""
    from reflow.engine.sharding import ShardedDataflow
    from reflow.runtime.exchange import ThreadExchange

    lowerings = [build_for(w, build) for w in range(workers)]
    exchanges = ThreadExchange.group(workers)
    shards = [
        ShardedDataflow(lowering.dataflow, w, workers, exchanges[w])
        for w, lowering in enumerate(lowerings)
    ]
    failures: list[BaseException] = []

    def run(w: int) -> None:
        try:
            work(w, shards[w], lowerings[w])
        except threading.BrokenBarrierError:
            pass  # another worker failed first; its error is reported
        except BaseException as error:  # noqa: BLE001 - handed to the caller below
            failures.append(error)
            exchanges[w].abort()

    threads = [threading.Thread(target=run, args=(w,), name=f"reflow-worker-{w}", daemon=True)
               for w in range(1, workers)]
    for thread in threads:
        thread.start()
    run(0)
    for thread in threads:
        thread.join()
    if failures:
        raise failures[0]
    return shards
