"""Seeing what a running pipeline does: a live terminal status and a Prometheus endpoint.

The run loop updates a ``Monitor`` after every logical time; the monitor shows a ``rich``
status in the terminal once the run has lasted a few seconds (when asked to, or by default
when stdout is a terminal) and can serve ``/metrics`` in the Prometheus text format.
"""

from __future__ import annotations

import enum
import logging
import os
import sys
import threading
from dataclasses import dataclass, field
from time import monotonic
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import http.server

logger = logging.getLogger("reflow")
logger.addHandler(logging.NullHandler())

#: Seconds a run must last before the live status appears.
STATUS_DELAY = 3.0
DEFAULT_HTTP_PORT = 20000


class MonitoringLevel(enum.Enum):
    """How much ``pw.run`` shows while it runs.

    ``AUTO`` (the default) shows the live status only when stdout is a terminal; ``NONE``
    never shows it; the other levels always do.

    >>> import reflow as pw
    >>> pw.MonitoringLevel.NONE.name
    'NONE'
    """

    AUTO = 0
    AUTO_ALL = 1
    NONE = 2
    IN_OUT = 3
    ALL = 4


@dataclass
class ConnectorStats:
    """Counters of one connector, read by the monitor."""

    name: str
    kind: str  # "input" or "output"
    rows: int = 0
    closed: bool = False


@dataclass
class WorkerStats:
    """What one worker reports: rows its stateful operators processed, rows it sent to other
    workers, and how long its last logical time took."""

    worker: int
    rows_processed: int = 0
    rows_sent: int = 0
    last_time_ms: float = 0.0


@dataclass
class Monitor:
    """Collects run statistics and shows them."""

    level: MonitoringLevel | None = None
    with_http_server: bool = False
    inputs: list[ConnectorStats] = field(default_factory=list)
    outputs: list[ConnectorStats] = field(default_factory=list)
    logical_time: int | None = None
    lag_ms: float = 0.0
    #: The workers of a sharded run, or empty with one worker.
    workers: list[WorkerStats] = field(default_factory=list)
    times_done: int = 0
    started: float = field(default_factory=monotonic)
    _live: Any = None
    _server: Any = None

    def start(self) -> None:
        if self.with_http_server:
            self._server = serve_metrics(self)

    def wants_status(self) -> bool:
        level = self.level if self.level is not None else MonitoringLevel.AUTO
        if level == MonitoringLevel.NONE:
            return False
        if level in (MonitoringLevel.AUTO, MonitoringLevel.AUTO_ALL):
            isatty = getattr(sys.stdout, "isatty", None)
            return bool(isatty and isatty())
        return True

    def after_time(self, logical_time: int, lag_ms: float) -> None:
        """Record that ``logical_time`` was processed, ``lag_ms`` after its data arrived."""
        self.logical_time = logical_time
        self.lag_ms = lag_ms
        self.times_done += 1
        self.refresh()

    def refresh(self) -> None:
        if self._live is None:
            if monotonic() - self.started < STATUS_DELAY or not self.wants_status():
                return
            self._start_live()
        if self._live is not None:
            self._live.update(self.render())

    def _start_live(self) -> None:
        try:
            from rich.live import Live
        except ImportError:  # pragma: no cover - rich is a dependency
            self.level = MonitoringLevel.NONE
            return
        self._live = Live(self.render(), refresh_per_second=2, transient=False)
        self._live.start()

    def render(self):
        """The status as a ``rich`` table."""
        from rich.table import Table

        table = Table(title=self.headline(), title_justify="left")
        table.add_column("connector")
        table.add_column("kind")
        table.add_column("rows", justify="right")
        for stats in [*self.inputs, *self.outputs]:
            label = stats.name + (" (done)" if stats.closed else "")
            table.add_row(label, stats.kind, f"{stats.rows:,}")
        for worker in self.workers:
            table.add_row(
                f"worker {worker.worker}", "worker",
                f"{worker.rows_processed:,} ({worker.rows_sent:,} sent, "
                f"last time {worker.last_time_ms:.0f} ms)",
            )
        return table

    def headline(self) -> str:
        elapsed = monotonic() - self.started
        current = "-" if self.logical_time is None else str(self.logical_time)
        return (
            f"reflow: {elapsed:.0f}s, logical time {current}, {self.times_done} times, "
            f"lag {self.lag_ms:.0f} ms"
        )

    def stop(self) -> None:
        if self._live is not None:
            self._live.update(self.render())
            self._live.stop()
            self._live = None
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def metrics_text(self) -> str:
        """The statistics in the Prometheus text exposition format.

        >>> m = Monitor(inputs=[ConnectorStats("words", "input", rows=3)])
        >>> print(m.metrics_text().splitlines()[2])
        reflow_input_rows_total{connector="words"} 3
        """
        lines = [
            "# HELP reflow_input_rows_total Rows read by each input connector.",
            "# TYPE reflow_input_rows_total counter",
        ]
        lines += [
            f'reflow_input_rows_total{{connector="{_escape(s.name)}"}} {s.rows}'
            for s in self.inputs
        ]
        lines += [
            "# HELP reflow_output_rows_total Rows written by each output connector.",
            "# TYPE reflow_output_rows_total counter",
        ]
        lines += [
            f'reflow_output_rows_total{{connector="{_escape(s.name)}"}} {s.rows}'
            for s in self.outputs
        ]
        lines += [
            "# HELP reflow_logical_time The last logical time processed.",
            "# TYPE reflow_logical_time gauge",
            f"reflow_logical_time {self.logical_time or 0}",
            "# HELP reflow_times_total Logical times processed.",
            "# TYPE reflow_times_total counter",
            f"reflow_times_total {self.times_done}",
            "# HELP reflow_lag_milliseconds Delay between data arrival and its processing.",
            "# TYPE reflow_lag_milliseconds gauge",
            f"reflow_lag_milliseconds {self.lag_ms:.3f}",
        ]
        if self.workers:
            lines += _worker_metrics(self.workers)
        return "\n".join(lines) + "\n"


