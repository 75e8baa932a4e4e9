"""Workers side by side: the same program on 1 and 2 worker processes (``reflow spawn``), on
2 worker threads (``PATHWAY_THREADS``) and on Pathway 0.33 with ``PATHWAY_THREADS=2`` (the
same program, ``import pathway as pw``), in one run. Two times per variant: the whole
process (start, imports, building the inputs, run) and ``pw.run()`` alone (of the last
process to start it: the others wait for it), each with its ratio to one reflow worker, the
CPU time of ``pw.run()`` and of the whole command, summed over the processes (all threads of
each), the CPU time of ``pw.run()`` in the busiest process (with a core per process, the
wall time of ``pw.run()`` cannot be less), and the most time a process spent inside the
exchange's calls (sending, and waiting for the other processes' batches; reflow processes).
Two processes start through ``python -m reflow_cli spawn`` (``reflow.cli`` for versions of
reflow without it).

    .venv/bin/python benchmarks/workers.py [--words 5000000] [--left 1000000] [--repeat 3]
        [--no-pathway] [--workloads wordcount-csv,join-csv,wordcount,join] [--files 8]
        [--variants "1 worker,2 processes,2 threads,Pathway 1 thread,Pathway 2 threads"]

Workloads: ``wordcount-csv`` counts ``words`` zipf words read from ``files`` CSV files with
``pw.io.csv.read(folder, mode="static")`` (each worker reads its own files); ``join-csv``
joins ``left`` rows with ``left / 10`` right rows, both read from ``files`` CSV files each,
and sums ``a * b`` over the join. The CSV files are written once, before any timing.
``wordcount`` and ``join`` build their inputs in the program with numpy/pandas and
``pw.debug.table_from_pandas`` (every process builds them whole); ``join`` is join
maintenance: ``left`` rows joined with ``left / 10`` right rows, then ``left / 10`` updates
of right rows (a retraction and an insertion each) spread over 10 logical times; the output
is the running sum of ``a * b`` over the join and its row count.
"""

from __future__ import annotations

import argparse
import importlib.util
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
    out, n, data = sys.argv[1], int(sys.argv[2]), sys.argv[3]

    # Seconds the worker spends inside the exchange's calls between processes (sending,
    # and waiting for the other processes' batches), whatever the version of the exchange.
    blocked, depth = [0.0], [0]
    processes = os.environ.get("PATHWAY_PROCESSES", "1")
    if os.environ.get("BENCH_ENGINE") != "pathway" and processes != "1":
        from reflow.runtime import exchange as _exchange

        def _timed(call):
            def timed(*args, **kwargs):
                depth[0] += 1
                start = time.perf_counter()
                try:
                    return call(*args, **kwargs)
                finally:
                    depth[0] -= 1
                    if not depth[0]:
                        blocked[0] += time.perf_counter() - start
            return timed

        for _name in ("all_to_all", "all_to_all_many", "gather"):
            if _name in vars(_exchange.SocketExchange):
                setattr(_exchange.SocketExchange, _name,
                        _timed(getattr(_exchange.SocketExchange, _name)))

    def run():
        start, cpu = time.perf_counter(), time.process_time()
        pw.run(monitoring_level=pw.MonitoringLevel.NONE)
        took, cpu = time.perf_counter() - start, time.process_time() - cpu
        with open(out + ".runtime." + os.environ.get("PATHWAY_PROCESS_ID", "0"), "w") as f:
            f.write(f"{took} {cpu} {blocked[0]}")
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


WORDCOUNT_CSV = PRELUDE + textwrap.dedent('''
    class Words(pw.Schema):
        w: str
    t = pw.io.csv.read(data + "/words", schema=Words, mode="static")
    counts = t.groupby(t.w).reduce(t.w, c=pw.reducers.count())
    pw.io.csv.write(counts, out)
    run()
''')

JOIN_CSV = PRELUDE + textwrap.dedent('''
    class Left(pw.Schema):
        k: int
        a: int
    class Right(pw.Schema):
        k: int
        b: int
    l = pw.io.csv.read(data + "/left", schema=Left, mode="static")
    r = pw.io.csv.read(data + "/right", schema=Right, mode="static")
    j = l.join(r, l.k == r.k).select(l.a, r.b)
    s = j.reduce(total=pw.reducers.sum(j.a * j.b), rows=pw.reducers.count())
    pw.io.csv.write(s, out)
    run()
''')


def write_csv_inputs(folder: Path, words: int, left: int, files: int) -> None:
    """The CSV inputs of ``wordcount-csv`` and ``join-csv``, ``files`` files per table."""
    import numpy as np

    def write(name: str, header: str, columns: list) -> None:
        (folder / name).mkdir(parents=True, exist_ok=True)
        height = len(columns[0])
        for part in range(files):
            lo, hi = height * part // files, height * (part + 1) // files
            lines = [header, *(",".join(map(str, row))
                               for row in zip(*(c[lo:hi].tolist() for c in columns)))]
            (folder / name / f"part-{part:03}.csv").write_text("\n".join(lines) + "\n")

    rng = np.random.default_rng(1)
    write("words", "w", [np.char.add("w", (rng.zipf(1.3, words) % 50000).astype(str))])
    rng = np.random.default_rng(2)
    m = left // 10
    write("left", "k,a", [rng.integers(0, m, left), rng.integers(0, 100, left)])
    write("right", "k,b", [np.arange(m), rng.integers(0, 100, m)])


