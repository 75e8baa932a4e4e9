"""Smoke tests of the benchmark suite: the runner and the startup workload in quick mode for
reflow only (no competitor venvs), and the measurement helpers. No timing is asserted."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest

BENCH_DIR = Path(__file__).resolve().parent.parent / "benchmarks"
sys.path.insert(0, str(BENCH_DIR))

import common  # noqa: E402


def _finite_positive(value: object) -> bool:
    return isinstance(value, float | int) and math.isfinite(value) and value >= 0


def test_startup_workload_reports_well_formed_result() -> None:
    proc = subprocess.run(
        [
            sys.executable,
            str(BENCH_DIR / "workloads" / "startup.py"),
            "--engine",
            "reflow",
            "--quick",
            "--size",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    result = common.parse_result(proc.stdout)
    assert result is not None, proc.stdout
    assert result["workload"] == "startup"
    assert result["engine"] == "reflow"
    assert result["status"] == "ok", result["note"]
    metrics = result["metrics"]
    for key in ("interpreter_s", "import_s", "importtime_s", "empty_pipeline_s"):
        assert _finite_positive(metrics[key]), (key, metrics)


def test_runner_quick_startup_writes_report(tmp_path: Path) -> None:
    report = tmp_path / "report.md"
    proc = subprocess.run(
        [
            sys.executable,
            str(BENCH_DIR / "run.py"),
            "--quick",
            "--only",
            "startup",
            "--engines",
            "reflow",
            "--no-install",
            "--output",
            str(report),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    text = report.read_text()
    assert "## Machine" in text and "## Versions" in text and "## Goals" in text
    assert "--quick --only startup" in text
    row = next(line for line in text.splitlines() if line.startswith("| reflow | ok |"))
    assert len(row.split("|")) == 7  # system, status and three metrics
    goal = next(line for line in text.splitlines() if "import reflow < 0.5 s" in line)
    assert goal.rstrip(" |").endswith(("met", "**MISSED**"))


def test_digest_ignores_order_and_number_spelling() -> None:
    a = common.digest_rows([("b", 2), ("a", 1.0)])
    b = common.digest_rows([("a", "1"), ("b", "2")])
    assert a == b
    assert a != common.digest_rows([("a", 1), ("b", 3)])
    assert a.startswith("2:")


def test_final_rows_net_of_diffs(tmp_path: Path) -> None:
    path = tmp_path / "out.csv"
    path.write_text(
        "word,count,time,diff\na,1,2,1\nb,1,2,1\na,1,4,-1\na,2,4,1\nb,1,6,-1\nb,1,8,1\n"
    )
    rows = common.final_rows_from_update_csv(path, ["word", "count"])
    assert sorted(rows) == [("a", "2"), ("b", "1")]


def test_final_rows_rejects_extra_retraction(tmp_path: Path) -> None:
    path = tmp_path / "out.csv"
    path.write_text("word,count,time,diff\na,1,2,-1\n")
    with pytest.raises(ValueError, match="retracted"):
        common.final_rows_from_update_csv(path, ["word", "count"])


def test_run_process_reports_child_peak_memory() -> None:
    code = "b = b'x' * (200 * 1024 * 1024); print('done')"
    run = common.run_process([sys.executable, "-c", code])
    assert run.returncode == 0
    assert run.stdout.strip() == "done"
    assert run.peak_rss_mb > 150


def test_run_process_reports_failure_and_timeout() -> None:
    failed = common.run_process([sys.executable, "-c", "import sys; sys.exit(3)"])
    assert failed.returncode == 3 and not failed.timed_out
    slow = common.run_process([sys.executable, "-c", "import time; time.sleep(30)"], timeout=0.5)
    assert slow.timed_out


def test_percentile_nearest_rank() -> None:
    values = list(range(1, 101))
    assert common.percentile(values, 50) == 50
    assert common.percentile(values, 99) == 99
    assert common.percentile([5.0], 99) == 5.0


def test_parse_result_accepts_prefixed_and_bare_json() -> None:
    prefixed = 'noise\nBENCHMARK-RESULT {"status": "ok", "metrics": {"a_s": 1}}\n'
    assert common.parse_result(prefixed)["metrics"] == {"a_s": 1}
    assert common.parse_result('log line\n{"status": "ok"}\n') == {"status": "ok"}
    assert common.parse_result("nothing here\n") is None
