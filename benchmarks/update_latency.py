"""Update latency of an incremental groupby + join, reflow against Pathway, in one run.

Pipeline (the same code for both frameworks):

    facts (N rows: i, g, v) -> groupby(g).reduce(g, sum(v), count(), max(v))   (G groups)
                            -> join with dims (G rows: g, label) on g -> select

After the initial load, U single-row updates (a fact's ``v`` changes) are applied, each in its
own logical time, and the time from the update entering the engine to its effect reaching the
output is measured. The script reports the median and p99 latency, the ratio of recomputing
the pipeline from scratch to one update, checks the final output against a from-scratch Polars
computation, and runs the same pipeline in Pathway 0.33 (installed in its own virtualenv under
``benchmarks/.venvs/pathway``, created on first use) for a same-run ratio.

For reflow, "entering" is the call to ``Dataflow.run_time`` with the update's batch and
"visible" is the output sink receiving the delta of that time. For Pathway, it is the
``commit()`` of a Python connector subject and the ``on_time_end`` callback of
``pw.io.subscribe`` for that commit.

Usage: ``python benchmarks/update_latency.py [--rows N] [--groups G] [--updates U]
[--skip-pathway]``
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PATHWAY_VENV = HERE / ".venvs" / "pathway"
PATHWAY_VERSION = "0.33.0"
SEED = 20240611


# --- data shared by both runs (numpy only, so it works in either environment) ------------------
def make_data(rows: int, groups: int, updates: int, seed: int = SEED):
    import numpy as np

    rng = np.random.default_rng(seed)
    i = np.arange(rows, dtype=np.int64)
    g = i % groups
    v = rng.integers(0, 1_000_000, rows, dtype=np.int64)
    dims_g = np.arange(groups, dtype=np.int64)
    labels = [f"label-{x}" for x in range(groups)]
    which = rng.integers(0, rows, updates, dtype=np.int64)
    new_values = rng.integers(0, 1_000_000, updates, dtype=np.int64)
    return i, g, v, dims_g, labels, which, new_values


def summarize(latencies: list[float]) -> dict[str, float]:
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return {
        "median_ms": statistics.median(ordered) * 1e3,
        "p99_ms": p99 * 1e3,
        "mean_ms": statistics.fmean(ordered) * 1e3,
    }


# --- reflow --------------------------------------------------------------------------------
def reflow_pipeline(pw, facts, dims):
    agg = facts.groupby(pw.this.g).reduce(
        pw.this.g,
        s=pw.reducers.sum(pw.this.v),
        c=pw.reducers.count(),
        m=pw.reducers.max(pw.this.v),
    )
    return agg.join(dims, agg.g == dims.g).select(
        pw.left.g, pw.left.s, pw.left.c, pw.left.m, pw.right.label
    )


def run_reflow(rows: int, groups: int, updates: int) -> dict:
    import polars as pl

    import reflow as pw
    from reflow.engine.batch import DIFF, ID
    from reflow.engine.ids import hash_columns
    from reflow.engine.operator import RunContext
    from reflow.engine.operators.stateless import OutputOperator
    from reflow.runtime.runner import OutputSpec, build

    i, g, v, dims_g, labels, which, new_values = make_data(rows, groups, updates)
    facts = pw.Table.empty(i=int, g=int, v=int)
    dims = pw.Table.empty(g=int, label=str)
    result = reflow_pipeline(pw, facts, dims)

    def as_batch(frame: pl.DataFrame, key: str, diff: int = 1) -> pl.DataFrame:
        return frame.select(
            hash_columns(frame, [key]).alias(ID), pl.all(), pl.lit(diff, dtype=pl.Int64).alias(DIFF)
        )

    facts_frame = pl.DataFrame({"i": i, "g": g, "v": v})
    dims_frame = pl.DataFrame({"g": dims_g, "label": labels})
    facts_batch = as_batch(facts_frame, "i")
    dims_batch = as_batch(dims_frame, "g")

    def new_dataflow(sink):
        spec = OutputSpec(
            result._node, lambda lowering, op: lowering.add(OutputOperator(op, "sink", sink))
        )
        lowering = build([spec], RunContext())
        return (
            lowering.dataflow,
            lowering.lower(facts._node),
            lowering.lower(dims._node),
        )

    seen: list[tuple[int, float, pl.DataFrame]] = []

    def sink(t: int, delta: pl.DataFrame) -> None:
        seen.append((t, time.perf_counter(), delta))

    flow, facts_in, dims_in = new_dataflow(sink)
    start = time.perf_counter()
    flow.run_time(0, {facts_in: facts_batch, dims_in: dims_batch})
    initial_load = time.perf_counter() - start

    # One-row updates: the fact row's value changes (a retraction and an insertion of its id).
    current_v = v.copy()
    latencies = []
    for n, (row, new_value) in enumerate(zip(which.tolist(), new_values.tolist(), strict=True)):
        old_value = int(current_v[row])
        if new_value == old_value:
            new_value += 1
        update = pl.DataFrame(
            {"i": [row, row], "g": [int(g[row])] * 2, "v": [old_value, new_value]}
        )
        batch = update.select(
            hash_columns(update, ["i"]).alias(ID), pl.all(),
            pl.Series(DIFF, [-1, 1], dtype=pl.Int64),
        )
        current_v[row] = new_value
        before = len(seen)
        entered = time.perf_counter()
        flow.run_time(n + 1, {facts_in: batch})
        if len(seen) == before:
            raise AssertionError(f"update {n} produced no output")
        latencies.append(seen[-1][1] - entered)

    # The output after all updates must equal a from-scratch computation.
    state = pl.concat([d for _, _, d in seen]).group_by(pl.all().exclude(DIFF, ID)).agg(
        pl.col(DIFF).sum()
    ).filter(pl.col(DIFF) != 0)
    final_facts = pl.DataFrame({"i": i, "g": g, "v": current_v})
    expected = (
        final_facts.group_by("g")
        .agg(s=pl.col("v").sum(), c=pl.len().cast(pl.Int64), m=pl.col("v").max())
        .join(dims_frame, on="g")
    )
    got = state.select("g", "s", "c", "m", "label").sort("g")
    if not got.equals(expected.select("g", "s", "c", "m", "label").sort("g")) or (
        state[DIFF] != 1
    ).any():
        raise AssertionError("reflow's incremental result differs from a from-scratch run")

    # Recomputing from scratch: a fresh dataflow over the final data.
    flow2, facts_in2, dims_in2 = new_dataflow(lambda t, d: None)
    start = time.perf_counter()
    flow2.run_time(0, {facts_in2: as_batch(final_facts, "i"), dims_in2: dims_batch})
    scratch = time.perf_counter() - start
    stats = summarize(latencies)
    return {
        "initial_load_s": initial_load,
        "recompute_s": scratch,
        **stats,
        "recompute_over_median": scratch / (stats["median_ms"] / 1e3),
        "checked": True,
    }


# --- Pathway (runs inside its own virtualenv) --------------------------------------------------
def pathway_worker(rows: int, groups: int, updates: int) -> None:
    import threading

    import numpy as np
    import pandas as pd
    import pathway as pw

    i, g, v, dims_g, labels, which, new_values = make_data(rows, groups, updates)

    class Facts(pw.Schema):
        i: int = pw.column_definition(primary_key=True)
        g: int
        v: int

    lock = threading.Condition()
    state = {"times": 0, "rows": 0, "changed": False, "seen_at": 0.0}

    def on_change(key, row, time, is_addition):
        with lock:
            state["rows"] += 1 if is_addition else -1
            state["changed"] = True
            if is_addition:
                state["last"] = (row["g"], row["s"])

    def on_time_end(time):
        with lock:
            if state["changed"]:
                state["changed"] = False
                state["times"] += 1
                state["seen_at"] = _now()
                lock.notify_all()

    results: dict = {}

    def wait(predicate, timeout=600.0):
        with lock:
            if not lock.wait_for(predicate, timeout):
                raise TimeoutError("Pathway produced no output in time")

    class Subject(pw.io.python.ConnectorSubject):
        def __init__(self):
            super().__init__(session_type="upsert")

        def run(self):
            start = _now()
            for row in zip(i.tolist(), g.tolist(), v.tolist(), strict=True):
                self.next(i=row[0], g=row[1], v=row[2])
            self.commit()
            wait(lambda: state["rows"] == groups)
            results["initial_load_s"] = _now() - start
            current = v.copy()
            sums = np.bincount(g, weights=v, minlength=groups).astype(np.int64)
            latencies = []
            for row, new_value in zip(which.tolist(), new_values.tolist(), strict=True):
                if new_value == int(current[row]):
                    new_value += 1
                group = int(g[row])
                sums[group] += new_value - int(current[row])
                current[row] = new_value
                expected = (group, int(sums[group]))
                entered = _now()
                self.next(i=row, g=group, v=new_value)
                self.commit()
                # Done when the output row of the updated group shows its new sum.
                wait(lambda expected=expected: state.get("last") == expected
                     and not state["changed"])
                latencies.append(state["seen_at"] - entered)
            results["latencies"] = latencies

    facts = pw.io.python.read(Subject(), schema=Facts, autocommit_duration_ms=None)
    dims = pw.debug.table_from_pandas(pd.DataFrame({"g": dims_g, "label": labels}))
    result = reflow_pipeline(pw, facts, dims)
    pw.io.subscribe(result, on_change=on_change, on_time_end=on_time_end)
    pw.run(monitoring_level=pw.MonitoringLevel.NONE)
    stats = summarize(results["latencies"])
    print(json.dumps({"initial_load_s": results["initial_load_s"], **stats}))


def _now() -> float:
    return time.perf_counter()


def ensure_pathway_venv() -> Path | None:
    """The virtualenv's Python with Pathway installed, creating it if needed; None on failure."""
    python = PATHWAY_VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    probe = f"import pathway, sys; sys.exit(pathway.__version__ != {PATHWAY_VERSION!r})"
    check = [str(python), "-c", probe]
    if python.exists() and subprocess.run(check, capture_output=True).returncode == 0:
        return python
    print(f"creating {PATHWAY_VENV} with pathway=={PATHWAY_VERSION} (first run only)...")
    try:
        if not python.exists():
            subprocess.run([sys.executable, "-m", "venv", str(PATHWAY_VENV)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", f"pathway=={PATHWAY_VERSION}", "pandas"],
            check=True,
        )
    except (subprocess.CalledProcessError, OSError) as exc:
        print(f"could not set up Pathway in {PATHWAY_VENV}: {exc}")
        return None
    if subprocess.run(check, capture_output=True).returncode != 0:
        print(f"Pathway {PATHWAY_VERSION} is not importable in {PATHWAY_VENV}")
        return None
    return python


def run_pathway(rows: int, groups: int, updates: int) -> dict | None:
    python = ensure_pathway_venv()
    if python is None:
        print("skipping the Pathway comparison (see the message above)")
        return None
    command = [
        str(python), str(Path(__file__).resolve()), "--pathway-worker",
        "--rows", str(rows), "--groups", str(groups), "--updates", str(updates),
    ]
    env = dict(os.environ, PATHWAY_THREADS="1")
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        print("the Pathway run failed; its last output lines:")
        print("\n".join((done.stdout + done.stderr).splitlines()[-15:]))
        return None
    return json.loads(lines[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--groups", type=int, default=100_000)
    parser.add_argument("--updates", type=int, default=1000)
    parser.add_argument("--skip-pathway", action="store_true")
    parser.add_argument("--pathway-worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.pathway_worker:
        pathway_worker(args.rows, args.groups, args.updates)
        return

    sys.path.insert(0, str(HERE.parent))
    print(f"pipeline: {args.rows:,} rows -> groupby into {args.groups:,} groups "
          f"(sum, count, max) -> join with {args.groups:,} rows; {args.updates:,} one-row updates")
    ours = run_reflow(args.rows, args.groups, args.updates)
    print(f"reflow : initial load {ours['initial_load_s']:.2f} s, recompute from scratch "
          f"{ours['recompute_s']:.2f} s")
    print(f"reflow : update latency median {ours['median_ms']:.3f} ms, p99 {ours['p99_ms']:.3f} ms"
          f" (recompute / median = {ours['recompute_over_median']:,.0f}x); final output checked")
    if args.skip_pathway:
        return
    theirs = run_pathway(args.rows, args.groups, args.updates)
    if theirs is None:
        return
    print(f"Pathway: initial load {theirs['initial_load_s']:.2f} s (rows pushed through a Python "
          "connector)")
    print(f"Pathway: update latency median {theirs['median_ms']:.3f} ms, p99 "
          f"{theirs['p99_ms']:.3f} ms")
    print(f"median latency ratio Pathway / reflow = {theirs['median_ms'] / ours['median_ms']:.2f}"
          f" (p99 ratio {theirs['p99_ms'] / ours['p99_ms']:.2f})")


if __name__ == "__main__":
    main()
