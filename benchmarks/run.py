"""Run every benchmark workload on reflow and its competitors; print and write the results.

    python benchmarks/run.py [--quick] [--only NAME ...] [--engines reflow,pathway,...]
                             [--repeat N] [--no-install] [--output PATH]
                             [--commits 100,1000,10000]
    python benchmarks/run.py --suite nexmark [--events N] [--commit N] [--repeat N]

Competitors are installed into throwaway venvs under ``benchmarks/.venvs`` (see
``venvs.py``); a failed install is reported and that system skipped. Inputs are generated
deterministically into ``benchmarks/data``. Each workload runs once per system to check that
every system computes the same result (a digest of the final output), then ``--repeat``
times in fresh processes; the median, min and max of every metric are reported, with the
ratios reflow / other and the goals of the benchmark issue. A full run writes
``BENCHMARKS.md`` at the repository root; ``--quick`` (small sizes, one run, for CI) writes
``benchmarks/data/BENCHMARKS.quick.md`` unless ``--output`` is given, and never fails on a
timing.
"""

from __future__ import annotations

import argparse
import datetime
import math
import os
import shlex
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    BENCH_DIR,
    ENGINES,
    ERROR,
    NOT_IMPLEMENTED,
    OK,
    REPO_DIR,
    Measurement,
    Summary,
    compile_reflow_bytecode,
    fmt_number,
    machine_info,
    markdown_table,
    parse_result,
    run_process,
)
from venvs import ensure

WORKLOADS = BENCH_DIR / "workloads"
WRONG_RESULT = "wrong_result"
# A run longer than this is not repeated: its median would cost more than it tells.
LONG_RUN_S = 150.0


@dataclass(frozen=True)
class Metric:
    """A metric a workload reports, how to show it and which direction is better."""

    key: str
    label: str
    unit: str = ""
    higher_is_better: bool = False


@dataclass(frozen=True)
class Goal:
    """A target ratio reflow / ``other`` on ``metric`` (or an absolute bound if ``other`` is
    ``None``): at most ``bound`` when lower is better, at least ``bound`` otherwise."""

    metric: str
    other: str | None
    bound: float
    text: str


@dataclass(frozen=True)
class Adapter:
    """How to run a script that predates the protocol: its command line per engine and a
    parser turning its output into a protocol result (``None`` when it has none)."""

    command: Callable[[str, Path, Path, bool], list[str] | None]
    parse: Callable[[str, str], dict | None]
    env: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Case:
    """One benchmark: a script run with fixed arguments for each engine."""

    name: str
    script: Path
    title: str
    args: tuple[str, ...] = ()
    quick_args: tuple[str, ...] = ("--quick",)
    engines: tuple[str, ...] = ENGINES
    metrics: tuple[Metric, ...] = ()
    goals: tuple[Goal, ...] = ()
    in_quick: bool = True
    about: str = ""
    external: bool = False
    adapter: Adapter | None = None


def _latency_command(engine: str, python: Path, script: Path, quick: bool) -> list[str] | None:
    sizes = ["--rows", "20000", "--groups", "2000", "--updates", "100"] if quick else []
    if engine == "reflow":
        return [str(python), str(script), "--skip-pathway", *sizes]
    if engine == "pathway":
        return [str(python), str(script), "--pathway-worker", *sizes]
    return None


def _latency_parse(engine: str, stdout: str) -> dict | None:
    """``update_latency.py`` prints a sentence for reflow and a JSON line for Pathway."""
    import json
    import re

    if engine == "reflow":
        found = re.search(r"median ([\d.]+) ms, p99 ([\d.]+) ms", stdout)
        if not found or "final output checked" not in stdout:
            return None
        median_ms, p99_ms = float(found.group(1)), float(found.group(2))
    else:
        lines = [line for line in stdout.splitlines() if line.startswith("{")]
        if not lines:
            return None
        data = json.loads(lines[-1])
        median_ms, p99_ms = data["median_ms"], data["p99_ms"]
    return {
        "status": OK,
        "metrics": {"latency_median_s": median_ms / 1e3, "latency_p99_s": p99_ms / 1e3},
        "digest": None,
        "note": "reflow's output checked against Polars by the script"
        if engine == "reflow"
        else "",
    }


LATENCY_ADAPTER = Adapter(_latency_command, _latency_parse, (("PATHWAY_THREADS", "1"),))

