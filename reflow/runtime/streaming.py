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
import queue
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import polars as pl

from reflow.engine.batch import concat_batches
from reflow.engine.stateless import InputOperator
from reflow.plan.nodes import Lowering
from reflow.runtime.monitoring import ConnectorStats, Monitor
from reflow.runtime.sources import ErrorLogSource, LiveSource, SourceHandle, StaticSource

logger = logging.getLogger("reflow")

#: How long the loop waits for input before looking at timers again (seconds).
TICK = 0.02
#: Longest time the loop spends taking queued input before it runs what was committed.
DRAIN = 0.05

_DATA, _COMMIT, _ERROR, _CLOSE, _FAIL = range(5)

_stop_requested = threading.Event()


def stop() -> None:
    """Ask the running pipeline to stop cleanly (safe to call from any thread).

    Everything already pushed by the sources is processed, sinks are finished and their files
    closed, then ``pw.run()`` returns.
    """
    _stop_requested.set()


class _Handle(SourceHandle):
    def __init__(self, index: int, events: queue.SimpleQueue, stopping: threading.Event):
        self.index = index
        self._events = events
        self._stopping = stopping

    def push(self, batch: pl.DataFrame) -> None:
        if batch is not None and batch.height:
            self._events.put((_DATA, self.index, batch, time.monotonic()))

    def commit(self) -> None:
        self._events.put((_COMMIT, self.index, None, time.monotonic()))

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

    def take(self, operator: InputOperator, name: str, pending: _Pending) -> None:
        if pending.batches:
            self.batches.setdefault(operator, []).extend(pending.batches)
        self.errors.extend((name, message) for message in pending.errors)
        if pending.first_arrival is not None and (
            self.first_arrival is None or pending.first_arrival < self.first_arrival
        ):
            self.first_arrival = pending.first_arrival

    def __bool__(self) -> bool:
        return bool(self.batches or self.errors)


def next_time(last: int | None) -> int:
    """The logical time of a new commit: even milliseconds of the wall clock, increasing."""
    now = int(time.time() * 1000)
    now -= now % 2
    return now if last is None or now > last else last + 2


@contextlib.contextmanager
def _stop_signals(stopping: threading.Event) -> Iterator[None]:
    """While running, Ctrl-C and SIGTERM ask for a clean stop (a second Ctrl-C interrupts)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {}

    def on_signal(signum, frame):
        if stopping.is_set() and signum == signal.SIGINT:
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


def run_streaming(lowering: Lowering, monitor: Monitor | None = None) -> None:
    """Run a dataflow whose inputs include live sources until they close or a stop."""
    dataflow = lowering.dataflow
    ctx = dataflow.ctx
    monitor = monitor or Monitor()
    live: list[tuple[InputOperator, LiveSource]] = []
    static: dict[int, list[tuple[InputOperator, pl.DataFrame]]] = {}
    for operator, source in lowering.inputs:
        if isinstance(source, StaticSource):
            for t, batch in source.batches:
                static.setdefault(t, []).append((operator, batch))
        elif isinstance(source, LiveSource):
            live.append((operator, source))
        elif not isinstance(source, ErrorLogSource):
            raise TypeError(f"source {source!r} cannot be run")
    for _, source in live:
        source.check()
    monitor.inputs = [ConnectorStats(source.name, "input") for _, source in live]
    monitor.outputs = [
        op.stats for op in dataflow.outputs if isinstance(getattr(op, "stats", None),
                                                          ConnectorStats)
    ]

    _stop_requested.clear()
    stopping = threading.Event()
    events: queue.SimpleQueue = queue.SimpleQueue()
    pending = [_Pending() for _ in live]
    open_sources = set(range(len(live)))
    ready = _Ready()
    last_time: int | None = None

    def run_ready() -> None:
        nonlocal ready, last_time
        if not ready:
            return
        current, ready = ready, _Ready()
        last_time = next_time(last_time)
        for name, message in current.errors:
            logger.warning("%s: %s", name, message)
            ctx.time = last_time
            ctx.report_input_error(name, message)
        inputs = {op: concat_batches(parts) for op, parts in current.batches.items()}
        dataflow.run_time(last_time, inputs)
        lag = 0.0
        if current.first_arrival is not None:
            lag = (time.monotonic() - current.first_arrival) * 1000
        for i, (_, source) in enumerate(live):
            monitor.inputs[i].rows = source.rows_read
        monitor.after_time(last_time, lag)

    def handle(event: tuple) -> None:
        kind, index, payload, arrival = event
        operator, source = live[index]
        slot = pending[index]
        if kind == _DATA:
            slot.batches.append(payload)
            slot.add_arrival(arrival)
        elif kind == _ERROR:
            slot.errors.append(payload)
            slot.add_arrival(arrival)
        elif kind in (_COMMIT, _CLOSE):
            if slot.batches and operator in ready.batches:
                run_ready()  # each commit of a source gets a logical time of its own
            ready.take(operator, source.name, slot)
            pending[index] = _Pending()
            if kind == _CLOSE:
                open_sources.discard(index)
                monitor.inputs[index].closed = True
        elif kind == _FAIL:
            raise payload

    started: list[LiveSource] = []
    monitor.start()
    try:
        with _stop_signals(stopping):
            for t in sorted(static):
                grouped: dict[InputOperator, list[pl.DataFrame]] = {}
                for operator, batch in static[t]:
                    grouped.setdefault(operator, []).append(batch)
                dataflow.run_time(t, {op: concat_batches(b) for op, b in grouped.items()})
                last_time = t
            for index, (_, source) in enumerate(live):
                source.start(_Handle(index, events, stopping))
                started.append(source)
            while open_sources and not stopping.is_set() and not _stop_requested.is_set():
                try:
                    handle(events.get(timeout=TICK))
                    # Take what is waiting, but not forever: a fast source must not keep
                    # the loop from running the times already committed.
                    deadline = time.monotonic() + DRAIN
                    while time.monotonic() < deadline:
                        handle(events.get_nowait())
                except queue.Empty:
                    pass
                now = time.monotonic()
                others_open = bool(ready) or any(  # for sources that close after all others
                    not getattr(live[i][1], "waits_for_others", False) for i in open_sources
                )
                for _, source in live:
                    if getattr(source, "waits_for_others", False):
                        source.others_open = others_open  # type: ignore[attr-defined]
                    source.tick(now)
                run_ready()
                monitor.refresh()
            stopping.set()
            while started:
                started.pop(0).stop()
            # What the sources pushed before stopping is processed, committed or not.
            with contextlib.suppress(queue.Empty):
                while True:
                    handle(events.get_nowait())
            for index, (operator, source) in enumerate(live):
                ready.take(operator, source.name, pending[index])
            run_ready()
            dataflow.finish()
    finally:
        stopping.set()
        for source in started:
            with contextlib.suppress(Exception):
                source.stop()  # after a failure: stop what is still running
        monitor.stop()
