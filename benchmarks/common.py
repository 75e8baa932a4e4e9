"""Measurement helpers shared by the benchmark runner and the workload scripts.

This module uses the standard library only: workload scripts import it from every
interpreter they run under (reflow's own and each competitor's throwaway venv).

The workload protocol (see ``benchmarks/README.md``): a workload script is run as
``python SCRIPT --engine ENGINE [--quick] [--data-dir DIR] [--prepare]`` and prints exactly one
line starting with ``RESULT_PREFIX`` followed by a JSON object::

    {"workload": "static_wordcount", "engine": "reflow", "status": "ok",
     "metrics": {"compute_s": 1.2}, "digest": "9f2c...", "note": ""}

``status`` is ``ok``, ``not_implemented`` (the engine lacks a feature the workload needs),
``unsupported`` (the workload does not fit the engine's model) or ``error``.
"""

from __future__ import annotations

import argparse
import compileall
import contextlib
import hashlib
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RESULT_PREFIX = "BENCHMARK-RESULT "
BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
DEFAULT_DATA_DIR = BENCH_DIR / "data"
ENGINES = ("reflow", "pathway", "bytewax", "polars")

OK = "ok"
NOT_IMPLEMENTED = "not_implemented"
UNSUPPORTED = "unsupported"
ERROR = "error"


def compile_reflow_bytecode() -> None:
    """Write the bytecode of the ``reflow`` package, as installing a package does.

    reflow is measured from its source tree (an editable install); with
    ``PYTHONDONTWRITEBYTECODE`` set, Python would compile each of its ~200 modules from source
    in every process it starts (~0.2 s of CPU), which no pip-installed system pays. Up-to-date
    files are left alone."""
    compileall.compile_dir(REPO_DIR / "reflow", quiet=1)


# --------------------------------------------------------------------------- reflow-only sections


class SectionReport:
    """The lines a reflow-only measurement script prints, kept to be written as a markdown
    section (``benchmarks/results/NAME.md``) that ``run.py`` includes in ``BENCHMARKS.md``."""

    def __init__(self, title: str, about: Sequence[str]) -> None:
        self.title = title
        self.about = list(about)
        self.lines: list[str] = []

    def say(self, text: str) -> None:
        """Print a line of the result and keep it for the report."""
        print(text, flush=True)
        self.lines.append(text)

    def write(self, path: Path) -> None:
        """Write the section; its command is this process's, without ``--report``."""
        import datetime

        arguments, skip = [], False
        for argument in sys.argv[1:]:
            if skip or argument.startswith("--report"):
                skip = argument == "--report"
                continue
            arguments.append(argument)
        command = " ".join(["python", os.path.relpath(sys.argv[0], REPO_DIR), *arguments])
        now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
        text = "\n".join([
            f"### {self.title}",
            "",
            f"- command: `{command}`",
            f"- date: {now}; {os.cpu_count()} cores; Python {platform.python_version()}",
            *(f"- {line}" for line in self.about),
            "",
            "```",
            *self.lines,
            "```",
            "",
        ])
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


# --------------------------------------------------------------------------- workload side