STATIC_ABOUT = (
    "Same pipeline for reflow and Pathway (`pw.io.csv.read` static, `groupby` + "
    "`reducers.count`, `pw.io.csv.write`); Polars: `read_csv` + `group_by().len()` + "
    "`write_csv`; Bytewax: `FileSource` + `count_final`. Process wall and peak RSS "
    "cover the whole process (interpreter, imports, digest of the output); "
    '"pipeline" is from building the pipeline to the output being written.'
)

WALL = Metric("wall_s", "process wall", "s")
RSS = Metric("peak_rss_mb", "peak RSS", "MiB")

CASES: list[Case] = [
    Case(
        "static_wordcount_1M",
        WORKLOADS / "static_wordcount.py",
        "Static wordcount, 1M words from CSV",
        about=STATIC_ABOUT,
        args=("--size", "1000000"),
        metrics=(WALL, RSS, Metric("compute_s", "pipeline", "s")),
        goals=(
            Goal("wall_s", "pathway", 0.5, "static wordcount 1M: wall <= 0.5x Pathway"),
            Goal("wall_s", "bytewax", 1 / 1.5, "static wordcount 1M: wall <= 1/1.5x Bytewax"),
            Goal("wall_s", "polars", 1.5, "static wordcount 1M: wall <= 1.5x Polars"),
            Goal("peak_rss_mb", "pathway", 1.0, "static wordcount 1M: peak RSS <= Pathway's"),
        ),
    ),
    Case(
        "static_wordcount_5M",
        WORKLOADS / "static_wordcount.py",
        "Static wordcount, 5M words from CSV",
        about=STATIC_ABOUT,
        args=("--size", "5000000"),
        metrics=(WALL, RSS, Metric("compute_s", "pipeline", "s")),
        goals=(
            Goal("wall_s", "pathway", 0.25, "static wordcount 5M: wall <= 0.25x Pathway"),
            Goal("peak_rss_mb", "pathway", 0.5, "static wordcount 5M: peak RSS <= 0.5x Pathway"),
            Goal("peak_rss_mb", "polars", 2.5, "static wordcount 5M: peak RSS <= 2.5x Polars"),
            Goal("wall_s", "bytewax", 1 / 1.5, "static wordcount 5M: wall <= 1/1.5x Bytewax"),
            Goal("wall_s", "polars", 1.5, "static wordcount 5M: wall <= 1.5x Polars"),
        ),
        in_quick=False,
    ),
    Case(
        "streaming_wordcount",
        WORKLOADS / "streaming_wordcount.py",
        "Streaming wordcount, 1M words through the Python source, commits of 1,000",
        about=(
            "reflow and Pathway: a `pw.io.python.ConnectorSubject` calling `next(word=...)` "
            "and `commit()` every 1,000 words, `groupby` + `reducers.count`, every change "
            "written with `pw.io.csv.write`. Bytewax: `TestingSource` in batches of 1,000, "
            "`key_on` + a running count in `stateful_map`, every new count to a `FileSink`. "
            "Throughput = words / time of `pw.run()` (`run_main`)."
        ),
        engines=("reflow", "pathway", "bytewax"),
        metrics=(Metric("words_per_s", "throughput (words/s)", "", True), RSS),
        goals=(
            Goal("words_per_s", "pathway", 2.0, "streaming wordcount: throughput >= 2x Pathway"),
            Goal("words_per_s", "bytewax", 1.5,
                 "streaming wordcount: throughput >= 1.5x Bytewax"),
            Goal("peak_rss_mb", "pathway", 1.0, "streaming wordcount: peak RSS <= Pathway's"),
        ),
    ),
    Case(
        "update_latency",
        BENCH_DIR / "update_latency.py",
        "Single-row update latency on a 1M-row groupby + join state",
        engines=("reflow", "pathway"),
        metrics=(
            Metric("latency_median_s", "median latency", "s"),
            Metric("latency_p99_s", "p99 latency", "s"),
            RSS,
        ),
        goals=(
            Goal("latency_median_s", "pathway", 0.5,
                 "update latency: median <= 0.5x Pathway's"),
            Goal("peak_rss_mb", "pathway", 1.0, "update latency: peak RSS <= Pathway's"),
        ),
        external=True,
        adapter=LATENCY_ADAPTER,
        about=(
            "Measured by `benchmarks/update_latency.py`: 1,000 one-row updates, each its own "
            "logical time. For reflow the clock runs from `Dataflow.run_time` to the output "
            "sink, for Pathway from the Python subject's `commit()` to `on_time_end`; reflow's "
            "final output is checked against Polars by the script, Pathway's is not compared."
        ),
    ),
    Case(
        "join_maintenance",
        WORKLOADS / "join_maintenance.py",
        "Join maintenance: 1M orders x 100k customers, then 100k updates in commits of 1,000",
        about=(
            "reflow and Pathway: orders and customers read with `pw.io.csv.read` (static, "
            "primary keys), 100k updates of distinct orders (new customer and amount) from a "
            "Python subject, one `commit()` per 1,000, applied with `orders.update_rows`; the "
            "join on `customer_id` is written with `pw.io.csv.write`. Updates start once the "
            "initial join is complete; update throughput = updates / (end of run - first "
            "update). Polars computes the final state from scratch (reference for the result "
            "check, not a throughput competitor)."
        ),
        engines=("reflow", "pathway", "polars"),
        metrics=(
            Metric("updates_per_s", "update throughput (rows/s)", "", True),
            Metric("load_s", "initial join", "s"),
            Metric("final_state_s", "final state from scratch", "s"),
            RSS,
        ),
        goals=(
            Goal("updates_per_s", "pathway", 2.0, "join maintenance: throughput >= 2x Pathway"),
            Goal("peak_rss_mb", "pathway", 1.0, "join maintenance: peak RSS <= Pathway's"),
        ),
    ),
    Case(
        "windowed",
        WORKLOADS / "windowed.py",
        "Windowed aggregation: 1M events, 1-minute tumbling windows, 5% late",
        about=(
            "reflow and Pathway: events from a Python subject, one `commit()` per 1,000, "
            "`pw.temporal.windowby(..., tumbling(duration=60))` + count and sum, written "
            "with `pw.io.csv.write`; late events (1 to 10 minutes behind) revise their "
            "window. Polars computes the final windows from scratch (the reference). "
            "Bytewax is not run: its windows drop late events, so its results differ."
        ),
        engines=("reflow", "pathway", "polars"),
        metrics=(Metric("events_per_s", "throughput (events/s)", "", True), RSS),
        goals=(
            Goal("events_per_s", "pathway", 2.0,
                 "windowed aggregation: throughput >= 2x Pathway"),
            Goal("peak_rss_mb", "pathway", 1.0, "windowed aggregation: peak RSS <= Pathway's"),
        ),
    ),
    Case(
        "startup",
        WORKLOADS / "startup.py",
        "Import time and empty-pipeline start-up (fresh processes)",
        about=(
            'Fresh interpreters; `import` = wall time of `python -c "import X"` minus '
            "`python -c pass`; `-X importtime` = the import statement's own total; empty "
            "pipeline = a process that builds a one-row table with "
            "`pw.debug.table_from_markdown` and prints it with `pw.debug.compute_and_print` "
            "(Polars: a one-row DataFrame; Bytewax: a one-item flow), minus `python -c pass`."
        ),
        metrics=(
            Metric("import_s", "import (wall)", "s"),
            Metric("importtime_s", "import (-X importtime)", "s"),
            Metric("empty_pipeline_s", "empty pipeline", "s"),
        ),
        goals=(Goal("import_s", None, 0.5, "import reflow < 0.5 s"),),
    ),
]


