"""Persistence costs, measured in one run: checkpoint overhead on a streaming wordcount, and
recovery from a checkpoint of a 1M-row join + groupby state against rereading the input.

    .venv/bin/python benchmarks/persistence.py [--words N] [--rows N]
"""

from __future__ import annotations

import argparse
import random
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

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
start = time.perf_counter()
pw.run(persistence_config=config)
print(time.perf_counter() - start)
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
start = time.perf_counter()
pw.run(persistence_config=pw.persistence.Config(
    pw.persistence.Backend.filesystem(state), snapshot_interval_ms=1000))
print(time.perf_counter() - start)
"""


def _timed(script: str, *args: str) -> float:
    """Seconds spent in ``pw.run`` (interpreter start-up and imports left out)."""
    done = subprocess.run(
        [sys.executable, "-c", script, *args], check=True, capture_output=True, text=True
    )
    return float(done.stdout.split()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--words", type=int, default=1_000_000)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp())
    try:
        plain, persistent = [], []
        for i in range(args.repeat):
            plain.append(_timed(WORDCOUNT, str(args.words), "-"))
            persistent.append(_timed(WORDCOUNT, str(args.words), str(work / f"wc{i}")))
        best_plain, best_persistent = min(plain), min(persistent)
        print(f"streaming wordcount, {args.words} words, commit per 1000: "
              f"no persistence {args.words / best_plain:,.0f} words/s, checkpoints every 1 s "
              f"{args.words / best_persistent:,.0f} words/s "
              f"(throughput loss {100 * (1 - best_plain / best_persistent):.1f}%)")
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
        scratch, recover = [], []
        for i in range(args.repeat):
            state = work / f"jg-state{i}"
            scratch.append(_timed(JOIN_GROUPBY, str(data), str(state)))
            recover.append(_timed(JOIN_GROUPBY, str(data), str(state)))
        print(f"join + groupby over {args.rows} rows: from scratch {min(scratch):.2f} s, "
              f"restart from checkpoint {min(recover):.2f} s "
              f"({min(scratch) / min(recover):.1f}x faster; time in pw.run)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