def workload_arguments(description: str) -> argparse.ArgumentParser:
    """The command-line arguments every workload script accepts."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--engine", choices=ENGINES, default="reflow")
    parser.add_argument("--quick", action="store_true", help="small sizes (CI smoke run)")
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    parser.add_argument(
        "--prepare", action="store_true", help="only generate the input data, then exit"
    )
    parser.add_argument("--size", type=int, default=None, help="override the input size")
    parser.add_argument(
        "--commit", type=int, default=None, help="rows per commit (streaming workloads)"
    )
    return parser


def emit(
    workload: str,
    engine: str,
    status: str = OK,
    metrics: dict[str, float] | None = None,
    digest: str | None = None,
    note: str = "",
    **extra: Any,
) -> dict[str, Any]:
    """Print the one result line of a workload run and return it as a dict."""
    result = {
        "workload": workload,
        "engine": engine,
        "status": status,
        "metrics": metrics or {},
        "digest": digest,
        "note": note,
        **extra,
    }
    sys.stdout.flush()
    print(RESULT_PREFIX + json.dumps(result, sort_keys=True), flush=True)
    return result


def parse_result(stdout: str) -> dict[str, Any] | None:
    """The last result line printed by a workload run, or ``None`` if there is none.

    A bare JSON object on the last non-empty line is accepted too, so scripts that print
    only their JSON result line follow the protocol as well.
    """
    lines = [line for line in stdout.splitlines() if line.strip()]
    for line in reversed(lines):
        if line.startswith(RESULT_PREFIX):
            return json.loads(line[len(RESULT_PREFIX) :])
    if lines and lines[-1].lstrip().startswith("{"):
        with contextlib.suppress(json.JSONDecodeError):
            value = json.loads(lines[-1])
            if isinstance(value, dict):
                return value
    return None


def digest_rows(rows: Iterable[Sequence[Any]]) -> str:
    """An order-independent fingerprint of a set of rows (as tuples of plain values).

    Values are normalised so that ``3`` and ``3.0`` and ``"3"`` compare equal: engines
    disagree on whether a count read back from CSV is text or a number.
    """
    canon = sorted("\x1f".join(_canon(v) for v in row) for row in rows)
    h = hashlib.sha256()
    for line in canon:
        h.update(line.encode())
        h.update(b"\n")
    return f"{len(canon)}:{h.hexdigest()[:16]}"


def _canon(value: Any) -> str:
    if isinstance(value, str):
        if value.isdigit():
            return str(int(value))
        if value[:1] == "-" and value[1:].isdigit():
            return str(int(value))
        if any(c in value for c in ".eE"):
            with contextlib.suppress(ValueError):
                return _canon(float(value))
        return value
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isfinite(value) and value == int(value):
            return str(int(value))
        return repr(round(value, 6))
    return str(value)


def final_rows_from_update_csv(path: Path, columns: Sequence[str]) -> list[tuple[str, ...]]:
    """The final contents of a table written by ``pw.io.csv.write``: rows net of ``diff``.

    The file holds one line per change with ``time`` and ``diff`` columns; rows whose diffs
    sum to zero are gone.
    """
    import csv

    net: dict[tuple[str, ...], int] = {}
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        for record in reader:
            key = tuple(record[c] for c in columns)
            net[key] = net.get(key, 0) + int(record.get("diff", 1) or 1)
    rows: list[tuple[str, ...]] = []
    for key, n in net.items():
        if n < 0:
            raise ValueError(f"{path}: row {key} was retracted more often than inserted")
        rows.extend([key] * n)
    return rows


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) of ``values``, nearest-rank."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def not_available(exc: BaseException) -> str:
    """A note explaining which missing feature stopped a workload."""
    return f"{type(exc).__name__}: {exc}"


# --------------------------------------------------------------------------- runner side


@dataclass
class ProcessRun:
    """One finished subprocess: exit code, output, wall time and peak resident memory."""

    returncode: int
    stdout: str
    stderr: str
    wall_s: float
    peak_rss_mb: float
    timed_out: bool = False


def run_process(
    cmd: Sequence[str],
    *,
    env: dict[str, str] | None = None,
    timeout: float | None = None,
    cwd: Path | None = None,
) -> ProcessRun:
    """Run ``cmd`` and measure its wall time and peak RSS (``ru_maxrss`` from ``wait4``).

    Output goes to temporary files rather than pipes, so ``wait4`` can reap the child
    directly and return the resource usage of this one process (and its waited-for
    children) rather than of every child the runner ever started.
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env, cwd=cwd)
        timed_out = False
        status, rusage = _wait4(proc.pid, timeout)
        if status is None:
            timed_out = True
            proc.kill()
            status, rusage = _wait4(proc.pid, None)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return ProcessRun(
            returncode=proc.returncode,
            stdout=out.read().decode(errors="replace"),
            stderr=err.read().decode(errors="replace"),
            wall_s=wall,
            peak_rss_mb=rusage.ru_maxrss / 1024 if rusage is not None else float("nan"),
            timed_out=timed_out,
        )


def _wait4(pid: int, timeout: float | None):
    if timeout is None:
        _, status, rusage = os.wait4(pid, 0)
        return status, rusage
    deadline = time.monotonic() + timeout
    delay = 0.001
    while True:
        done, status, rusage = os.wait4(pid, os.WNOHANG)
        if done:
            return status, rusage
        if time.monotonic() >= deadline:
            return None, None
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


@dataclass
class Summary:
    """Median, min and max of several measurements of one metric."""

    median: float
    min: float
    max: float
    n: int

    @classmethod
    def of(cls, values: Sequence[float]) -> Summary:
        values = [v for v in values if v is not None and not math.isnan(v)]
        if not values:
            return cls(float("nan"), float("nan"), float("nan"), 0)
        return cls(statistics.median(values), min(values), max(values), len(values))

    def as_dict(self) -> dict[str, float]:
        return {"median": self.median, "min": self.min, "max": self.max, "n": self.n}


@dataclass
class Measurement:
    """Every run of one workload on one engine, summarised per metric."""

    workload: str
    engine: str
    status: str
    metrics: dict[str, Summary] = field(default_factory=dict)
    digest: str | None = None
    note: str = ""