@dataclass
class CaseResult:
    case: Case
    measurements: dict[str, Measurement] = field(default_factory=dict)
    reference: str | None = None
    note: str = ""


# --------------------------------------------------------------------------- running


def interpreters(engines: list[str], install: bool, log) -> tuple[dict[str, Path], dict]:
    """The Python of every engine that can run, and notes/versions for all of them."""
    found: dict[str, Path] = {}
    info: dict[str, dict[str, str]] = {}
    if "reflow" in engines:
        found["reflow"] = Path(sys.executable)
        compile_reflow_bytecode()
        info["reflow"] = {"version": _reflow_version(), "note": _reflow_note()}
    for name in engines:
        if name == "reflow":
            continue
        status = ensure(name, install=install, log=log)
        info[name] = {"version": status.version or "-", "note": status.note}
        if status.python is not None:
            found[name] = status.python
        else:
            log(f"  skipping {name}: {status.note}")
    return found, info


def _reflow_note() -> str:
    import importlib.metadata

    parts = [f"Python {sys.version.split()[0]}"]
    for dist in ("polars", "numpy"):
        try:
            parts.append(f"{dist} {importlib.metadata.version(dist)}")
        except importlib.metadata.PackageNotFoundError:
            pass
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"],
        capture_output=True,
        text=True,
        cwd=REPO_DIR,
    ).stdout.strip()
    if dirty:
        parts.append("working tree has uncommitted changes")
    return ", ".join(parts)


