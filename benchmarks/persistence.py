"""Persistence costs, measured in one run: checkpoint overhead on a streaming wordcount, and
recovery from a checkpoint of a 1M-row join + groupby state against rereading the input.

    .venv/bin/python benchmarks/persistence.py [--words N] [--join-rows N] [--rows N]
        [--repeat N] [--baseline DIR] [--no-recovery]

With ``--baseline DIR`` (a checkout of another reflow version, e.g. made with
``git archive COMMIT | tar -x -C DIR``) every measurement is also taken with that version,
the runs of both interleaved so that a change of the machine's load hits both alike: an A/B
comparison. With ``--pathway PYTHON`` Pathway's persistence runs the same join + groupby.
"""

from __future__ import annotations

import argparse
import compileall
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import compile_reflow_bytecode

WORDCOUNT = """
import sys, time
import reflow as pw
words, state = int(sys.argv[1]), sys.argv[2]
class Words(pw.io.python.ConnectorSubject):
    def run(self):
        for i in range(words):
            self.next(word=f"w{(i * 7919) % 5000}")
            if i % 1000 == 999:
                self.commit()
class S(pw.Schema):
    word: str
t = pw.io.python.read(Words(), schema=S, name="words")
pw.io.null.write(t.groupby(pw.this.word).reduce(pw.this.word, n=pw.reducers.count()))
config = None if state == "-" else pw.persistence.Config(
    pw.persistence.Backend.filesystem(state), snapshot_interval_ms=1000)
start, cpu = time.perf_counter(), time.process_time()
pw.run(persistence_config=config)
print(time.perf_counter() - start, time.process_time() - cpu)
"""

JOIN_STREAM = """
import sys, time
import reflow as pw
rows, state = int(sys.argv[1]), sys.argv[2]
class Orders(pw.io.python.ConnectorSubject):
    def run(self):
        for i in range(rows):
            self.next(customer=(i * 7919) % 20000, amount=i % 100)
            if i % 1000 == 999:
                self.commit()
class Customers(pw.io.python.ConnectorSubject):
    def run(self):
        for c in range(20000):
            self.next(customer=c, region=c % 50)
            if c % 1000 == 999:
                self.commit()
class O(pw.Schema):
    customer: int
    amount: int
class C(pw.Schema):
    customer: int
    region: int
orders = pw.io.python.read(Orders(), schema=O, name="orders")
customers = pw.io.python.read(Customers(), schema=C, name="customers")
joined = orders.join(customers, pw.left.customer == pw.right.customer).select(
    pw.right.region, pw.left.amount)
pw.io.null.write(joined)
config = None if state == "-" else pw.persistence.Config(
    pw.persistence.Backend.filesystem(state), snapshot_interval_ms=1000)
start, cpu = time.perf_counter(), time.process_time()
pw.run(persistence_config=config)
print(time.perf_counter() - start, time.process_time() - cpu)
"""

JOIN_GROUPBY = """
import sys, time
import reflow as pw
path, state = sys.argv[1], sys.argv[2]
class Row(pw.Schema):
    k: int
    v: int
class Dim(pw.Schema):
    k: int
    g: int
rows = pw.io.csv.read(path + "/rows", schema=Row, mode="static", name="rows")
dims = pw.io.csv.read(path + "/dims", schema=Dim, mode="static", name="dims")
joined = rows.join(dims, pw.left.k == pw.right.k).select(pw.right.g, pw.left.v)
out = joined.groupby(pw.this.g).reduce(pw.this.g, total=pw.reducers.sum(pw.this.v))
pw.io.csv.write(out, path + "/out.csv", name="out")
start, cpu = time.perf_counter(), time.process_time()
pw.run(persistence_config=pw.persistence.Config(
    pw.persistence.Backend.filesystem(state), snapshot_interval_ms=1000))
print(time.perf_counter() - start, time.process_time() - cpu)
"""


def _timed(
    script: str, *args: str, cwd: str | None = None, python: str = sys.executable
) -> tuple[float, float]:
    """Wall-clock and CPU seconds spent in ``pw.run`` (start-up and imports left out), with
    the reflow of ``cwd`` (``python -c`` imports from the working directory first)."""
    done = subprocess.run(
        [python, "-c", script, *args], check=True, capture_output=True, text=True, cwd=cwd,
    )
    wall, cpu = done.stdout.split()[-2:]
    return float(wall), float(cpu)


def _median(values: list[float]) -> float:
    return statistics.median(values)


