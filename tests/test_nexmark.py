"""The Nexmark queries (benchmarks/nexmark) on reflow, fed through the Python connector in
small commits, against a from-scratch Polars computation of their final result."""

import math
import sys
from pathlib import Path

import pytest

import reflow as pw

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

from common import final_rows_from_update_csv
from nexmark import generator, reference
from nexmark.pipeline import run_query
from nexmark.queries import QUERIES

# 500 events per second of event time: 10,000 events span several 10 s windows.
EVENTS = generator.generate(10_000, seed=3, events_per_second=500)


def _canonical(rows) -> list[tuple]:
    """Rows as comparable tuples: numbers as floats rounded to 6 places, text as is."""
    def value(v):
        if isinstance(v, str):
            try:
                v = float(v)
            except ValueError:
                return v
        return round(float(v), 6) if isinstance(v, (int, float)) else v
    return sorted(tuple(value(v) for v in row) for row in rows)


# Commits of 700 events keep the stateful operators' deltas on their small-delta paths;
# commits of 5,000 take the large-delta (Polars) paths.
@pytest.mark.parametrize(
    "query,commit",
    [(q, 700) for q in sorted(QUERIES)] + [(q, 5_000) for q in ("q4", "q5", "q6", "q7", "q8")],
)
def test_query_matches_polars(query, commit, tmp_path):
    out = tmp_path / "result.csv"
    run_query(pw, query, EVENTS, out, commit=commit)
    columns = QUERIES[query][2]
    got = _canonical(final_rows_from_update_csv(out, columns))
    expected = _canonical(reference.compute(query, EVENTS).select(columns).rows())
    assert expected, f"{query}: the reference result is empty, the test would prove nothing"
    assert got == expected


def test_generator_follows_the_reference_mix_and_id_rules():
    events = generator.generate(5_000, seed=11)
    assert (len(events.persons), len(events.auctions), len(events.bids)) == (100, 300, 4_600)
    person_ids = [p[0] for p in events.persons]
    auction_ids = [a[0] for a in events.auctions]
    assert person_ids == list(range(1000, 1100))
    assert auction_ids == list(range(1000, 1300))
    # Half the bids go to the hot auction (a multiple of 100), the rest to in-flight ones.
    hot = sum(b[0] % 100 == 0 for b in events.bids) / len(events.bids)
    assert 0.45 < hot < 0.6
    assert all(b[0] <= max(auction_ids) + 10 for b in events.bids)
    prices = [b[2] for b in events.bids]
    assert min(prices) >= 100 and max(prices) <= 100_000_000
    # Timestamps advance by 0.1 ms per event.
    assert events.bids[-1][4] - events.persons[0][5] == math.floor(4_999 * 0.1)
    assert generator.generate(5_000, seed=11) == events
    assert generator.generate(5_000, seed=12) != events


def _worker(engine: str, tmp_path: Path) -> dict:
    import subprocess

    from common import parse_result

    worker = Path(__file__).resolve().parent.parent / "benchmarks" / "nexmark" / "worker.py"
    proc = subprocess.run(
        [sys.executable, str(worker), "--engine", engine, "--query", "q5", "--events", "3000",
         "--commit", "100", "--data-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    result = parse_result(proc.stdout)
    assert result is not None, proc.stdout
    return result


def test_worker_reports_the_same_result_as_polars(tmp_path):
    mine, reference_run = _worker("reflow", tmp_path), _worker("polars", tmp_path)
    assert mine["status"] == reference_run["status"] == "ok"
    assert mine["digest"] == reference_run["digest"]
    assert mine["metrics"]["events_per_cpu_s"] > 0
    assert list(tmp_path.glob("nexmark_3000_0.pickle"))


def test_streaming_workloads_run_at_every_commit_size():
    import run

    cases = {c.name: c for c in run.with_commit_sizes(run.CASES, [100, 1_000, 10_000])}
    for name in run.STREAMING:
        assert name in cases
        assert cases[f"{name}_commit100"].args[-2:] == ("--commit", "100")
        assert cases[f"{name}_commit10000"].quick_args[-2:] == ("--commit", "10000")
    assert "static_wordcount_1M_commit100" not in cases
