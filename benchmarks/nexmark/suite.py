"""The Nexmark suite: q0-q8 on reflow, Pathway, Bytewax (q0-q2) and the Polars reference,
each query in a fresh process per system, results checked against Polars, and a report in
``benchmarks/results/nexmark.md`` (included in ``BENCHMARKS.md``).

    python benchmarks/run.py --suite nexmark --events 1000000
"""

from __future__ import annotations

import datetime
import os
import statistics
import sys
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent.parent
REPO_DIR = BENCH_DIR.parent
sys.path.insert(0, str(BENCH_DIR))

from common import OK, machine_info, markdown_table, parse_result, run_process  # noqa: E402

from nexmark.queries import QUERIES  # noqa: E402

WORKER = Path(__file__).resolve().parent / "worker.py"
ENGINES = ("reflow", "pathway", "bytewax", "polars")
REPORT = BENCH_DIR / "results" / "nexmark.md"
START, END = "<!-- nexmark:start -->", "<!-- nexmark:end -->"

# Throughput per core of Flink 1.13 from the Nexmark project's published results
# (github.com/nexmark/nexmark, README "Benchmark Results": 100M events, 8 workers).
FLINK_PER_CORE = {"q0": 155_020, "q1": 157_940, "q2": 175_210, "q3": 152_120,
                  "q4": 34_330, "q5": 22_140, "q7": 12_330, "q8": 146_140}


def run_suite(pythons: dict[str, Path], events: int, repeat: int, timeout: float,
              commit: int, command: str, log=print) -> int:
    """Measure every query on every system in ``pythons``; write the report; return the
    number of failed or wrong runs."""
    engines = [e for e in ENGINES if e in pythons]
    prepare = [str(pythons.get("polars", pythons[engines[0]])), str(WORKER), "--engine",
               "polars", "--query", "q0", "--events", str(events), "--prepare"]
    log(f"nexmark: generating {events:,} events")
    run_process(prepare, timeout=timeout)
    load = os.getloadavg()[0]
    results: dict[str, dict[str, dict]] = {}
    failures = 0
    for query in QUERIES:
        results[query] = {}
        for engine in engines:
            runs = []
            for _ in range(repeat):
                cmd = [str(pythons[engine]), str(WORKER), "--engine", engine, "--query", query,
                       "--events", str(events), "--commit", str(commit)]
                env = {**os.environ, "PATHWAY_THREADS": "1"}
                proc = run_process(cmd, env=env, timeout=timeout, cwd=REPO_DIR)
                result = parse_result(proc.stdout)
                if result is None or proc.returncode != 0:
                    tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["?"]
                    result = {"status": "error", "note": tail[0][:200], "metrics": {}}
                result["peak_rss_mb"] = proc.peak_rss_mb
                runs.append(result)
                if result["status"] != OK:
                    break
            results[query][engine] = _summary(runs)
            log(f"  {query} {engine}: {_brief(results[query][engine])}")
        failures += _check(results[query])
    text = _report(results, engines, events, repeat, commit, command, load)
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(text)
    _splice_into_benchmarks(text)
    log(text)
    return failures


def _summary(runs: list[dict]) -> dict:
    last = runs[-1]
    if last["status"] != OK:
        return last
    merged = dict(last)
    merged["metrics"] = {
        k: statistics.median(r["metrics"][k] for r in runs) for k in last["metrics"]
    }
    merged["peak_rss_mb"] = statistics.median(r["peak_rss_mb"] for r in runs)
    return merged


def _brief(summary: dict) -> str:
    if summary["status"] != OK:
        return f"{summary['status']} {summary.get('note', '')}"
    m = summary["metrics"]
    return f"{m['events_per_s']:,.0f} ev/s, {m['events_per_cpu_s']:,.0f} ev/CPU-s"


