"""Turning a plan into a dataflow and running it over its sources."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import polars as pl

from reflow.engine.dataflow import Dataflow
from reflow.engine.operator import RunContext
from reflow.engine.operators.stateless import InputOperator, OutputOperator
from reflow.plan.nodes import InputNode, Lowering, PlanNode, live_nodes
from reflow.runtime.error_log import error_log_batch_builder
from reflow.runtime.futures import lower_future_selects
from reflow.runtime.sources import ErrorLogSource, StaticSource

if TYPE_CHECKING:
    from reflow.runtime.persistence.run import PersistenceSettings
    from reflow.runtime.worker_config import RayConfig, WorkerConfig

logger = logging.getLogger("reflow")


@dataclass
class OutputSpec:
    """A sink attached to a table: ``attach`` adds the sink operator after the table's operator."""

    node: PlanNode
    attach: Callable[[Lowering, object], OutputOperator]


_registered_outputs: list[OutputSpec] = []


def register_output(spec: OutputSpec) -> None:
    """Remember a sink so that ``pw.run()`` runs it."""
    _registered_outputs.append(spec)


def registered_outputs() -> list[OutputSpec]:
    return list(_registered_outputs)


def clear_outputs() -> None:
    _registered_outputs.clear()


def build(outputs: Sequence[OutputSpec], ctx: RunContext) -> Lowering:
    """Lower the plan behind ``outputs`` into one dataflow."""
    lowering = Lowering(Dataflow(ctx))
    needs_error_log = any(_reads_error_log(spec.node) for spec in outputs)
    if needs_error_log:
        # The log is global: it reports errors of every table of the program. Tables fed by
        # a live source (a file, a subject) that no output reads are left out: running them
        # would read that source again.
        used = {id(source) for node in (spec.node for spec in outputs)
                for source in _live_sources(node)}
        for node in live_nodes():
            if not _reads_error_log(node) and all(
                id(source) in used for source in _live_sources(node)
            ):
                lower_future_selects(lowering, [node])
                lowering.lower(node)
    lower_future_selects(lowering, [spec.node for spec in outputs])
    for spec in outputs:
        spec.attach(lowering, lowering.lower(spec.node))
    for operator, source in lowering.inputs:
        if isinstance(source, ErrorLogSource):
            lowering.dataflow.attach_error_log(
                operator, error_log_batch_builder(), source.scope
            )
    return lowering


def _live_sources(node: PlanNode) -> list[object]:
    """The sources of ``node``'s inputs that are neither static nor the error log."""
    found, stack, seen = [], [node], set()
    while stack:
        current = stack.pop()
        if current.node_id in seen:
            continue
        seen.add(current.node_id)
        if isinstance(current, InputNode) and not isinstance(
            current.source, (StaticSource, ErrorLogSource)
        ):
            found.append(current.source)
        stack.extend(current.inputs)
    return found


def _reads_error_log(node: PlanNode) -> bool:
    stack, seen = [node], set()
    while stack:
        current = stack.pop()
        if current.node_id in seen:
            continue
        seen.add(current.node_id)
        if isinstance(current, InputNode) and isinstance(current.source, ErrorLogSource):
            return True
        stack.extend(current.inputs)
    return False


def run_static(lowering: Lowering) -> None:
    """Feed every static source's batches in time order, then finish the sinks."""
    by_time: dict[int, list[tuple[InputOperator, pl.DataFrame]]] = {}
    for operator, source in lowering.inputs:
        if isinstance(source, StaticSource):
            for time, batch in source.batches:
                by_time.setdefault(time, []).append((operator, batch))
        elif not isinstance(source, ErrorLogSource):
            raise TypeError(f"source {source!r} cannot be run statically")
    dataflow = lowering.dataflow
    for time in sorted(by_time) or [0]:
        dataflow.run_batches(time, by_time.get(time, []))
    dataflow.finish()


