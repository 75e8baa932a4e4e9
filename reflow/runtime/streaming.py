"""The run loop for live sources.

Readers run in their own threads and push batches, commits and bad-row reports into one queue.
The dataflow itself is single-threaded: the loop takes what has been committed, gives it the
next logical time and calls ``Dataflow.run_time``. Several commits waiting at once share one
time (the loop catches up instead of falling behind). The loop ends when every live source
has closed, when ``stop()`` is called, or on Ctrl-C / SIGTERM; in every case what was already
pushed is processed and the sinks are finished, so files are complete and closed.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, cast

import polars as pl

from reflow.engine.operators.stateless import InputOperator
from reflow.plan.nodes import Lowering
from reflow.runtime.heap import settle_after
from reflow.runtime.monitoring import ConnectorStats, Monitor
from reflow.runtime.sources import ErrorLogSource, LiveSource, SourceHandle, StaticSource

if TYPE_CHECKING:
    from reflow.engine.dataflow import Dataflow
    from reflow.runtime.persistence.run import PersistentRun
    from reflow.runtime.sharded_streaming import LeadingShard

logger = logging.getLogger("reflow")

#: How long the loop waits for input before looking at timers again (seconds).
TICK = 0.02
#: Longest time the loop spends taking queued input before it runs what was committed.
DRAIN = 0.05
#: Rows a live source may push ahead of the run loop before its thread waits (a source can
#: set its own limit as ``max_backlog_rows``, e.g. ``pw.io.python.read(max_backlog_size=)``).
MAX_BACKLOG_ROWS = 1_000_000
#: After a stop is asked for, how long (seconds) the input already received may still be
#: processed before the run ends; overridden by the ``REFLOW_SHUTDOWN_TIMEOUT`` environment
#: variable. What is left is not processed (nor acknowledged to the sources).
SHUTDOWN_TIMEOUT = 10.0


def shutdown_timeout() -> float:
    """Seconds a stopping run may spend on input it already received."""
    value = os.environ.get("REFLOW_SHUTDOWN_TIMEOUT")
    if value is None:
        return SHUTDOWN_TIMEOUT
    try:
        return max(0.0, float(value))
    except ValueError:
        logger.warning("ignoring REFLOW_SHUTDOWN_TIMEOUT=%r: not a number of seconds", value)
        return SHUTDOWN_TIMEOUT

_DATA, _COMMIT, _ERROR, _CLOSE, _FAIL = range(5)

_stop_requested = threading.Event()


def stop() -> None:
    """Ask the running pipeline to stop cleanly (safe to call from any thread).

    Everything already pushed by the sources is processed, sinks are finished and their files
    closed, then ``pw.run()`` returns.
    """
    _stop_requested.set()


class _Backlog:
    """Rows a source pushed that the run loop has not taken yet. A source thread pushing more
    than ``limit`` waits (backpressure), so a fast source cannot fill the memory; a push into
    an empty backlog always goes through, whatever its size."""

    def __init__(self, limit: int, stopping: threading.Event) -> None:
        self.limit = limit
        self.rows = 0
        self._stopping = stopping
        self._changed = threading.Condition()
        self.loop_thread = threading.current_thread()

    def add(self, rows: int) -> None:
        with self._changed:
            if threading.current_thread() is not self.loop_thread:
                while (self.rows and self.rows + rows > self.limit
                       and not self._stopping.is_set()):
                    self._changed.wait(0.1)
            self.rows += rows

    def taken(self, rows: int) -> None:
        with self._changed:
            self.rows -= rows
            self._changed.notify_all()


class _Handle(SourceHandle):
    def __init__(
        self, index: int, events: queue.SimpleQueue, stopping: threading.Event,
        backlog: _Backlog | None = None,
    ):
        self.index = index
        self._events = events
        self._stopping = stopping
        self._backlog = backlog
        # commits sent by the source's thread and taken by the run loop (each counter is
        # written by one thread only)
        self.sent = 0
        self.taken = 0

    def push(self, batch: pl.DataFrame) -> None:
        if batch is not None and batch.height:
            if self._backlog is not None:
                self._backlog.add(batch.height)
            self._events.put((_DATA, self.index, batch, time.monotonic()))

    def commit(self, offset: object = None) -> None:
        self.sent += 1
        self._events.put((_COMMIT, self.index, offset, time.monotonic()))

    def report_error(self, message: str) -> None:
        self._events.put((_ERROR, self.index, message, time.monotonic()))

    def close(self) -> None:
        self._events.put((_CLOSE, self.index, None, time.monotonic()))

    def fail(self, error: BaseException) -> None:
        self._events.put((_FAIL, self.index, error, time.monotonic()))

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def wait_stop(self, timeout: float) -> bool:
        return self._stopping.wait(timeout)

    @property
    def behind(self) -> bool:
        return self.sent > self.taken


@dataclass
class _Pending:
    """What one source pushed since its last commit."""

    batches: list[pl.DataFrame] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    first_arrival: float | None = None

    def add_arrival(self, arrival: float) -> None:
        if self.first_arrival is None:
            self.first_arrival = arrival


class _Ready:
    """Committed input waiting for the next logical time."""

    def __init__(self) -> None:
        self.batches: dict[InputOperator, list[pl.DataFrame]] = {}
        self.errors: list[tuple[str, str]] = []
        self.first_arrival: float | None = None
        self.offsets: dict[int, object] = {}
        #: Inputs that run at this time even with no rows here (``PartSource``).
        self.marked: set[InputOperator] = set()

    def take(self, operator: InputOperator, name: str, pending: _Pending) -> None:
        if pending.batches:
            self.batches.setdefault(operator, []).extend(pending.batches)
        self.errors.extend((name, message) for message in pending.errors)
        if pending.first_arrival is not None and (
            self.first_arrival is None or pending.first_arrival < self.first_arrival
        ):
            self.first_arrival = pending.first_arrival

    def __bool__(self) -> bool:
        return bool(self.batches or self.errors or self.marked)


def next_time(last: int | None) -> int:
    """The logical time of a new commit: even milliseconds of the wall clock, increasing."""
    now = int(time.time() * 1000)
    now -= now % 2
    return now if last is None or now > last else last + 2


@contextlib.contextmanager
def _stop_signals(stopping: threading.Event) -> Iterator[None]:
    """While running, Ctrl-C and SIGTERM ask for a clean stop; a second one interrupts at once
    (between two writes: sinks hold whole times)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {}

    def on_signal(signum, frame):
        if stopping.is_set():
            logger.warning("received signal %d again, stopping at once", signum)
            raise KeyboardInterrupt
        logger.info("received signal %d, stopping", signum)
        stopping.set()

    for signum in (signal.SIGINT, signal.SIGTERM):
        try:
            previous[signum] = signal.signal(signum, on_signal)
        except (ValueError, OSError):  # pragma: no cover - not allowed here
            pass
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def run_streaming(
    lowering: Lowering,
    monitor: Monitor | None = None,
    persistence: PersistentRun | None = None,
    dataflow: Dataflow | LeadingShard | None = None,
) -> None:
    """Run a dataflow whose inputs include live sources until they close or a stop;
    ``persistence`` (a ``reflow.runtime.persistence.run.PersistentRun``) restores and
    checkpoints. ``dataflow`` replaces ``lowering.dataflow`` (worker 0 of a sharded run)."""
    StreamingLoop(lowering, monitor or Monitor(), persistence, dataflow).run()