def _reflow_version() -> str:
    import importlib.metadata

    try:
        version = importlib.metadata.version("reflow")
    except importlib.metadata.PackageNotFoundError:
        version = "source"
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=REPO_DIR
    ).stdout.strip()
    return f"{version} ({commit})" if commit else version


def run_case(
    case: Case, pythons: dict[str, Path], quick: bool, repeat: int, timeout: float, log
) -> CaseResult:
    result = CaseResult(case)
    args = list(case.quick_args if quick else case.args)
    if case.external and not case.script.exists():
        result.note = f"`{case.script.name}` does not exist yet: not measured."
        log(f"  {result.note}")
        return result
    prepare = run_process(
        [sys.executable, str(case.script), *args, "--prepare"]
        if case.adapter is None
        else [sys.executable, "-c", "pass"],
        cwd=REPO_DIR,
        timeout=timeout,
    )
    if prepare.returncode != 0:
        result.note = f"input generation failed: {prepare.stderr.strip()[-300:]}"
        log(f"  {result.note}")
        return result
    for engine in case.engines:
        if engine not in pythons:
            result.measurements[engine] = Measurement(
                case.name, engine, "skipped", note="not installed"
            )
            continue
        result.measurements[engine] = measure(
            case, engine, pythons[engine], args, repeat, timeout, log
        )
    check_results(result, log)
    return result


def measure(
    case: Case, engine: str, python: Path, args: list[str], repeat: int, timeout: float, log
) -> Measurement:
    cmd: list[str] | None = [str(python), str(case.script), "--engine", engine, *args]
    parse = parse_result
    env = dict(os.environ)
    if case.adapter is not None:
        cmd = case.adapter.command(engine, python, case.script, "--quick" in args)
        env.update(case.adapter.env)

        def parse(stdout: str) -> dict | None:
            return case.adapter.parse(engine, stdout)

    if cmd is None:
        return Measurement(case.name, engine, "unsupported", note="not run by this script")
    if engine != "reflow":
        env.pop("PYTHONPATH", None)
    samples: dict[str, list[float]] = {}
    digest: str | None = None
    status, note = OK, ""
    for i in range(repeat):
        run = run_process(cmd, env=env, timeout=timeout, cwd=REPO_DIR)
        parsed = parse(run.stdout)
        if run.timed_out:
            status, note = ERROR, f"timed out after {timeout:.0f} s"
        elif parsed is None:
            status = ERROR
            tail = run.stderr.strip().splitlines()[-1:] or ["no output"]
            note = f"exit code {run.returncode}, no result line: {tail[0][:300]}"
        elif parsed.get("status", OK) != OK:
            status, note = parsed.get("status", ERROR), parsed.get("note", "")
        elif run.returncode != 0:
            status, note = ERROR, f"exit code {run.returncode} after a result line"
        if status != OK:
            break
        if i == 0:
            digest = parsed.get("digest")
        elif parsed.get("digest") != digest:
            status, note = WRONG_RESULT, "the result changed between two runs"
            break
        metrics = dict(parsed.get("metrics", {}))
        metrics.setdefault("wall_s", run.wall_s)
        metrics.setdefault("peak_rss_mb", run.peak_rss_mb)
        for key, value in metrics.items():
            if isinstance(value, (int, float)):
                samples.setdefault(key, []).append(float(value))
        if i + 1 < repeat and run.wall_s > LONG_RUN_S:
            note = f"measured once: one run takes {run.wall_s:.0f} s (> {LONG_RUN_S:.0f} s)"
            break
    summaries = {key: Summary.of(values) for key, values in samples.items()}
    log(f"  {engine:8s} {status:16s} {_brief(case, summaries)} {note}".rstrip())
    return Measurement(case.name, engine, status, summaries, digest, note)


def _brief(case: Case, summaries: dict[str, Summary]) -> str:
    parts = []
    for metric in case.metrics:
        if metric.key in summaries:
            parts.append(f"{metric.key}={fmt_number(summaries[metric.key].median, metric.unit)}")
    return " ".join(parts)


