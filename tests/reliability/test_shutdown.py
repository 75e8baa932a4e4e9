"""Shutdown under a backlog: a stop ends within the shutdown timeout, a second signal stops at
once, and the sinks are left whole (issue class 7)."""

import os
import signal
import subprocess
import sys
import textwrap
import time

_PIPELINE = textwrap.dedent(
    """
    import sys, time
    import reflow as pw

    class S(pw.Schema):
        i: int

    class Subject(pw.io.python.ConnectorSubject):
        def run(self):
            for batch in range(2000):
                for i in range(10):
                    self.next(i=batch * 10 + i)
                self.commit()

    @pw.udf
    def slow(i: int) -> int:
        time.sleep(0.005)
        return i

    t = pw.io.python.read(Subject(), schema=S, autocommit_duration_ms=None)
    pw.io.csv.write(t.select(i=slow(pw.this.i)), sys.argv[1])
    pw.run(monitoring_level=pw.MonitoringLevel.NONE)
    """
)

TOTAL_ROWS = 20_000


def _start(tmp_path, timeout: str):
    script = tmp_path / "pipeline.py"
    script.write_text(_PIPELINE)
    out = tmp_path / "out.csv"
    env = dict(os.environ, REFLOW_SHUTDOWN_TIMEOUT=timeout)
    process = subprocess.Popen([sys.executable, str(script), str(out)], env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if out.exists() and len(out.read_bytes().splitlines()) > 20:
            break
        time.sleep(0.05)
    return process, out


def _check_whole(out) -> int:
    text = out.read_text()
    assert text.endswith("\n")
    lines = text.splitlines()[1:]
    per_time: dict[str, int] = {}
    for line in lines:
        assert len(line.split(",")) == 3
        per_time[line.split(",")[1]] = per_time.get(line.split(",")[1], 0) + 1
    assert all(n % 10 == 0 for n in per_time.values()), per_time
    return len(lines)


def test_sigterm_with_a_backlog_stops_after_the_shutdown_timeout(tmp_path):
    process, out = _start(tmp_path, "0.5")
    try:
        process.send_signal(signal.SIGTERM)
        # Draining the whole backlog would take over 90 s (20,000 rows, 5 ms each).
        assert process.wait(timeout=60) == 0
    finally:
        process.kill()
    assert 0 < _check_whole(out) < TOTAL_ROWS


def test_a_second_signal_stops_at_once_leaving_whole_times(tmp_path):
    process, out = _start(tmp_path, "600")
    try:
        process.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
    finally:
        process.kill()
    assert 0 < _check_whole(out) < TOTAL_ROWS


def test_a_fast_subject_waits_for_a_slow_pipeline_and_every_row_arrives():
    import reflow as pw
    from tests.io.live import Collector

    class Row(pw.Schema):
        n: int

    ahead: list[int] = []

    class Fast(pw.io.python.ConnectorSubject):
        def run(self):
            for n in range(5000):
                self.next(n=n)
                if n % 100 == 99:
                    self.commit()
                    ahead.append(n + 1 - len(seen.updates))

    @pw.udf
    def slow(n: int) -> int:
        time.sleep(0.0002)
        return n

    table = pw.io.python.read(Fast(), schema=Row, autocommit_duration_ms=5,
                              max_backlog_size=300)
    seen = Collector(table.select(n=slow(pw.this.n)))
    pw.run(monitoring_level=pw.MonitoringLevel.NONE)
    assert sorted(n for (n,) in seen.rows()) == list(range(5000))
    # The subject never got far ahead of what the pipeline had delivered.
    assert max(ahead) <= 300 + 100 + 100