def run_outputs(
    outputs: Sequence[OutputSpec],
    *,
    terminate_on_error: bool | None = None,
    monitoring_level: object = None,
    with_http_server: bool = False,
    persistence_config: PersistenceSettings | None = None,
    **run_options: object,
) -> None:
    """Build and run a dataflow for ``outputs``.

    ``terminate_on_error=None`` means True: the first run-time error stops the run and is
    raised as the exception Python raises for it. ``run_options`` are the other options of
    ``pw.run`` that change nothing here (``debug``, ``event_loop``, ...). With
    ``PATHWAY_THREADS`` / ``PATHWAY_PROCESSES`` above 1 a static program runs sharded over
    that many workers (``reflow.runtime.workers``); with ``REFLOW_RAY_ACTORS`` it runs on that
    many Ray actors (``reflow.runtime.ray_workers``). With ``persistence_config`` the run
    checkpoints its state and resumes from the last checkpoint (``reflow.persistence``).
    """
    from reflow.runtime.persistence.resume import set_udf_cache_directory
    from reflow.runtime.worker_config import RayConfig, WorkerConfig

    _check_run_options(run_options)
    terminate = True if terminate_on_error is None else bool(terminate_on_error)

    def new_context() -> RunContext:
        return RunContext(
            terminate_on_error=terminate, terminate_on_input_error=terminate_on_error is True
        )

    config = WorkerConfig.from_env()
    on_ray = RayConfig.from_env()
    several = on_ray is not None or config.workers > 1
    one_worker = _one_worker_reason(outputs)
    if several and one_worker is None:
        _run_sharded(outputs, new_context, config, on_ray, monitoring_level, with_http_server,
                     persistence_config)
        return
    if several:
        # The other workers have nothing to do.
        if on_ray is None and config.process_id != 0:
            logger.info("process %d: %s run on process 0 only", config.process_id, one_worker)
            return
        logger.warning("%s run on one worker: PATHWAY_THREADS/PROCESSES and "
                       "REFLOW_RAY_ACTORS are ignored", one_worker)
    ctx = new_context()
    backend_path = getattr(getattr(persistence_config, "backend", None), "path", None)
    set_udf_cache_directory(None if backend_path is None else f"{backend_path}/udf-cache")
    try:
        _run_outputs(outputs, ctx, monitoring_level, with_http_server, persistence_config)
    finally:
        set_udf_cache_directory(None)


def _run_outputs(
    outputs: Sequence[OutputSpec],
    ctx: RunContext,
    monitoring_level: object,
    with_http_server: bool,
    persistence_config: PersistenceSettings | None,
) -> None:
    persistence = None
    if persistence_config is not None and persistence_config.keeps_state:
        from reflow.runtime.persistence.run import PersistentRun

        persistence = PersistentRun(persistence_config)
        persistence.load()
    lowering = build(outputs, ctx)
    streaming = [s for _, s in lowering.inputs if not isinstance(s, (StaticSource, ErrorLogSource))]
    if streaming or with_http_server or persistence is not None:
        from reflow.runtime.monitoring import Monitor
        from reflow.runtime.streaming import run_streaming

        run_streaming(
            lowering, Monitor(monitoring_level, with_http_server), persistence  # type: ignore[arg-type]
        )
    else:
        run_static(lowering)


def _one_worker_reason(outputs: Sequence[OutputSpec]) -> str | None:
    """Why a program must run on one worker, or None: fully asynchronous UDFs deliver their
    results through a source of the worker that made the call, and only worker 0 runs
    sources."""
    from reflow.plan.future_nodes import ancestors, calls_fully_async
    from reflow.plan.nodes import SelectNode

    roots = [spec.node for spec in outputs]
    if any(_reads_error_log(root) for root in roots):
        roots += live_nodes()  # the error log runs the program's other tables too (``build``)
    for node in ancestors(roots):
        if isinstance(node, SelectNode) and calls_fully_async(node.outputs.values()):
            return "programs with fully asynchronous UDFs"
    return None


def _run_sharded(
    outputs: Sequence[OutputSpec],
    new_context: Callable[[], RunContext],
    config: WorkerConfig,
    on_ray: RayConfig | None,
    monitoring_level: object,
    with_http_server: bool,
    persistence_config: PersistenceSettings | None = None,
) -> None:
    """Run on several worker threads or processes (``reflow.runtime.workers``) or Ray actors
    (``reflow.runtime.ray_workers``). With live sources (or an HTTP server, or persistence)
    worker 0, or this process on Ray, reads them and drives the logical times, and every
    worker runs its shard of the operators (``reflow.runtime.sharded_streaming``); worker 0
    checkpoints every worker's shard."""
    from reflow.runtime.monitoring import Monitor
    from reflow.runtime.persistence.resume import set_udf_cache_directory
    from reflow.runtime.ray_workers import run_live_on_ray, run_on_ray
    from reflow.runtime.sharded_streaming import run_streaming_sharded
    from reflow.runtime.streaming import run_streaming
    from reflow.runtime.workers import run_static_sharded

    def start() -> Lowering:
        return build(outputs, new_context())

    persistence = None
    keeps_state = persistence_config is not None and persistence_config.keeps_state
    if persistence_config is not None:
        # UDF caches are kept by every worker (an SQLite file each UDF shares); the leader
        # checkpoints for every worker and reads the checkpoint before the dataflows are
        # built (sinks need their positions).
        backend_path = getattr(getattr(persistence_config, "backend", None), "path", None)
        set_udf_cache_directory(None if backend_path is None else f"{backend_path}/udf-cache")
        if keeps_state and config.process_id == 0:
            from reflow.runtime.persistence.run import PersistentRun

            persistence = PersistentRun(persistence_config)
            persistence.load()
    live = with_http_server or keeps_state or any(_live_sources(spec.node) for spec in outputs)
    if not live:
        if on_ray is not None:
            run_on_ray(start, on_ray.actors, on_ray.cpus_per_actor)
        else:
            run_static_sharded(start, config)
        return

    def lead(lowering: Lowering, dataflow: Any) -> None:
        monitor = Monitor(monitoring_level, with_http_server)  # type: ignore[arg-type]
        dataflow.monitor = monitor
        run_streaming(lowering, monitor, persistence, dataflow=dataflow)

    try:
        if on_ray is not None:
            run_live_on_ray(start, on_ray.actors, on_ray.cpus_per_actor, lead)
        else:
            # A persistent run's file sources resume from offsets naming every file read.
            run_streaming_sharded(start, config, lead, split_files=not keeps_state)
    finally:
        set_udf_cache_directory(None)