def check_results(result: CaseResult, log) -> None:
    """Every system must compute the same final result before its timings count."""
    ok = {e: m for e, m in result.measurements.items() if m.status == OK and m.digest}
    if not ok:
        return
    for reference in ("polars", "pathway", "bytewax", "reflow"):
        if reference in ok:
            break
    result.reference = reference
    expected = ok[reference].digest
    for engine, m in ok.items():
        if m.digest != expected:
            m.status = WRONG_RESULT
            m.note = f"result {m.digest} differs from {reference}'s {expected}"
            log(f"  {engine}: {m.note}")


# --------------------------------------------------------------------------- reporting


def ratio(case_result: CaseResult, metric: str, other: str) -> float | None:
    ours = case_result.measurements.get("reflow")
    theirs = case_result.measurements.get(other)
    if not ours or not theirs or ours.status != OK or theirs.status != OK:
        return None
    if metric not in ours.metrics or metric not in theirs.metrics:
        return None
    a, b = ours.metrics[metric].median, theirs.metrics[metric].median
    if b == 0 or math.isnan(a) or math.isnan(b):
        return None
    return a / b


def fmt_ratio(value: float) -> str:
    """A ratio with two decimals, or two significant digits when it is below 0.1."""
    return f"{value:.2f}x" if value >= 0.1 else f"{value:.2g}x"


def goal_rows(results: list[CaseResult]) -> tuple[list[list[str]], list[str]]:
    rows, missed = [], []
    for res in results:
        for goal in res.case.goals:
            higher = next(
                (m.higher_is_better for m in res.case.metrics if m.key == goal.metric), False
            )
            if goal.other is None:
                ours = res.measurements.get("reflow")
                value = (
                    ours.metrics[goal.metric].median
                    if ours and ours.status == OK and goal.metric in ours.metrics
                    else None
                )
                shown = fmt_number(value, "s") if value is not None else "-"
            else:
                value = ratio(res, goal.metric, goal.other)
                shown = fmt_ratio(value) if value is not None else "-"
            if value is None:
                verdict = "not measured: " + _why_not(res, goal.other)
            elif (value >= goal.bound) if higher else (value <= goal.bound):
                verdict = "met"
            else:
                verdict = "**MISSED**"
                missed.append(f"{goal.text}: measured {shown}")
            rows.append([goal.text, shown, verdict])
    return rows, missed


def _why_not(res: CaseResult, other: str | None) -> str:
    if res.note:
        return _one_line(res.note, 160)
    reasons = []
    for engine in ("reflow", other):
        if engine is None:
            continue
        m = res.measurements.get(engine)
        if m is None:
            reasons.append(f"{engine} not run ({res.note or 'workload script missing'})")
        elif m.status != OK:
            reasons.append(f"{engine} {m.status.replace('_', ' ')}")
    return "; ".join(reasons) or "metric missing"


def case_section(res: CaseResult, quick: bool) -> str:
    case = res.case
    lines = [f"### {case.title}{' (quick mode: small sizes)' if quick else ''}", ""]
    if case.about:
        lines += [case.about, ""]
    if res.note:
        lines += [res.note, ""]
        return "\n".join(lines)
    metrics = list(case.metrics)
    header = ["system", "status", *[f"{m.label}" for m in metrics]]
    rows = []
    for engine, m in res.measurements.items():
        cells = [engine, _status_text(m)]
        for metric in metrics:
            s = m.metrics.get(metric.key)
            if s is None or m.status != OK:
                cells.append("-")
            else:
                cell = fmt_number(s.median, metric.unit)
                if s.n > 1:
                    low, high = fmt_number(s.min, metric.unit), fmt_number(s.max, metric.unit)
                    cell += f" [{low}, {high}]"
                cells.append(cell)
        rows.append(cells)
    lines.append(markdown_table(header, rows))
    ratio_rows = []
    for other in res.measurements:
        if other == "reflow":
            continue
        cells = [f"reflow / {other}"]
        for metric in metrics:
            r = ratio(res, metric.key, other)
            cells.append(fmt_ratio(r) if r is not None else "-")
        if any(c != "-" for c in cells[1:]):
            ratio_rows.append(cells)
    if ratio_rows:
        lines += ["", markdown_table(["ratio", *[m.label for m in metrics]], ratio_rows)]
    notes = [f"- {e}: {_one_line(m.note)}" for e, m in res.measurements.items() if m.note]
    if res.reference:
        notes.insert(0, f"- results checked identical against {res.reference}'s (digest)")
    if notes:
        lines += ["", *notes]
    lines.append("")
    return "\n".join(lines)