class StreamingLoop:
    """One run of a dataflow over its live sources.

    ``run`` feeds the static batches first, starts the readers, then repeats one *turn*
    (take queued events for a short while, let sources tick, run what was committed) until
    every source closed or a stop was asked for; then it stops the readers, runs what they
    had pushed and finishes the dataflow.
    """

    def __init__(
        self,
        lowering: Lowering,
        monitor: Monitor,
        persistence: PersistentRun | None = None,
        dataflow: Dataflow | LeadingShard | None = None,
    ) -> None:
        self.lowering = lowering
        self.dataflow = lowering.dataflow if dataflow is None else dataflow
        # What checkpoints hold: this dataflow, or every worker's shard of a sharded run
        # (``PersistentShards``, offering what ``PersistentRun`` uses of a ``Dataflow``).
        self.saved = cast(
            "Dataflow", getattr(self.dataflow, "persistent_states", lowering.dataflow)
        )
        self.persistence = persistence
        #: The offset of each source's last commit that went through the dataflow.
        self.offsets: dict[int, object] = {}
        self.monitor = monitor
        self.live: list[tuple[InputOperator, LiveSource]] = []
        self.static: dict[int, list[tuple[InputOperator, pl.DataFrame]]] = {}
        for operator, source in lowering.inputs:
            if isinstance(source, StaticSource):
                for t, batch in source.batches:
                    self.static.setdefault(t, []).append((operator, batch))
            elif isinstance(source, LiveSource):
                self.live.append((operator, source))
            elif not isinstance(source, ErrorLogSource):
                raise TypeError(f"source {source!r} cannot be run")
        for _, source in self.live:
            source.check()
        monitor.inputs = [ConnectorStats(source.name, "input") for _, source in self.live]
        monitor.outputs = [
            stats for op in self.dataflow.outputs
            if isinstance(stats := op.stats, ConnectorStats)
        ]
        self.stopping = threading.Event()
        self.events: queue.SimpleQueue = queue.SimpleQueue()
        self.pending = [_Pending() for _ in self.live]
        self.backlogs = [
            _Backlog(getattr(source, "max_backlog_rows", None) or MAX_BACKLOG_ROWS,
                     self.stopping)
            for _, source in self.live
        ]
        self.open_sources = set(range(len(self.live)))
        self.ready = _Ready()
        self.handles: dict[int, _Handle] = {}
        self.last_time: int | None = None
        self.started: list[LiveSource] = []

    def run(self) -> None:
        _stop_requested.clear()
        self.monitor.start()
        try:
            with _stop_signals(self.stopping):
                restored = None
                if self.persistence is not None:
                    restored = self.persistence.restore(
                        self.saved, [source for _, source in self.live]
                    )
                if restored is None:
                    if self.persistence is not None:
                        self.persistence.save_initial(
                            self.lowering.dataflow, [source for _, source in self.live]
                        )
                    self._run_static()
                else:
                    self.last_time = restored
                self._start_sources()
                while self.open_sources and not (
                    self.stopping.is_set() or _stop_requested.is_set()
                ):
                    self._turn()
                self._stop_sources()
                self._checkpoint(force=True)
                self.dataflow.finish()
        finally:
            self.stopping.set()
            for source in self.started:
                with contextlib.suppress(Exception):
                    source.stop()  # after a failure: stop what is still running
            self.monitor.stop()

    def _run_static(self) -> None:
        for t in sorted(self.static):
            self.dataflow.run_batches(t, self.static[t])
            settle_after(sum(batch.height for _, batch in self.static[t]))
            self.last_time = t

    def _start_sources(self) -> None:
        for index, (_, source) in enumerate(self.live):
            handle = _Handle(index, self.events, self.stopping, self.backlogs[index])
            self.handles[index] = handle
            source.start(handle)
            self.started.append(source)

    def _turn(self) -> None:
        self._take_events()
        now = time.monotonic()
        others_open = bool(self.ready) or any(  # for sources that close after all others
            not getattr(self.live[i][1], "waits_for_others", False) for i in self.open_sources
        )
        for _, source in self.live:
            if getattr(source, "waits_for_others", False):
                source.others_open = others_open  # type: ignore[attr-defined]
            source.tick(now)
        self._run_ready()
        self.monitor.refresh()

    def _take_events(self) -> None:
        """Wait a tick for an event, then take what is waiting, but not forever: a fast
        source must not keep the loop from running the times already committed."""
        try:
            self._handle(self.events.get(timeout=TICK))
            deadline = time.monotonic() + DRAIN
            while time.monotonic() < deadline:
                self._handle(self.events.get_nowait())
        except queue.Empty:
            pass

    def _stop_sources(self) -> None:
        """Stop the readers; what they pushed before stopping is run, committed or not,
        unless that takes longer than the shutdown timeout."""
        self.stopping.set()
        deadline = time.monotonic() + shutdown_timeout()
        while self.started:
            self.started.pop(0).stop()
        left = 0
        with contextlib.suppress(queue.Empty):
            while True:
                if time.monotonic() >= deadline:
                    left = self.events.qsize() + 1
                    break
                self._handle(self.events.get_nowait())
        if left:
            logger.warning(
                "stopping: the shutdown timeout passed with about %d input events not "
                "processed", left,
            )
            return
        for index, (operator, source) in enumerate(self.live):
            self.ready.take(operator, source.name, self.pending[index])
        self._run_ready()

    def _handle(self, event: tuple) -> None:
        kind, index, payload, arrival = event
        operator, source = self.live[index]
        slot = self.pending[index]
        if kind == _DATA:
            self.backlogs[index].taken(payload.height)
            slot.batches.append(payload)
            slot.add_arrival(arrival)
        elif kind == _ERROR:
            slot.errors.append(payload)
            slot.add_arrival(arrival)
        elif kind in (_COMMIT, _CLOSE):
            if kind == _COMMIT and index in self.handles:
                self.handles[index].taken += 1
            if slot.batches and operator in self.ready.batches:
                self._run_ready()  # each commit of a source gets a logical time of its own
            self.ready.take(operator, source.name, slot)
            if kind == _COMMIT and source.commit_makes_time:
                self.ready.marked.add(operator)
            if payload is not None and self.persistence is not None:
                self.ready.offsets[index] = payload
            self.pending[index] = _Pending()
            if kind == _CLOSE:
                self.open_sources.discard(index)
                self.monitor.inputs[index].closed = True
        elif kind == _FAIL:
            raise payload

    def _run_ready(self) -> None:
        """Give what was committed the next logical time and run it."""
        if not self.ready:
            if self.ready.offsets:  # commits that brought nothing: only their offsets advance
                self.offsets.update(self.ready.offsets)
                self.ready.offsets = {}
            return
        current, self.ready = self.ready, _Ready()
        self.last_time = next_time(self.last_time)
        ctx = self.dataflow.ctx
        for name, message in current.errors:
            logger.warning("%s: %s", name, message)
            ctx.time = self.last_time
            ctx.report_input_error(name, message)
        batches: list[tuple[InputOperator, pl.DataFrame | None]] = [
            (op, batch) for op, parts in current.batches.items() for batch in parts
        ]
        batches += [(op, None) for op in current.marked if op not in current.batches]
        self.dataflow.run_batches(self.last_time, batches)
        settle_after(sum(batch.height for _, batch in batches if batch is not None))
        lag = 0.0
        if current.first_arrival is not None:
            lag = (time.monotonic() - current.first_arrival) * 1000
        for i, (_, source) in enumerate(self.live):
            self.monitor.inputs[i].rows = source.rows_read
        self.monitor.after_time(self.last_time, lag)
        self.offsets.update(current.offsets)
        self._checkpoint()

    def _checkpoint(self, force: bool = False) -> None:
        """Write a checkpoint if one is due (sinks have flushed: the time is complete)."""
        persistence = self.persistence
        if persistence is None or not (force or persistence.due()):
            return
        if self.dataflow.last_time is None:
            return
        persistence.save(
            self.saved, [source for _, source in self.live], dict(self.offsets),
            final=force,
        )
