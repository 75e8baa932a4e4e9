"""Stopping a running streaming pipeline cleanly, and watching it (status, metrics)."""

from __future__ import annotations

import os
import signal
import socket
import threading
import urllib.request

import pytest

import reflow as pw
from reflow.runtime import streaming
from reflow.runtime.monitoring import ConnectorStats, Monitor, MonitoringLevel
from tests.io.live import Collector, write_atomic


class Item(pw.Schema):
    name: str
    qty: int


def _streaming_csv(tmp_path):
    data = tmp_path / "in"
    data.mkdir()
    write_atomic(data / "a.csv", "name,qty\napple,1\npear,2\n")
    table = pw.io.csv.read(data, schema=Item, mode="streaming", autocommit_duration_ms=10)
    out = tmp_path / "out.csv"
    pw.io.csv.write(table, out)
    pw.io.jsonlines.write(table, tmp_path / "out.jsonl")
    return table, out


def _stop_after(collector, expected, stop):
    def target():
        try:
            collector.wait_rows(expected)
        finally:
            stop()

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread


@pytest.mark.parametrize("how", ["sigterm", "sigint", "stop"])
def test_stop_flushes_and_closes_sinks(tmp_path, how):
    table, out = _streaming_csv(tmp_path)
    seen = Collector(table)
    stop = {
        "sigterm": lambda: os.kill(os.getpid(), signal.SIGTERM),
        "sigint": lambda: os.kill(os.getpid(), signal.SIGINT),
        "stop": streaming.stop,
    }[how]
    handlers_before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    watchdog = threading.Timer(20, streaming.stop)
    watchdog.start()
    thread = _stop_after(seen, [("apple", 1), ("pear", 2)], stop)
    try:
        pw.run(monitoring_level=pw.MonitoringLevel.NONE)
    finally:
        watchdog.cancel()
        thread.join(5)
    assert seen.ended
    lines = out.read_text().splitlines()
    assert lines[0] == '"name","qty","time","diff"'
    assert sorted(line.split(",")[0] for line in lines[1:]) == ['"apple"', '"pear"']
    assert len((tmp_path / "out.jsonl").read_text().splitlines()) == 2
    # The previous handlers are back once the run is over (whatever they were: a shell that
    # starts the tests in the background makes SIGINT ignored).
    assert {s: signal.getsignal(s) for s in handlers_before} == handlers_before


def test_rows_pushed_before_the_stop_reach_the_sinks():
    release = threading.Event()

    class Burst(pw.io.python.ConnectorSubject):
        def run(self):
            for i in range(1000):
                self.next(name=f"n{i}", qty=i)
            streaming.stop()  # nothing committed yet: the stop must still deliver the rows
            release.wait(10)

        def on_stop(self):
            release.set()

    out = Collector(pw.io.python.read(Burst(), schema=Item, autocommit_duration_ms=None))
    pw.run(monitoring_level=pw.MonitoringLevel.NONE)
    assert len(out.rows()) == 1000 and out.ended


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_metrics_endpoint(monkeypatch):
    port = _free_port()
    monkeypatch.setenv("REFLOW_MONITORING_HTTP_PORT", str(port))
    scraped = []
    release = threading.Event()

    class Feeder(pw.io.python.ConnectorSubject):
        def run(self):
            for i in range(3):
                self.next(name="x", qty=i)
            self.commit()
            release.wait(10)

    t = pw.io.python.read(Feeder(), schema=Item, name="feeder")
    out = Collector(t)

    def scrape():
        try:
            out.wait_for(lambda c: len(c.state) == 3)
            url = f"http://127.0.0.1:{port}/metrics"
            with urllib.request.urlopen(url, timeout=5) as response:
                scraped.append(response.read().decode())
        finally:
            release.set()

    thread = threading.Thread(target=scrape, daemon=True)
    thread.start()
    pw.run(monitoring_level=pw.MonitoringLevel.NONE, with_http_server=True)
    thread.join(5)
    (text,) = scraped
    assert 'reflow_input_rows_total{connector="feeder"} 3' in text
    assert "reflow_output_rows_total" in text and "reflow_logical_time" in text


def test_monitor_status_and_levels(monkeypatch):
    monitor = Monitor(
        MonitoringLevel.ALL,
        inputs=[ConnectorStats("words", "input", rows=10)],
        outputs=[ConnectorStats("out.csv", "output", rows=4, closed=True)],
    )
    monitor.after_time(42, 3.0)
    assert "logical time 42" in monitor.headline()
    assert monitor.render().row_count == 2
    assert monitor.wants_status()
    assert not Monitor(MonitoringLevel.NONE).wants_status()
    monkeypatch.setattr("sys.stdout.isatty", lambda: False)
    assert not Monitor(MonitoringLevel.AUTO).wants_status()


def test_logging_is_quiet_by_default(tmp_path, capfd):
    (tmp_path / "a.csv").write_text("name,qty\nplum,x\n")
    pw.io.null.write(pw.io.csv.read(tmp_path, schema=Item, mode="static"))
    pw.run(monitoring_level=pw.MonitoringLevel.NONE, terminate_on_error=False)
    captured = capfd.readouterr()
    assert captured.err == "" and captured.out == ""
