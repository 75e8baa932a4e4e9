"""A persistent run restarted on another number of workers (threads, processes, Ray actors)
re-partitions every operator's state by key and continues as if nothing happened: the update
stream, commit by commit, is the one of an uninterrupted one-worker run."""

from __future__ import annotations

import csv
import logging
import os
import signal
import subprocess
import sys
import textwrap
import time
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


def _streams(out: Path) -> dict[str, list[list[str]]]:
    return {output: _by_commit(Path(f"{out}-{output}.csv")) for output in OUTPUTS}


def _in_process(tmp: Path, name: str, commits: int, threads: int,
                monkeypatch: pytest.MonkeyPatch) -> None:
    """Run ``PROGRAM`` in this process on ``threads`` worker threads."""
    from reflow.plan.nodes import forget_live_nodes
    from reflow.runtime.runner import clear_outputs

    clear_outputs()
    forget_live_nodes()
    monkeypatch.setenv("PATHWAY_THREADS", str(threads))
    monkeypatch.delenv("REFLOW_RAY_ACTORS", raising=False)
    monkeypatch.setattr(sys, "argv", ["main.py", str(tmp / name), str(tmp / f"{name}-state"),
                                      str(commits)])
    exec(compile(PROGRAM, "main.py", "exec"), {"__name__": "__main__"})


def _command(tmp: Path, name: str, commits: int, *extra: str) -> list[str]:
    program = tmp / "main.py"
    program.write_text(PROGRAM)
    return [sys.executable, str(program), str(tmp / name), str(tmp / f"{name}-state"),
            str(commits), *extra]


def _env(**variables: str) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items()
             if k not in ("PATHWAY_THREADS", "REFLOW_RAY_ACTORS")}
    return {**clean, "PYTHONPATH": str(Path(__file__).parent.parent.parent), **variables}


@pytest.fixture(scope="module")
def one_worker(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The update streams of an uninterrupted run on one worker."""
    tmp = tmp_path_factory.mktemp("one")
    with pytest.MonkeyPatch.context() as monkeypatch:
        _in_process(tmp, "one", COMMITS, 1, monkeypatch)
    stream = _streams(tmp / "one")
    assert len(stream["totals"]) == COMMITS  # one logical time per commit
    return stream


@pytest.mark.parametrize(("before", "after"), [(2, 1), (2, 3), (1, 2)])
def test_worker_threads_restart_on_another_count(
    tmp_path: Path, one_worker: dict, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture, before: int, after: int,
) -> None:
    _in_process(tmp_path, "run", 10, before, monkeypatch)
    with caplog.at_level(logging.INFO, logger="reflow"):
        _in_process(tmp_path, "run", COMMITS, after, monkeypatch)
    assert f"checkpoint of {before} worker(s) re-partitioned for {after}" in caplog.text
    assert _streams(tmp_path / "run") == one_worker


def test_worker_processes_restart_on_another_count(tmp_path: Path, one_worker: dict) -> None:
    for processes, commits in ((2, 9), (3, COMMITS)):
        command = [sys.executable, "-m", "reflow.cli", "spawn", "--processes", str(processes),
                   "--first-port", str(_free_ports(processes)),
                   *_command(tmp_path, "run", commits)]
        done = subprocess.run(command, capture_output=True, text=True, timeout=240,
                              env=_env())
        assert done.returncode == 0, done.stderr[-3000:]
    assert "checkpoint of 2 worker(s) re-partitioned for 3" in done.stderr
    assert _streams(tmp_path / "run") == one_worker


def test_a_ray_run_killed_with_its_actors_restarts_from_disk_on_more_actors(
    ray_cluster, tmp_path: Path, one_worker: dict
) -> None:
    """The driver of a persistent run on 2 Ray actors of a running cluster is killed with
    SIGKILL (its actors die with it) after a few checkpoints; started again on 3 actors, it
    restores the checkpoint from disk and ends with the one-worker update stream."""
    env = _env(RAY_ADDRESS=ray_cluster.get_runtime_context().gcs_address,
               REFLOW_RAY_CPUS_PER_ACTOR="0.5")
    state = tmp_path / "run-state"
    killed = subprocess.Popen(_command(tmp_path, "run", COMMITS, "0.3"),
                              env={**env, "REFLOW_RAY_ACTORS": "2"},
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while len(list(state.glob("checkpoint-*.bin"))) < 2 and time.monotonic() < deadline:
        assert killed.poll() is None, "the run ended before it was killed"
        time.sleep(0.05)
    time.sleep(0.5)
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    assert len(_by_commit(tmp_path / "run-totals.csv")) < COMMITS  # killed half-way
    done = subprocess.run(_command(tmp_path, "run", COMMITS), capture_output=True, text=True,
                          timeout=240, env={**env, "REFLOW_RAY_ACTORS": "3"})
    assert done.returncode == 0, done.stderr[-3000:]
    assert "checkpoint of 2 worker(s) re-partitioned for 3" in done.stderr
    assert _streams(tmp_path / "run") == one_worker


def test_an_operator_state_that_cannot_move_is_refused_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import reflow as pw
    from reflow.plan.nodes import forget_live_nodes
    from reflow.runtime.runner import clear_outputs

    def run(threads: int) -> None:
        clear_outputs()
        forget_live_nodes()
        monkeypatch.setenv("PATHWAY_THREADS", str(threads))
        t = pw.debug.table_from_markdown("k | v\n" + "\n".join(f"{i % 3} | {i}"
                                                                for i in range(12)))
        ordered = t.sort(key=t.v, instance=t.k)
        pw.io.csv.write(ordered, tmp_path / "out.csv")
        pw.run(persistence_config=pw.persistence.Config(
            pw.persistence.Backend.filesystem(tmp_path / "state")))

    run(2)
    with pytest.raises(pw.persistence.PersistenceError,
                       match=r"written by a run on 2 worker\(s\) and this run has 3, but "
                             r"SortOperator .* cannot be moved"):
        run(3)
