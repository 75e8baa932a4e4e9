"""Workers side by side: the same program on 1 and 2 worker processes (``reflow spawn``) and
on 2 worker threads (``PATHWAY_THREADS``), in one run; wall time of the whole process and
the ratio to one worker.

    .venv/bin/python benchmarks/workers.py [--words 1000000] [--left 200000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

WORDCOUNT = textwrap.dedent('''
    import sys
    import numpy as np, pandas as pd
    import reflow as pw
    n = int(sys.argv[2])
    rng = np.random.default_rng(1)
    words = pd.DataFrame({"w": [f"w{i}" for i in rng.zipf(1.3, n) % 50000]})
    t = pw.debug.table_from_pandas(words)
    counts = t.groupby(t.w).reduce(t.w, c=pw.reducers.count())
    pw.io.csv.write(counts, sys.argv[1])
    pw.run()
''')

JOIN = textwrap.dedent('''
    import sys
    import numpy as np, pandas as pd
    import reflow as pw
    n = int(sys.argv[2]); m = n // 10; times = 10
    rng = np.random.default_rng(2)
    left = pd.DataFrame({"k": rng.integers(0, m, n), "a": rng.integers(0, 100, n)})
    right = pd.DataFrame({"k": np.arange(m), "b": rng.integers(0, 100, m),
                          "__time__": 0, "__diff__": 1})
    upd = rng.choice(m, m // 10 * times // times, replace=False)
    later = []
    for t in range(1, times + 1):
        part = upd[(t - 1) * len(upd) // times: t * len(upd) // times]
        old = right.iloc[part].assign(__time__=2 * t, __diff__=-1)
        new = old.assign(b=old.b + t, __diff__=1)
        later += [old, new]
    right_all = pd.concat([right, *later])
    l = pw.debug.table_from_pandas(left)
    r = pw.debug.table_from_pandas(right_all)
    j = l.join(r, l.k == r.k).select(l.a, r.b)
    s = j.reduce(total=pw.reducers.sum(j.a * j.b), rows=pw.reducers.count())
    pw.io.csv.write(s, sys.argv[1])
    pw.run()
''')


def timed(command: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    args = argparse.ArgumentParser()
    args.add_argument("--words", type=int, default=1_000_000)
    args.add_argument("--left", type=int, default=200_000)
    args.add_argument("--repeat", type=int, default=3)
    opts = args.parse_args()
    py = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        for name, source, size in (("static wordcount", WORDCOUNT, opts.words),
                                   ("join maintenance", JOIN, opts.left)):
            program = Path(tmp) / "main.py"
            program.write_text(source)
            out = str(Path(tmp) / "out.csv")
            base = dict(os.environ, PATHWAY_THREADS="1", PATHWAY_PROCESSES="1")
            variants = {
                "1 worker": ([py, str(program), out, str(size)], base),
                "2 processes": ([py, "-m", "reflow.cli", "spawn", "-n", "2", "--first-port",
                                 "24600", py, str(program), out, str(size)], base),
                "2 threads": ([py, str(program), out, str(size)],
                              dict(base, PATHWAY_THREADS="2")),
            }
            results: dict[str, list[float]] = {k: [] for k in variants}
            outputs = {}
            for _ in range(opts.repeat):  # interleaved, so that load hits every variant
                for key, (command, env) in variants.items():
                    results[key].append(timed(command, env))
                    lines = Path(out).read_text().splitlines()
                    outputs[key] = sorted(lines[1:])
            same = all(o == outputs["1 worker"] for o in outputs.values())
            one = statistics.median(results["1 worker"])
            print(f"{name} ({size:,}): same output on every variant: {same}")
            for key, runs in results.items():
                med = statistics.median(runs)
                print(f"  {key:12} median {med:6.2f} s  speed-up vs 1 worker {one / med:4.2f}x")


if __name__ == "__main__":
    main()
