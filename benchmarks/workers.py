"""Workers side by side: the same program on 1 and 2 worker processes (``reflow spawn``), on
2 worker threads (``PATHWAY_THREADS``) and on Pathway 0.33 with ``PATHWAY_THREADS=2`` (the
same program, ``import pathway as pw``), in one run. Two times per variant: the whole
process (start, imports, building the inputs, run) and ``pw.run()`` alone (of the last
process to start it: the others wait for it), each with its ratio to one reflow worker, the
CPU time of ``pw.run()`` and of the whole command, summed over the processes (all threads of
each), and the CPU time of ``pw.run()`` in the busiest process (with a core per process, the
wall time of ``pw.run()`` cannot be less).

    .venv/bin/python benchmarks/workers.py [--words 5000000] [--left 1000000] [--repeat 3]
        [--no-pathway]

Join maintenance: ``left`` rows joined with ``left / 10`` right rows, then ``left / 10``
updates of right rows (a retraction and an insertion each) spread over 10 logical times;
the output is the running sum of ``a * b`` over the join and its row count.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from venvs import python_of

PRELUDE = textwrap.dedent('''
    import os, sys, time
    import numpy as np, pandas as pd
    if os.environ.get("BENCH_ENGINE") == "pathway":
        import pathway as pw
    else:
        import reflow as pw
    out, n = sys.argv[1], int(sys.argv[2])

    def run():
        start, cpu = time.perf_counter(), time.process_time()
        pw.run(monitoring_level=pw.MonitoringLevel.NONE)
        took, cpu = time.perf_counter() - start, time.process_time() - cpu
        with open(out + ".runtime." + os.environ.get("PATHWAY_PROCESS_ID", "0"), "w") as f:
            f.write(f"{took} {cpu}")
''')

WORDCOUNT = PRELUDE + textwrap.dedent('''
    rng = np.random.default_rng(1)
    words = pd.DataFrame({"w": np.char.add("w", (rng.zipf(1.3, n) % 50000).astype(str))
                          .astype(object)})
    t = pw.debug.table_from_pandas(words)
    counts = t.groupby(t.w).reduce(t.w, c=pw.reducers.count())
    pw.io.csv.write(counts, out)
    run()
''')

JOIN = PRELUDE + textwrap.dedent('''
    m = n // 10; times = 10
    rng = np.random.default_rng(2)
    left = pd.DataFrame({"k": rng.integers(0, m, n), "a": rng.integers(0, 100, n)})
    right = pd.DataFrame({"k": np.arange(m), "b": rng.integers(0, 100, m),
                          "__time__": 0, "__diff__": 1})
    upd = rng.permutation(m)
    later = []
    for t in range(1, times + 1):
        part = upd[(t - 1) * m // times: t * m // times]
        old = right.iloc[part].assign(__time__=2 * t, __diff__=-1)
        new = old.assign(b=old.b + t, __diff__=1)
        later += [old, new]
    right_all = pd.concat([right, *later])
    l = pw.debug.table_from_pandas(left)
    r = pw.debug.table_from_pandas(right_all)
    j = l.join(r, l.k == r.k).select(l.a, r.b)
    s = j.reduce(total=pw.reducers.sum(j.a * j.b), rows=pw.reducers.count())
    pw.io.csv.write(s, out)
    run()
''')


def timed(
    command: list[str], env: dict[str, str], out: str
) -> tuple[float, float, float, float, float]:
    """Wall time of the whole command and of ``pw.run()`` (with several processes, of the
    process that reached ``pw.run()`` last: the others wait for it to connect first), the
    CPU time of ``pw.run()`` summed over the processes (every thread of each), and the CPU
    time of the whole command (every process it started, from start to exit) and the CPU
    time of ``pw.run()`` in the busiest process."""
    for stale in Path(out).parent.glob(Path(out).name + ".runtime.*"):
        stale.unlink()
    start, before = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL)
    whole = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    whole_cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    runs = [tuple(map(float, p.read_text().split()))
            for p in Path(out).parent.glob(Path(out).name + ".runtime.*")]
    return (whole, min(wall for wall, _ in runs), sum(cpu for _, cpu in runs), whole_cpu,
            max(cpu for _, cpu in runs))


def final_rows(path: str) -> list[str]:
    """The rows of a CSV output with the last state of each key (time and diff dropped)."""
    import csv

    with open(path, newline="") as handle:
        rows = list(csv.reader(handle))
    header = rows[0]
    keep = [i for i, name in enumerate(header) if name not in ("time", "diff")]
    diff = header.index("diff")
    state: dict[str, int] = {}
    for cells in rows[1:]:
        key = ",".join(cells[i] for i in keep)
        state[key] = state.get(key, 0) + int(cells[diff])
    return sorted(k for k, v in state.items() if v)


def main() -> None:
    args = argparse.ArgumentParser()
    args.add_argument("--words", type=int, default=5_000_000)
    args.add_argument("--left", type=int, default=1_000_000)
    args.add_argument("--repeat", type=int, default=3)
    args.add_argument("--no-pathway", action="store_true")
    opts = args.parse_args()
    py = sys.executable
    pathway = python_of("pathway")
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
            if pathway.exists() and not opts.no_pathway:
                variants["Pathway 1 thread"] = ([str(pathway), str(program), out, str(size)],
                                                dict(base, BENCH_ENGINE="pathway"))
                variants["Pathway 2 threads"] = ([str(pathway), str(program), out, str(size)],
                                                 dict(base, BENCH_ENGINE="pathway",
                                                      PATHWAY_THREADS="2"))
            results: dict[str, list[tuple[float, ...]]] = {k: [] for k in variants}
            outputs = {}
            for _ in range(opts.repeat):  # interleaved, so that load hits every variant
                for key, (command, env) in variants.items():
                    results[key].append(timed(command, env, out))
                    outputs[key] = final_rows(out)
            same = all(o == outputs["1 worker"] for o in outputs.values())
            one_whole, one_run, one_cpu, one_whole_cpu, _ = (
                statistics.median(r[i] for r in results["1 worker"]) for i in range(5)
            )
            print(f"{name} ({size:,}): same output on every variant: {same}")
            for key, runs in results.items():
                whole, run, cpu, whole_cpu, busiest = (
                    statistics.median(r[i] for r in runs) for i in range(5)
                )
                print(f"  {key:18} whole {whole:6.2f} s ({one_whole / whole:4.2f}x)   "
                      f"pw.run {run:6.2f} s ({one_run / run:4.2f}x)   "
                      f"pw.run CPU {cpu:6.2f} s ({one_cpu / cpu:4.2f}x)   "
                      f"whole CPU {whole_cpu:6.2f} s ({one_whole_cpu / whole_cpu:4.2f}x)   "
                      f"busiest process's pw.run CPU {busiest:6.2f} s "
                      f"({one_cpu / busiest:4.2f}x)")


if __name__ == "__main__":
    main()