# Options of ``pw.run`` accepted for compatibility that change nothing in reflow: the
# expression batch size is chosen per batch, and async UDFs run on reflow's own loop.
_IGNORED_RUN_OPTIONS = frozenset(
    {
        "debug",
        "default_logging",
        "persistence_config",
        "runtime_typechecking",
        "license_key",
        "max_expression_batch_size",
        "event_loop",
        "udf_cache_directory",
        "_stacklevel",
    }
)


def _check_run_options(options: dict[str, object]) -> None:
    unknown = sorted(set(options) - _IGNORED_RUN_OPTIONS)
    if unknown:
        raise TypeError(f"unexpected keyword argument(s) {', '.join(map(repr, unknown))}")


def run(
    *,
    debug: bool = False,
    monitoring_level: object = None,
    with_http_server: bool = False,
    default_logging: bool = True,
    persistence_config: PersistenceSettings | None = None,
    runtime_typechecking: bool | None = None,
    terminate_on_error: bool | None = None,
    max_expression_batch_size: int = 1024,
    event_loop: object = None,
    udf_cache_directory: str | None = None,
    **kwargs: object,
) -> None:
    """Run every output registered with ``pw.io``: static inputs until read, streaming ones
    until stopped.

    Live sources run until all of them are exhausted, until ``reflow.runtime.streaming.stop()``
    is called, or until Ctrl-C / SIGTERM; in every case the rows already read reach the sinks
    and output files are flushed and closed. ``monitoring_level`` (a ``pw.MonitoringLevel``)
    controls the live status shown in the terminal; ``with_http_server=True`` serves Prometheus
    metrics at ``/metrics`` on the port in ``REFLOW_MONITORING_HTTP_PORT`` (default 20000).
    By default (``terminate_on_error=None``, meaning True) the first bad row or failing cell
    stops the run and raises the exception Python raises for it (``ZeroDivisionError`` for a
    division by zero, a UDF's own exception, ...); with ``terminate_on_error=False`` the cell
    becomes an error value, the error goes to ``pw.global_error_log()`` and the run goes on.

    >>> import reflow as pw
    >>> t = pw.debug.table_from_markdown('''
    ... x
    ... 1
    ... ''')
    >>> pw.io.subscribe(t, on_change=lambda key, row, time, is_addition: print(row, is_addition))
    >>> pw.run()
    {'x': 1} True
    """
    outputs = registered_outputs()
    clear_outputs()
    run_outputs(
        outputs,
        terminate_on_error=terminate_on_error,
        monitoring_level=monitoring_level,
        with_http_server=with_http_server,
        persistence_config=persistence_config,
    )


def run_all(
    *,
    debug: bool = False,
    monitoring_level: object = None,
    with_http_server: bool = False,
    default_logging: bool = True,
    persistence_config: PersistenceSettings | None = None,
    runtime_typechecking: bool | None = None,
    terminate_on_error: bool | None = None,
    max_expression_batch_size: int = 1024,
    event_loop: object = None,
    udf_cache_directory: str | None = None,
    **kwargs: Any,
) -> None:
    """Same as ``run``."""
    run(
        monitoring_level=monitoring_level,
        with_http_server=with_http_server,
        persistence_config=persistence_config,
        terminate_on_error=terminate_on_error,
        **kwargs,
    )