def fmt_number(value: float, unit: str = "") -> str:
    """A compact human form of a measurement."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if unit == "s":
        if value < 1e-3:
            return f"{value * 1e6:.0f} µs"
        if value < 1:
            return f"{value * 1e3:.1f} ms"
        return f"{value:.2f} s"
    if unit == "MiB":
        return f"{value:.0f} MiB"
    if abs(value) >= 1e6:
        return f"{value / 1e6:.2f} M"
    if abs(value) >= 1e4:
        return f"{value / 1e3:.1f} k"
    if abs(value) >= 100:
        return f"{value:.0f}"
    return f"{value:.3g}"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A GitHub-flavoured markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def machine_info() -> dict[str, str]:
    """Cores, memory, CPU model, OS and Python of the machine running the benchmarks."""
    cpu = platform.processor() or "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = "unknown"
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    cores = os.cpu_count() or 0
    with contextlib.suppress(AttributeError):
        cores = len(os.sched_getaffinity(0))
    return {
        "cores": str(cores),
        "memory": memory,
        "cpu": cpu,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
    }


# --------------------------------------------------------------------------- input data


def _vocabulary(size: int, seed: int) -> list[str]:
    import random

    rng = random.Random(seed)
    letters = "abcdefghijklmnopqrstuvwxyz"
    words: set[str] = set()
    while len(words) < size:
        words.add("".join(rng.choices(letters, k=rng.randint(3, 10))))
    return sorted(words)


def words_file(data_dir: Path, n_words: int, vocabulary: int | None = None) -> Path:
    """A CSV file with a ``word`` column of ``n_words`` rows, made once, deterministically.

    Words are drawn from a vocabulary of ``vocabulary`` (default: 1% of the words, at most
    50,000) random lowercase strings with a skewed (Zipf-like) frequency.
    """
    import random

    vocabulary = vocabulary or max(10, min(50_000, n_words // 100))
    path = Path(data_dir) / f"words_{n_words}_{vocabulary}.csv"
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    vocab = _vocabulary(vocabulary, seed=8)
    weights = [1.0 / (rank + 1) ** 0.8 for rank in range(vocabulary)]
    rng = random.Random(n_words)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w") as f:
        f.write("word\n")
        remaining = n_words
        while remaining:
            chunk = min(remaining, 1_000_000)
            f.write("\n".join(rng.choices(vocab, weights, k=chunk)))
            f.write("\n")
            remaining -= chunk
    tmp.replace(path)
    return path


def read_words(path: Path) -> list[str]:
    """The words of a file made by :func:`words_file`, in order."""
    with open(path) as f:
        next(f)
        return f.read().split("\n")[:-1]


def orders_files(data_dir: Path, n_orders: int, n_customers: int, n_updates: int) -> dict:
    """CSV files of customers, orders and order updates, made once, deterministically.

    ``customers``: ``customer_id,region``; ``orders``: ``order_id,customer_id,amount``;
    ``updates``: the same columns as ``orders``, for ``n_updates`` distinct existing orders
    (new customer and amount), in the order they are to be applied.
    """
    import random

    base = Path(data_dir) / f"orders_{n_orders}_{n_customers}_{n_updates}"
    paths = {name: base / f"{name}.csv" for name in ("customers", "orders", "updates")}
    if all(p.exists() for p in paths.values()):
        return paths
    base.mkdir(parents=True, exist_ok=True)
    rng = random.Random(n_orders * 31 + n_customers)
    with open(paths["customers"], "w") as f:
        f.write("customer_id,region\n")
        f.writelines(f"{c},region_{rng.randrange(20)}\n" for c in range(n_customers))
    with open(paths["orders"], "w") as f:
        f.write("order_id,customer_id,amount\n")
        f.writelines(
            f"{o},{rng.randrange(n_customers)},{rng.randrange(1, 10_000)}\n"
            for o in range(n_orders)
        )
    updated = rng.sample(range(n_orders), n_updates)
    with open(paths["updates"], "w") as f:
        f.write("order_id,customer_id,amount\n")
        f.writelines(
            f"{o},{rng.randrange(n_customers)},{rng.randrange(1, 10_000)}\n" for o in updated
        )
    return paths


def read_int_rows(path: Path) -> list[tuple[int, ...]]:
    """The rows of a CSV file of integers (header skipped)."""
    with open(path) as f:
        next(f)
        return [tuple(int(v) for v in line.split(",")) for line in f]


def events_file(data_dir: Path, n_events: int, late_fraction: float = 0.05) -> Path:
    """A CSV file ``event_id,ts,value`` of ``n_events`` events, made once, deterministically.

    Event times (integer seconds) advance by 60 ms per event on average, so a one-minute
    window holds about 1,000 events; a ``late_fraction`` of the events arrive 1 to 10
    minutes late (their ``ts`` lies that far behind the stream's current time).
    """
    import random

    path = Path(data_dir) / f"events_{n_events}_{int(late_fraction * 100)}.csv"
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = random.Random(n_events + 6)
    now = 1_700_000_000.0
    with open(path, "w") as f:
        f.write("event_id,ts,value\n")
        for event_id in range(n_events):
            now += rng.expovariate(1 / 0.06)
            ts = int(now)
            if rng.random() < late_fraction:
                ts -= rng.randint(60, 600)
            f.write(f"{event_id},{ts},{rng.randint(1, 100)}\n")
    return path