def _one_line(text: str, limit: int = 300) -> str:
    text = " ".join(text.split()).replace("|", "/")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _status_text(m: Measurement) -> str:
    return {
        OK: "ok",
        NOT_IMPLEMENTED: "not implemented yet",
        "unsupported": "does not fit",
        "skipped": "skipped",
        WRONG_RESULT: "**wrong result**",
    }.get(m.status, f"**{m.status}**")


def reflow_only_sections() -> list[str]:
    """Sections written by reflow-only measurement scripts (``benchmarks/results/*.md``,
    each produced by the command it names), included as they are."""
    files = sorted((BENCH_DIR / "results").glob("*.md"))
    if not files:
        return []
    return ["## reflow-only measurements", "", *(f.read_text() for f in files)]


def write_report(
    path: Path,
    results: list[CaseResult],
    info: dict,
    command: str,
    quick: bool,
    repeat: int,
    load_at_start: float,
) -> str:
    machine = machine_info()
    machine["load average (start, end)"] = f"{load_at_start:.2f}, {os.getloadavg()[0]:.2f}"
    goals, missed = goal_rows(results)
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    parts = [
        "# Benchmarks",
        "",
        "reflow against Pathway, Bytewax and a plain Polars script (the lower bound for",
        "static work), measured in one run on one machine. Written by `benchmarks/run.py`;",
        "see `benchmarks/README.md` for the workloads and how to rerun them.",
        "",
        f"- command: `{command}`",
        f"- date: {now}",
        f"- mode: {'quick (small sizes, smoke test only)' if quick else 'full'}; "
        f"{repeat} run(s) per system, each in a fresh process; cells show median [min, max]",
        "- every system's final result is checked identical (digest of the output) before "
        "its timings count; ratios are reflow / other, on medians",
        "",
        "## Machine",
        "",
        markdown_table(["", ""], [[k, v] for k, v in machine.items()]),
        "",
        "## Versions",
        "",
        markdown_table(
            ["system", "version", "note"],
            [[name, i["version"], i["note"]] for name, i in info.items()],
        ),
        "",
        "## Goals",
        "",
        *(
            [
                "Quick mode uses small inputs: the verdicts below only show that every path "
                "runs, not how reflow performs.",
                "",
            ]
            if quick
            else []
        ),
        markdown_table(["goal", "measured", "verdict"], goals),
        "",
    ]
    if missed:
        parts += [
            "reflow misses these goals in this run:",
            "",
            *[f"- {m}" for m in missed],
            "",
            "Where the time goes for each of them: see 'reflow-only measurements' at the end of "
            "this file.",
            "",
        ]
    parts += ["## Results", ""]
    parts += [case_section(res, quick) for res in results]
    if not quick:
        parts += reflow_only_sections()
    text = "\n".join(parts).rstrip() + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small sizes, one run (CI)")
    parser.add_argument("--only", action="append", default=[], help="run only this workload")
    parser.add_argument("--engines", default=",".join(ENGINES), help="comma-separated systems")
    parser.add_argument("--repeat", type=int, default=None, help="runs per system (default 3)")
    parser.add_argument("--no-install", action="store_true", help="do not install competitors")
    parser.add_argument("--timeout", type=float, default=None, help="seconds per process")
    parser.add_argument("--output", type=Path, default=None, help="where to write the report")
    parser.add_argument(
        "--commits", default="1000",
        help="rows per commit of the streaming workloads, comma-separated (e.g. 100,1000,10000)",
    )
    parser.add_argument("--suite", choices=("workloads", "nexmark"), default="workloads",
                        help="the workloads above, or the Nexmark queries q0-q8")
    parser.add_argument("--events", type=int, default=1_000_000, help="Nexmark events")
    parser.add_argument("--commit", type=int, default=1_000, help="Nexmark events per commit")
    args = parser.parse_args(argv)
    if args.suite == "nexmark":
        return _nexmark(args, argv)

    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    unknown = set(engines) - set(ENGINES)
    if unknown:
        parser.error(f"unknown systems {sorted(unknown)}; choose from {list(ENGINES)}")
    names = {n for item in args.only for n in item.split(",")}
    commits = [int(c) for c in args.commits.split(",") if c.strip()]
    all_cases = with_commit_sizes(CASES, commits)
    known = {c.name for c in all_cases}
    if names - known:
        parser.error(f"unknown workloads {sorted(names - known)}; choose from {sorted(known)}")
    repeat = args.repeat or (1 if args.quick else 3)
    timeout = args.timeout or (120.0 if args.quick else 1800.0)
    output = args.output or (
        BENCH_DIR / "data" / "BENCHMARKS.quick.md" if args.quick else REPO_DIR / "BENCHMARKS.md"
    )

    def log(message: str) -> None:
        print(message, flush=True)

    cases = [
        c
        for c in all_cases
        if (not names or c.name in names) and (c.in_quick or not args.quick or c.name in names)
    ]
    wanted = sorted({e for c in cases for e in c.engines if e in engines}, key=ENGINES.index)
    load = os.getloadavg()[0]
    log(f"systems: {', '.join(wanted)}")
    pythons, info = interpreters(wanted, install=not args.no_install, log=log)
    command = "python benchmarks/run.py " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    command = command.strip()
    results: list[CaseResult] = []
    text = ""
    for case in cases:
        log(f"{case.name}: {case.title}")
        case = _restrict(case, engines)
        results.append(run_case(case, pythons, args.quick, repeat, timeout, log))
        # Rewritten after every workload, so an interrupted run leaves what it measured.
        text = write_report(output, results, info, command, args.quick, repeat, load)
    log("")
    log(text)
    log(f"written to {output}")
    crashed = [
        f"{m.workload}/{m.engine}"
        for res in results
        for m in res.measurements.values()
        if m.status in (ERROR, WRONG_RESULT)
    ]
    if crashed:
        log(f"failed runs: {', '.join(crashed)}")
    return 1 if crashed else 0