def _overhead(script: str, size: int, title: str, unit: str, versions: dict[str, str],
              work: Path, repeat: int) -> None:
    """Print the throughput of ``script`` without and with checkpoints every second."""
    # Interleaved, so a change of the machine's load hits every run alike; medians. Which of
    # a pair runs first alternates by round: the second run of a pair was seen to cost more
    # (or less) at times, which a fixed order would count as checkpoint overhead.
    plain: dict[str, list[tuple[float, float]]] = {v: [] for v in versions}
    persistent: dict[str, list[tuple[float, float]]] = {v: [] for v in versions}
    for i in range(repeat):
        for n, (label, cwd) in enumerate(versions.items()):
            state = str(work / f"{unit}{i}-{n}")
            runs = [(plain, "-"), (persistent, state)]
            for results, where in runs if i % 2 == 0 else runs[::-1]:
                results[label].append(_timed(script, str(size), where, cwd=cwd))
    for label in versions:
        for what, k in (("wall-clock", 0), ("CPU", 1)):
            base = _median([p[k] for p in plain[label]])
            with_cp = _median([p[k] for p in persistent[label]])
            print(f"[{label}] {title}, {size} {unit}, commit per 1000 "
                  f"({what} time, median of {repeat}): no persistence "
                  f"{size / base:,.0f} {unit}/s, checkpoints every 1 s "
                  f"{size / with_cp:,.0f} {unit}/s "
                  f"(throughput loss {100 * (1 - base / with_cp):.1f}%)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--words", type=int, default=1_000_000)
    parser.add_argument("--join-rows", type=int, default=200_000,
                        help="rows of the streaming join maintained (0: not measured)")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--no-recovery", action="store_true",
                        help="measure the checkpoint overhead only")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--baseline", help="a checkout of another reflow version to compare")
    parser.add_argument("--pathway", help="the python of a Pathway venv: its persistence is "
                        "measured on the same join + groupby (e.g. benchmarks/.venvs/pathway/"
                        "bin/python)")
    args = parser.parse_args()
    # Each run is a fresh process: measured with bytecode written, as an installed package is.
    compile_reflow_bytecode()
    versions = {"this version": str(Path(__file__).resolve().parents[1])}
    if args.baseline:
        versions["baseline " + args.baseline] = str(Path(args.baseline).resolve())
        compileall.compile_dir(Path(args.baseline) / "reflow", quiet=1)
    work = Path(tempfile.mkdtemp())
    try:
        _overhead(WORDCOUNT, args.words, "streaming wordcount", "words", versions, work,
                  args.repeat)
        if args.join_rows:
            _overhead(JOIN_STREAM, args.join_rows, "streaming join (20,000 customers)",
                      "rows", versions, work, args.repeat)
        if args.no_recovery:
            return
        data = work / "jg"
        (data / "rows").mkdir(parents=True)
        (data / "dims").mkdir()
        rng = random.Random(1)
        keys = 100_000
        with open(data / "rows" / "rows.csv", "w") as handle:
            handle.write("k,v\n")
            handle.writelines(f"{rng.randrange(keys)},{rng.randrange(100)}\n"
                              for _ in range(args.rows))
        with open(data / "dims" / "dims.csv", "w") as handle:
            handle.write("k,g\n")
            handle.writelines(f"{k},{k % 1000}\n" for k in range(keys))
        scratch: dict[str, list[tuple[float, float]]] = {v: [] for v in versions}
        recover: dict[str, list[tuple[float, float]]] = {v: [] for v in versions}
        for i in range(args.repeat):
            for n, (label, cwd) in enumerate(versions.items()):
                state = str(work / f"jg-state{i}-{n}")
                scratch[label].append(_timed(JOIN_GROUPBY, str(data), state, cwd=cwd))
                recover[label].append(_timed(JOIN_GROUPBY, str(data), state, cwd=cwd))
        if args.pathway:
            script = JOIN_GROUPBY.replace("import reflow as pw", "import pathway as pw")
            label = "Pathway " + args.pathway
            scratch[label], recover[label] = [], []
            for i in range(args.repeat):
                state = str(work / f"jg-pathway{i}")
                scratch[label].append(_timed(script, str(data), state, python=args.pathway))
                recover[label].append(_timed(script, str(data), state, python=args.pathway))
        for label in scratch:
            for what, k in (("wall-clock", 0), ("CPU", 1)):
                first = _median([s[k] for s in scratch[label]])
                again = _median([r[k] for r in recover[label]])
                print(f"[{label}] join + groupby over {args.rows} rows ({what} time in pw.run, "
                      f"median of {args.repeat}): from scratch {first:.2f} s, restart from "
                      f"checkpoint {again:.2f} s ({first / again:.1f}x faster)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
