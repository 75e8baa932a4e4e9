"""A persistent run restarted on another number of workers (threads, processes, Ray actors)
re-partitions every operator's state by key and continues as if nothing happened: the update
stream, commit by commit, is the one of an uninterrupted one-worker run."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.runtime.test_workers import _free_ports

# A Python subject sends the first ``int(sys.argv[3])`` of 24 commits (a hot key, cold keys,
# deletions), each after ``sys.argv[4]`` seconds if given; a groupby, a join back against the
# totals and a tumbling window. A restart sends them all again from the start: the ones
# delivered before the checkpoint are skipped.
PROGRAM = textwrap.dedent('''
    import logging
    import sys
    import time
    import reflow as pw

    logging.basicConfig(level=logging.INFO)

    class Feed(pw.io.python.ConnectorSubject):
        def run(self):
            for commit in range(int(sys.argv[3])):
                time.sleep(float(sys.argv[4]) if len(sys.argv) > 4 else 0)
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

    t = pw.io.python.read(Feed(), schema=Row, autocommit_duration_ms=None, name="feed")
    totals = t.groupby(t.word).reduce(t.word, s=pw.reducers.sum(t.n), c=pw.reducers.count())
    joined = totals.join(t, totals.word == t.word).select(t.n, totals.s, totals.c)
    windows = t.windowby(t.at, window=pw.temporal.tumbling(duration=10)).reduce(
        start=pw.this._pw_window_start, m=pw.reducers.max(pw.this.n), c=pw.reducers.count()
    )
    pw.io.csv.write(totals, sys.argv[1] + "-totals.csv")
    pw.io.csv.write(joined, sys.argv[1] + "-joined.csv")
    pw.io.csv.write(windows, sys.argv[1] + "-windows.csv")
    config = pw.persistence.Config(pw.persistence.Backend.filesystem(sys.argv[2]),
                                   snapshot_interval_ms=0)
    pw.run(monitoring_level=pw.MonitoringLevel.NONE, persistence_config=config)
''')

OUTPUTS = ("totals", "joined", "windows")
COMMITS = 24


def _by_commit(path: Path) -> list[list[str]]:
    """The update stream of a csv sink, grouped by logical time in order (the times come
    from the wall clock), rows sorted within a time."""
    header, *rows = csv.reader(path.read_text().splitlines())
    at = header.index("time")
    groups: dict[int, list[str]] = {}
    for cells in rows:
        groups.setdefault(int(cells[at]), []).append(",".join(cells[:at] + cells[at + 1:]))
    return [sorted(groups[time]) for time in sorted(groups)]


def _run(tmp_path: Path, name: str, commits: int, env: dict[str, str], spawn: int = 0) -> dict:
    program = tmp_path / "main.py"
    program.write_text(PROGRAM)
    out = tmp_path / name
    command = [sys.executable, str(program), str(out), str(tmp_path / f"{name}-state"),
               str(commits)]
    if spawn:
        command = [sys.executable, "-m", "reflow.cli", "spawn", "--processes", str(spawn),
                   "--first-port", str(_free_ports(spawn)), *command]
    clean = {k: v for k, v in os.environ.items()
             if k not in ("PATHWAY_THREADS", "REFLOW_RAY_ACTORS")}
    done = subprocess.run(command, capture_output=True, text=True, timeout=240,
                          env={**clean, **env})
    assert done.returncode == 0, done.stderr[-3000:]
    return {output: _by_commit(Path(f"{out}-{output}.csv")) for output in OUTPUTS}


@pytest.fixture(scope="module")
def one_worker(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The update streams of an uninterrupted run on one worker."""
    stream = _run(tmp_path_factory.mktemp("one"), "one", COMMITS, {})
    assert len(stream["totals"]) == COMMITS  # one logical time per commit
    return stream


@pytest.mark.parametrize(("before", "after"), [(2, 1), (2, 3), (1, 2)])
def test_worker_threads_restart_on_another_count(
    tmp_path: Path, one_worker: dict, before: int, after: int
) -> None:
    _run(tmp_path, "run", 10, {"PATHWAY_THREADS": str(before)})
    assert _run(tmp_path, "run", COMMITS, {"PATHWAY_THREADS": str(after)}) == one_worker


def test_worker_processes_restart_on_another_count(tmp_path: Path, one_worker: dict) -> None:
    _run(tmp_path, "run", 7, {}, spawn=2)
    _run(tmp_path, "run", 15, {}, spawn=3)
    assert _run(tmp_path, "run", COMMITS, {}, spawn=2) == one_worker