def timed(
    command: list[str], env: dict[str, str], out: str
) -> tuple[float, float, float, float, float, float]:
    """Wall time of the whole command and of ``pw.run()`` (with several processes, of the
    process that reached ``pw.run()`` last: the others wait for it to connect first), the
    CPU time of ``pw.run()`` summed over the processes (every thread of each), and the CPU
    time of the whole command (every process it started, from start to exit) and the CPU
    time of ``pw.run()`` in the busiest process, and the most time a process spent inside
    the exchange's calls (sending, and waiting for the others)."""
    for stale in Path(out).parent.glob(Path(out).name + ".runtime.*"):
        stale.unlink()
    start, before = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL)
    whole = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    whole_cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    runs = [tuple(map(float, p.read_text().split()))
            for p in Path(out).parent.glob(Path(out).name + ".runtime.*")]
    return (whole, min(wall for wall, _, _ in runs), sum(cpu for _, cpu, _ in runs), whole_cpu,
            max(cpu for _, cpu, _ in runs), max(wait for _, _, wait in runs))


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
    args.add_argument("--workloads", default="wordcount-csv,join-csv,wordcount,join")
    args.add_argument("--files", type=int, default=8)
    args.add_argument("--variants", default="",
                      help="comma-separated variants to run (default: all), e.g. "
                      "'Pathway 1 thread,Pathway 2 threads'; ratios are to the first")
    opts = args.parse_args()
    py = sys.executable
    pathway = python_of("pathway")
    # The launcher that does not import reflow, where this version of reflow has it.
    found = importlib.util.find_spec("reflow_cli") is not None
    launcher = "reflow_cli" if found else "reflow.cli"
    workloads = {
        "wordcount-csv": ("static wordcount from CSV", WORDCOUNT_CSV, opts.words),
        "join-csv": ("static join from CSV", JOIN_CSV, opts.left),
        "wordcount": ("static wordcount, table_from_pandas", WORDCOUNT, opts.words),
        "join": ("join maintenance, table_from_pandas", JOIN, opts.left),
    }
    chosen = opts.workloads.split(",")
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        if any(name.endswith("-csv") for name in chosen):
            write_csv_inputs(data, opts.words, opts.left, opts.files)
        for name, source, size in (workloads[key] for key in chosen):
            program = Path(tmp) / "main.py"
            program.write_text(source)
            out = str(Path(tmp) / "out.csv")
            base = dict(os.environ, PATHWAY_THREADS="1", PATHWAY_PROCESSES="1")
            argv = [str(program), out, str(size), str(data)]
            variants = {
                "1 worker": ([py, *argv], base),
                "2 processes": ([py, "-m", launcher, "spawn", "-n", "2", "--first-port",
                                 "24600", py, *argv], base),
                "2 threads": ([py, *argv], dict(base, PATHWAY_THREADS="2")),
            }
            if pathway.exists() and not opts.no_pathway:
                variants["Pathway 1 thread"] = ([str(pathway), *argv],
                                                dict(base, BENCH_ENGINE="pathway"))
                variants["Pathway 2 threads"] = ([str(pathway), *argv],
                                                 dict(base, BENCH_ENGINE="pathway",
                                                      PATHWAY_THREADS="2"))
            if opts.variants:
                variants = {k: v for k, v in variants.items()
                            if k in opts.variants.split(",")}
            results: dict[str, list[tuple[float, ...]]] = {k: [] for k in variants}
            outputs = {}
            for _ in range(opts.repeat):  # interleaved, so that load hits every variant
                for key, (command, env) in variants.items():
                    results[key].append(timed(command, env, out))
                    outputs[key] = final_rows(out)
            first = next(iter(variants))  # "1 worker", unless left out
            same = all(o == outputs[first] for o in outputs.values())
            one_whole, one_run, one_cpu, one_whole_cpu, _, _ = (
                statistics.median(r[i] for r in results[first]) for i in range(6)
            )
            print(f"{name} ({size:,}): same output on every variant: {same}")
            for key, runs in results.items():
                whole, run, cpu, whole_cpu, busiest, wait = (
                    statistics.median(r[i] for r in runs) for i in range(6)
                )
                print(f"  {key:18} whole {whole:6.2f} s ({one_whole / whole:4.2f}x)   "
                      f"pw.run {run:6.2f} s ({one_run / run:4.2f}x)   "
                      f"pw.run CPU {cpu:6.2f} s ({one_cpu / cpu:4.2f}x)   "
                      f"whole CPU {whole_cpu:6.2f} s ({one_whole_cpu / whole_cpu:4.2f}x)   "
                      f"busiest process's pw.run CPU {busiest:6.2f} s "
                      f"({one_cpu / busiest:4.2f}x)   "
                      f"most time in the exchange {wait:5.2f} s")


if __name__ == "__main__":
    main()
