"""Wordcount benchmarks: static (CSV -> groupby count -> CSV) and streaming (Python source).

Run everything and print a comparison (each engine runs in its own process, so wall time and
peak memory are whole-process figures)::

    .venv/bin/python benchmarks/wordcount.py

Run one engine and one workload in this process (``--engine pathway`` imports ``pathway as pw``
instead of ``reflow as pw``; run it with the Pathway venv's interpreter)::

    benchmarks/.venvs/pathway/bin/python benchmarks/wordcount.py --engine pathway \
        --workload static

Workloads:
- static: 5,000,000 words in a one-column CSV are counted per word and written as CSV.
- streaming: 1,000,000 words are pushed through ``pw.io.python.read``, committing every 1,000
  rows; the counts go to ``pw.io.null.write``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DATA = Path(os.environ.get("WORDCOUNT_DATA", Path(tempfile.gettempdir()) / "reflow-wordcount"))
VOCABULARY = 50_000
COMMIT_EVERY = 1_000


# --- data -----------------------------------------------------------------------------------------
def words(n: int, seed: int = 7) -> list[str]:
    import numpy as np

    rng = np.random.default_rng(seed)
    ids = rng.zipf(1.3, size=n) % VOCABULARY
    return [f"w{i}" for i in ids.tolist()]


def words_csv(n: int) -> Path:
    path = DATA / f"words_{n}.csv"
    if not path.exists():
        import polars as pl

        DATA.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        pl.DataFrame({"word": words(n)}).write_csv(tmp)
        tmp.rename(path)
    return path


# --- workloads (run inside one process) ---------------------------------------------------------
def static_dataflow(pw, source: Path, out: Path) -> None:
    class WordSchema(pw.Schema):
        word: str

    table = pw.io.csv.read(str(source), schema=WordSchema, mode="static")
    counts = table.groupby(pw.this.word).reduce(pw.this.word, count=pw.reducers.count())
    pw.io.csv.write(counts, str(out))
    pw.run(monitoring_level=pw.MonitoringLevel.NONE)


def streaming_dataflow(pw, data: list[str]) -> None:
    class WordSchema(pw.Schema):
        word: str

    class Words(pw.io.python.ConnectorSubject):
        def run(self) -> None:
            for i, word in enumerate(data, start=1):
                self.next(word=word)
                if i % COMMIT_EVERY == 0:
                    self.commit()

    table = pw.io.python.read(Words(), schema=WordSchema, autocommit_duration_ms=1000)
    counts = table.groupby(pw.this.word).reduce(pw.this.word, count=pw.reducers.count())
    pw.io.null.write(counts)
    pw.run(monitoring_level=pw.MonitoringLevel.NONE)


def polars_static(source: Path, out: Path) -> None:
    import polars as pl

    counts = pl.read_csv(source).group_by("word").len(name="count")
    counts.write_csv(out)


def polars_streaming(data: list[str]) -> None:
    """Dictionary counting, one commit of 1,000 words at a time (the same arrival pattern)."""
    n = len(data)
    counts: dict[str, int] = {}
    for start in range(0, n, COMMIT_EVERY):
        for word in data[start : start + COMMIT_EVERY]:
            counts[word] = counts.get(word, 0) + 1


def run_one(engine: str, workload: str, n: int, out: Path) -> dict:
    if workload == "static":
        source = words_csv(n)
    else:
        data = words(n)
    started = time.perf_counter()
    if engine == "polars":
        if workload == "static":
            polars_static(source, out)
        else:
            polars_streaming(data)
    else:
        if engine == "pathway":
            import pathway as pw
        else:
            sys.path.insert(0, str(REPO))
            import reflow as pw
        if workload == "static":
            static_dataflow(pw, source, out)
        else:
            streaming_dataflow(pw, data)
    return {"seconds": time.perf_counter() - started}


# --- comparison ---------------------------------------------------------------------------------
def final_counts(path: Path) -> dict[str, int]:
    """Word counts from an output CSV (an update stream when it has ``diff``)."""
    import polars as pl

    frame = pl.read_csv(path, infer_schema=False)
    if "diff" in frame.columns:
        frame = frame.with_columns(
            (pl.col("count").cast(pl.Int64) * pl.col("diff").cast(pl.Int64)).alias("count")
        )
    frame = frame.group_by("word").agg(pl.col("count").cast(pl.Int64).sum())
    return dict(zip(frame["word"].to_list(), frame["count"].to_list(), strict=True))


def measure(python: str, engine: str, workload: str, n: int, out: Path) -> dict:
    command = [
        python,
        str(Path(__file__).resolve()),
        "--engine",
        engine,
        "--workload",
        workload,
        "--words",
        str(n),
        "--out",
        str(out),
        "--child",
    ]
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    output = process.stdout.read().decode() if process.stdout else ""
    if status != 0:
        return {"engine": engine, "error": f"exit status {status}"}
    inner = json.loads(output.strip().splitlines()[-1])
    return {
        "engine": engine,
        "wall": wall,
        "pipeline": inner["seconds"],
        "peak_mib": usage.ru_maxrss / 1024,
    }


def compare(workloads: list[str], static_words: int, stream_words: int) -> None:
    pathway_python = HERE / ".venvs" / "pathway" / "bin" / "python"
    engines = [("reflow", sys.executable), ("polars", sys.executable)]
    if pathway_python.exists():
        engines.append(("pathway", str(pathway_python)))
    DATA.mkdir(parents=True, exist_ok=True)
    for workload in workloads:
        n = static_words if workload == "static" else stream_words
        if workload == "static":
            words_csv(n)
        print(f"\n{workload} wordcount, {n:,} words")
        results = {}
        for engine, python in engines:
            out = DATA / f"out_{workload}_{engine}.csv"
            results[engine] = measure(python, engine, workload, n, out)
            result = results[engine]
            if "error" in result:
                print(f"  {engine:8s} failed: {result['error']}")
                continue
            line = (
                f"  {engine:8s} wall {result['wall']:7.2f} s  pipeline "
                f"{result['pipeline']:7.2f} s  peak {result['peak_mib']:7.0f} MiB"
            )
            if workload == "streaming":
                line += f"  {n / result['pipeline']:>12,.0f} words/s"
            print(line)
        if workload == "static" and "error" not in results.get("reflow", {"error": 1}):
            expected = final_counts(DATA / "out_static_polars.csv")
            got = final_counts(DATA / "out_static_reflow.csv")
            print("  reflow output matches polars:", got == expected)
        base = results.get("reflow", {})
        for other in ("pathway", "polars"):
            theirs = results.get(other, {})
            if "wall" in base and "wall" in theirs:
                print(
                    f"  reflow/{other}: wall {base['wall'] / theirs['wall']:.2f}x, "
                    f"peak memory {base['peak_mib'] / theirs['peak_mib']:.2f}x"
                )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", choices=["reflow", "pathway", "polars"])
    parser.add_argument("--workload", choices=["static", "streaming", "all"], default="all")
    parser.add_argument("--words", type=int, default=None)
    parser.add_argument("--stream-words", type=int, default=1_000_000)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    workloads = ["static", "streaming"] if args.workload == "all" else [args.workload]
    if args.engine is None:
        compare(workloads, args.words or 5_000_000, args.stream_words)
        return
    for workload in workloads:
        n = args.words or (5_000_000 if workload == "static" else args.stream_words)
        out = args.out or DATA / f"out_{workload}_{args.engine}.csv"
        DATA.mkdir(parents=True, exist_ok=True)
        result = run_one(args.engine, workload, n, out)
        if args.child:
            print(json.dumps(result))
        else:
            print(f"{args.engine} {workload}: {result['seconds']:.2f} s")


if __name__ == "__main__":
    main()