def _check(by_engine: dict[str, dict]) -> int:
    """Mark runs whose result differs from the reference (Polars, else Pathway)."""
    reference = next((by_engine[e]["digest"] for e in ("polars", "pathway")
                      if e in by_engine and by_engine[e]["status"] == OK), None)
    failures = 0
    for summary in by_engine.values():
        if summary["status"] == "error":
            failures += 1
        elif summary["status"] == OK and reference and summary["digest"] != reference:
            summary["status"] = "wrong_result"
            failures += 1
    return failures


def _cell(summary: dict | None, metric: str) -> str:
    if summary is None:
        return "-"
    if summary["status"] != OK:
        return summary["status"].replace("_", " ")
    return f"{summary['metrics'][metric] / 1000:,.1f}k"


def _ratio(by_engine: dict, metric: str, other: str) -> str:
    mine, theirs = by_engine.get("reflow"), by_engine.get(other)
    if not mine or not theirs or mine["status"] != OK or theirs["status"] != OK:
        return "-"
    return f"{mine['metrics'][metric] / theirs['metrics'][metric]:.2f}x"


def _report(results: dict, engines: list[str], events: int, repeat: int, commit: int,
            command: str, load: float) -> str:
    streaming = [e for e in engines if e != "polars"]
    header = ["query", *(f"{e} ev/CPU-s" for e in streaming), "Flink ev/core-s (published)",
              *(f"reflow / {e}" for e in streaming if e != "reflow"), "result"]
    rows = []
    for query, by_engine in results.items():
        checked = all(s["status"] == OK for s in by_engine.values() if s["status"] != "unsupported")
        rows.append([
            query, *(_cell(by_engine.get(e), "events_per_cpu_s") for e in streaming),
            f"{FLINK_PER_CORE[query] / 1000:,.1f}k" if query in FLINK_PER_CORE else "not run",
            *(_ratio(by_engine, "events_per_cpu_s", e) for e in streaming if e != "reflow"),
            "same as Polars" if checked else "see below",
        ])
    wall_header = ["query", *(f"{e} ev/s (wall)" for e in engines)]
    wall_rows = [
        [q, *(_cell(b.get(e), "events_per_s") for e in engines)] for q, b in results.items()
    ]
    notes = [
        f"- {q} {e}: {s['status']} {s.get('note', '')}".rstrip()
        for q, b in results.items() for e, s in b.items() if s["status"] != OK
    ]
    machine = machine_info()
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return "\n".join([
        "### Nexmark q0-q8",
        "",
        f"`{command}` ({now}; {events:,} events, a commit per {commit:,} events, "
        f"median of {repeat} run(s) per system, load average {load:.2f} at start; "
        f"{machine.get('cpu', '')}).",
        "",
        "Throughput per core: events of the whole generated stream (persons, auctions and "
        "bids) divided by the CPU seconds the process used while running the query (all "
        "threads; Pathway with `PATHWAY_THREADS=1`). Each system runs the query through its "
        "own Python input path and writes the result (reflow and Pathway to CSV through "
        "`pw.io.csv.write`; Bytewax collects it in a list), so these figures include source "
        "and sink cost. Streams a query does not read are not fed. Flink's column is the "
        "Nexmark project's published Flink 1.13 result on a different machine (3+ nodes "
        "of 8 cores, 10M events/s datagen source): a scale reference only, not a same-run "
        "comparison. See `docs/nexmark.md`.",
        "",
        markdown_table(header, rows),
        "",
        markdown_table(wall_header, wall_rows),
        "",
        *(["Runs that did not produce a checked result:", "", *notes, ""] if notes else []),
    ])


def _splice_into_benchmarks(text: str) -> None:
    """Replace (or append) the Nexmark section of ``BENCHMARKS.md``."""
    path = REPO_DIR / "BENCHMARKS.md"
    current = path.read_text() if path.exists() else ""
    block = f"{START}\n{text}\n{END}\n"
    if START in current and END in current:
        head, rest = current.split(START, 1)
        current = head + block + rest.split(END, 1)[1].lstrip("\n")
    else:
        current = current.rstrip("\n") + "\n\n## Nexmark\n\n" + block
    path.write_text(current)