STREAMING = ("streaming_wordcount", "join_maintenance", "windowed")
DEFAULT_COMMIT = 1_000


def with_commit_sizes(cases: list[Case], commits: list[int]) -> list[Case]:
    """Each streaming case once per commit size: the default size keeps the case's name,
    another size ``n`` runs as ``<name>_commit<n>`` with ``--commit n``."""
    from dataclasses import replace

    expanded: list[Case] = []
    for case in cases:
        if case.name not in STREAMING:
            expanded.append(case)
            continue
        for commit in commits or [DEFAULT_COMMIT]:
            if commit == DEFAULT_COMMIT:
                expanded.append(case)
                continue
            extra = ("--commit", str(commit))
            expanded.append(replace(
                case,
                name=f"{case.name}_commit{commit}",
                title=_with_commit(case.title, commit),
                about=_about_with_commit(case.about, commit),
                args=(*case.args, *extra),
                quick_args=(*case.quick_args, *extra),
                goals=tuple(replace(g, text=f"{g.text} (commits of {commit:,})")
                            for g in case.goals),
            ))
    return expanded


def _with_commit(title: str, commit: int) -> str:
    default = f"commits of {DEFAULT_COMMIT:,}"
    if default in title:
        return title.replace(default, f"commits of {commit:,}")
    return f"{title} (commits of {commit:,})"


def _about_with_commit(about: str, commit: int) -> str:
    for phrase in ("every {:,}", "per {:,}", "batches of {:,}", "commits of {:,}"):
        about = about.replace(phrase.format(DEFAULT_COMMIT), phrase.format(commit))
    return about


def _nexmark(args: argparse.Namespace, argv: list[str] | None) -> int:
    from nexmark.suite import ENGINES as NEXMARK_ENGINES
    from nexmark.suite import run_suite

    engines = [e.strip() for e in args.engines.split(",") if e in NEXMARK_ENGINES]
    pythons, _ = interpreters(engines, install=not args.no_install, log=print)
    command = "python benchmarks/run.py " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    failures = run_suite(pythons, args.events, args.repeat or 1, args.timeout or 1800.0,
                         args.commit, command.strip())
    return 1 if failures else 0


def _restrict(case: Case, engines: list[str]) -> Case:
    from dataclasses import replace

    return replace(case, engines=tuple(e for e in case.engines if e in engines))


if __name__ == "__main__":
    sys.exit(main())