def _worker_metrics(workers: list[WorkerStats]) -> list[str]:
    """Per-worker counters of a sharded run, and how long the slowest worker took."""
    lines = []
    for metric, kind, attribute, text in (
        ("reflow_worker_rows_processed_total", "counter", "rows_processed",
         "Rows processed by the stateful operators of each worker."),
        ("reflow_worker_rows_sent_total", "counter", "rows_sent",
         "Rows each worker sent to other workers in the exchange."),
        ("reflow_worker_last_time_milliseconds", "gauge", "last_time_ms",
         "How long each worker took over its last logical time."),
    ):
        lines += [f"# HELP {metric} {text}", f"# TYPE {metric} {kind}"]
        lines += [f'{metric}{{worker="{w.worker}"}} {getattr(w, attribute)}' for w in workers]
    slowest = max(w.last_time_ms for w in workers)
    lines += [
        "# HELP reflow_slowest_worker_milliseconds The longest last logical time of a worker.",
        "# TYPE reflow_slowest_worker_milliseconds gauge",
        f"reflow_slowest_worker_milliseconds {slowest:.3f}",
    ]
    return lines


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def metrics_port() -> int:
    """The port of the ``/metrics`` endpoint (``REFLOW_MONITORING_HTTP_PORT``, default 20000)."""
    raw = os.environ.get("REFLOW_MONITORING_HTTP_PORT", str(DEFAULT_HTTP_PORT))
    try:
        return int(raw)
    except ValueError:
        raise ValueError(
            f"REFLOW_MONITORING_HTTP_PORT must be a port number, got {raw!r}"
        ) from None


def serve_metrics(monitor: Monitor, port: int | None = None) -> http.server.ThreadingHTTPServer:
    """Serve ``monitor.metrics_text()`` at ``/metrics`` from a daemon thread."""
    import http.server  # here: it brings ssl and http.client, a large share of import time

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.split("?")[0] != "/metrics":
                self.send_error(404)
                return
            body = monitor.metrics_text().encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            logger.debug("metrics: " + format, *args)

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", metrics_port() if port is None else port), Handler
    )
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="reflow-metrics", daemon=True)
    thread.start()
    logger.info("metrics served at http://127.0.0.1:%d/metrics", server.server_address[1])
    return server
