"""Programs with live sources on several workers (threads, and processes started by
``reflow spawn``) give the one-worker update stream, commit by commit: worker 0 reads the
sources and every worker runs its shard of the stateful operators."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from reflow.runtime.monitoring import Monitor, WorkerStats
from tests.runtime.test_workers import _free_ports

# A Python subject sends 25 commits: one hot key, cold keys, deletions, and late event times;
# a groupby, a join back against the totals and a tumbling window over the event time.
PROGRAM = textwrap.dedent('''
    import sys
    import reflow as pw

    class Feed(pw.io.python.ConnectorSubject):
        def run(self):
            for commit in range(25):
                for i in range(commit * 8, commit * 8 + 8):
                    word = "hot" if i % 4 else f"k{i % 11}"
                    self.next(word=word, n=i, at=(i * 7) % 60)
                if commit % 5 == 4:
                    self.delete(word="hot", n=commit * 8 - 3, at=((commit * 8 - 3) * 7) % 60)
                self.commit()

    class Row(pw.Schema):
        word: str
        n: int
        at: int

    t = pw.io.python.read(Feed(), schema=Row, autocommit_duration_ms=None)
    totals = t.groupby(t.word).reduce(t.word, s=pw.reducers.sum(t.n), c=pw.reducers.count())
    joined = totals.join(t, totals.word == t.word).select(t.n, totals.s, totals.c)
    windows = t.windowby(t.at, window=pw.temporal.tumbling(duration=10)).reduce(
        start=pw.this._pw_window_start, m=pw.reducers.max(pw.this.n)
    )
    pw.io.csv.write(totals, sys.argv[1] + "-totals.csv")
    pw.io.csv.write(joined, sys.argv[1] + "-joined.csv")
    pw.io.csv.write(windows, sys.argv[1] + "-windows.csv")
    pw.run(monitoring_level=pw.MonitoringLevel.NONE)
''')

OUTPUTS = ("totals", "joined", "windows")


def _by_commit(path: Path) -> list[list[str]]:
    """The update stream of a csv sink, grouped by logical time in order (the times
    themselves come from the wall clock), rows sorted within a time."""
    header, *rows = csv.reader(path.read_text().splitlines())
    at = header.index("time")
    groups: dict[int, list[str]] = {}
    for cells in rows:
        groups.setdefault(int(cells[at]), []).append(",".join(cells[:at] + cells[at + 1:]))
    return [sorted(groups[time]) for time in sorted(groups)]


def _run(tmp_path: Path, name: str, env: dict[str, str], spawn: int = 0) -> dict:
    program = tmp_path / "main.py"
    program.write_text(PROGRAM)
    out = tmp_path / name
    command = [sys.executable, str(program), str(out)]
    if spawn:
        command = [sys.executable, "-m", "reflow.cli", "spawn", "--processes", str(spawn),
                   "--first-port", str(_free_ports(spawn)), *command]
    subprocess.run(command, check=True, timeout=180, env={**os.environ, **env})
    return {output: _by_commit(Path(f"{out}-{output}.csv")) for output in OUTPUTS}


def test_live_sources_on_worker_threads_and_processes_give_the_one_worker_stream(
    tmp_path: Path,
) -> None:
    one = _run(tmp_path, "one", {})
    assert len(one["totals"]) == 25  # one logical time per commit
    assert all(one[output] for output in OUTPUTS)
    assert _run(tmp_path, "threads2", {"PATHWAY_THREADS": "2"}) == one
    assert _run(tmp_path, "threads3", {"PATHWAY_THREADS": "3"}) == one
    assert _run(tmp_path, "processes2", {}, spawn=2) == one


def test_a_failing_follower_stops_the_run(tmp_path: Path) -> None:
    program = tmp_path / "main.py"
    # Every row of key "b" goes to one worker; its UDF fails there, not on worker 0 alone.
    program.write_text(textwrap.dedent('''
        import reflow as pw

        class Feed(pw.io.python.ConnectorSubject):
            def run(self):
                for i in range(20):
                    self.next(word="ab"[i % 2], n=i)
                    self.commit()

        class Row(pw.Schema):
            word: str
            n: int

        @pw.udf
        def check(total: int) -> int:
            if total > 50:
                raise ValueError("total too large")
            return total

        t = pw.io.python.read(Feed(), schema=Row, autocommit_duration_ms=None)
        r = t.groupby(t.word).reduce(t.word, s=pw.reducers.sum(t.n))
        pw.io.null.write(r.select(c=check(r.s)))
        pw.run(monitoring_level=pw.MonitoringLevel.NONE)
    '''))
    done = subprocess.run([sys.executable, str(program)], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "PATHWAY_THREADS": "2"})
    assert done.returncode != 0
    assert "ValueError: total too large" in done.stderr


def test_the_status_and_metrics_show_every_worker() -> None:
    monitor = Monitor(workers=[WorkerStats(0, 120, 40, 3.5), WorkerStats(1, 80, 60, 9.0)])
    text = monitor.metrics_text()
    assert 'reflow_worker_rows_processed_total{worker="1"} 80' in text
    assert 'reflow_worker_rows_sent_total{worker="0"} 40' in text
    assert "reflow_slowest_worker_milliseconds 9.000" in text
    rows = [cells for cells in monitor.render().columns[0].cells]
    assert rows == ["worker 0", "worker 1"]


def test_metrics_show_every_worker_during_a_live_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """While a live program runs on 2 threads, ``/metrics`` shows both workers' counters."""
    import time
    import urllib.request

    import reflow as pw

    port = _free_ports(1)
    monkeypatch.setenv("PATHWAY_THREADS", "2")
    monkeypatch.setenv("REFLOW_MONITORING_HTTP_PORT", str(port))
    seen: list[str] = []

    def metrics() -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
            return reply.read().decode()

    class Feed(pw.io.python.ConnectorSubject):
        def run(self) -> None:
            for i in range(6):
                self.next(word=f"w{i % 3}", n=i)
                self.commit()
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:  # the followers report one time late
                self.commit()
                text = metrics()
                if 'reflow_worker_rows_processed_total{worker="1"} 0' not in text and (
                        'worker="1"' in text):
                    seen.append(text)
                    return
                time.sleep(0.05)

    class Row(pw.Schema):
        word: str
        n: int

    t = pw.io.python.read(Feed(), schema=Row, autocommit_duration_ms=None)
    r = t.groupby(t.word).reduce(t.word, s=pw.reducers.sum(t.n))
    pw.io.null.write(r)
    pw.run(monitoring_level=pw.MonitoringLevel.NONE, with_http_server=True)
    assert seen, "the metrics never showed worker 1's rows"
    processed = {
        line.split('"')[1]: int(line.split()[-1])
        for line in seen[0].splitlines()
        if line.startswith("reflow_worker_rows_processed_total{")
    }
    # Both workers own a share of the three keys, and the sink's rows reach worker 0.
    assert set(processed) == {"0", "1"} and all(n > 0 for n in processed.values())
    assert "reflow_slowest_worker_milliseconds" in seen[0]


def test_fully_asynchronous_udfs_run_on_one_worker(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import reflow as pw

    @pw.udf(executor=pw.udfs.fully_async_executor())
    async def double(x: int) -> int:
        return 2 * x

    monkeypatch.setenv("PATHWAY_THREADS", "2")
    t = pw.debug.table_from_markdown("""
    w | n
    a | 1
    b | 2
    a | 3
    """)
    r = t.groupby(t.w).reduce(t.w, s=pw.reducers.sum(t.n))
    got: list[tuple] = []
    pw.io.subscribe(r.select(r.w, d=double(r.s)).await_futures(),
                    on_change=lambda key, row, time, is_addition: got.append(
                        (row["w"], row["d"], is_addition)))
    pw.run(monitoring_level=pw.MonitoringLevel.NONE)
    assert sorted(got) == [("a", 8, True), ("b", 4, True)]
    assert "fully asynchronous UDFs run on one worker" in caplog.text
