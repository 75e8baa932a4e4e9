"""Persistent runs on several workers: the leader checkpoints every worker's shard, and a
run killed with SIGKILL and restarted ends with the output of an uninterrupted one-worker
run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.persistence.harness import HERE, checkpointed_since, net_rows, run_with_kills
from tests.persistence.test_kill_restart import _file_feeder


def _wordcount(tmp: Path, kills: int, seed: int) -> str:
    """The streaming wordcount of ``pipeline_files.py`` over 60 files, killed ``kills`` times,
    each kill after a checkpoint was written since the (re)start."""
    tmp.mkdir()
    (tmp / "in").mkdir()
    feed, rows = _file_feeder(tmp / "in", files=60, seed=7)
    out = tmp / "out.csv"
    run_with_kills(
        "pipeline_files.py", [str(tmp / "in"), str(out), str(tmp / "state"), str(rows)],
        feed, kills=kills, seed=seed, window=(0.2, 1.0), ready=checkpointed_since(tmp / "state"),
    )
    return out.read_text()


def test_a_wordcount_on_two_worker_threads_survives_kill_9(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reference = _wordcount(tmp_path / "reference", kills=0, seed=1)
    monkeypatch.setenv("PATHWAY_THREADS", "2")
    killed = _wordcount(tmp_path / "killed", kills=4, seed=2)
    expected = net_rows(reference)
    assert expected and all(v == 1 for v in expected.values())
    assert net_rows(killed) == expected
    assert killed.count('"word","count"') == 1  # restarts appended after the checkpoint


def test_a_checkpoint_of_two_worker_threads_is_restored_by_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "in").mkdir()
    out, state = tmp_path / "out.csv", tmp_path / "state"

    def run(threads: int, expected_rows: int) -> str:
        done = subprocess.run(
            [sys.executable, str(HERE / "pipeline_files.py"), str(tmp_path / "in"), str(out),
             str(state), str(expected_rows)],
            capture_output=True, text=True, timeout=120,
            env={**__import__("os").environ, "PYTHONPATH": str(HERE.parent.parent),
                 "PATHWAY_THREADS": str(threads)},
        )
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stderr

    for name in ("a", "b", "c"):
        (tmp_path / "in" / f"{name}.csv").write_text("word\nalpha\nbeta\nalpha\ngamma\n")
    run(2, 12)
    first = out.read_text()
    (tmp_path / "in" / "d.csv").write_text("word\nalpha\ndelta\n")
    run(1, 14)  # the two workers' states merged into one: only the new file is read
    assert out.read_text().startswith(first)  # appended to, after the checkpoint
    assert net_rows(out.read_text()) == {
        (("word", "alpha"), ("count", "7")): 1, (("word", "beta"), ("count", "3")): 1,
        (("word", "gamma"), ("count", "3")): 1, (("word", "delta"), ("count", "1")): 1,
    }


def test_spawned_worker_processes_resume_from_their_checkpoint(tmp_path: Path) -> None:
    from tests.runtime.test_workers import _free_ports

    (tmp_path / "in").mkdir()
    out, state = tmp_path / "out.csv", tmp_path / "state"

    def spawn(expected_rows: int) -> None:
        subprocess.run(
            [sys.executable, "-m", "reflow.cli", "spawn", "-n", "2", "--first-port",
             str(_free_ports(2)), sys.executable, str(HERE / "pipeline_files.py"),
             str(tmp_path / "in"), str(out), str(state), str(expected_rows)],
            check=True, timeout=120,
        )

    for name in ("a", "b", "c"):
        (tmp_path / "in" / f"{name}.csv").write_text("word\nalpha\nbeta\nalpha\ngamma\n")
    spawn(12)
    for name in ("d", "e"):
        (tmp_path / "in" / f"{name}.csv").write_text("word\nalpha\ndelta\n")
    spawn(16)  # continues from the checkpoint: only the new files are read
    assert net_rows(out.read_text()) == {
        (("word", "alpha"), ("count", "8")): 1, (("word", "beta"), ("count", "3")): 1,
        (("word", "gamma"), ("count", "3")): 1, (("word", "delta"), ("count", "2")): 1,
    }
