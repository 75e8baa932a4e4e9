"""Ray actors side by side with one in-process worker, in one run: join maintenance over many
small logical times, the seconds per logical time (median, p99) and the throughput (updates
per second over the update times). The difference between Ray and one process is the cost
of the coordinator (starting a time on every actor and waiting for all) and of the exchange
through the object store.

    .venv/bin/python benchmarks/ray_workers.py [--left 100000] [--times 200] [--updates 50]

In-process, a time's seconds are the gaps between the sink's successive ``on_time_end``
calls; on Ray, the coordinator's time from starting a time to the last actor returning.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import time
from collections.abc import Callable

import numpy as np
import pandas as pd

import reflow as pw
from reflow.engine.operator import RunContext
from reflow.plan.nodes import forget_live_nodes
from reflow.runtime.ray_workers import run_on_ray
from reflow.runtime.runner import build, clear_outputs, registered_outputs


def program(left: int, times: int, updates: int, on_time_end: Callable[[int], None]) -> list:
    """Join ``left`` rows with ``left / 10`` right rows, then update ``updates`` right rows at
    each of ``times`` logical times; the running sum of ``a * b`` goes to a subscriber."""
    clear_outputs()
    forget_live_nodes()
    m = left // 10
    rng = np.random.default_rng(3)
    lhs = pd.DataFrame({"k": rng.integers(0, m, left), "a": rng.integers(0, 100, left)})
    rhs = pd.DataFrame({"k": np.arange(m), "b": rng.integers(0, 100, m),
                        "__time__": 0, "__diff__": 1})
    l_t = pw.debug.table_from_pandas(lhs)
    r_t = pw.debug.table_from_pandas(_consistent(rhs, times, updates, rng))
    j = l_t.join(r_t, l_t.k == r_t.k).select(l_t.a, r_t.b)
    s = j.reduce(total=pw.reducers.sum(j.a * j.b), rows=pw.reducers.count())
    seen: list = []
    pw.io.subscribe(s, on_change=lambda key, row, time, is_addition: seen.append(
        (time, row["total"], is_addition)), on_time_end=on_time_end)
    return seen


def _consistent(rhs: pd.DataFrame, times: int, updates: int, rng) -> pd.DataFrame:
    """The right table's update stream: each update retracts a row's current value and
    inserts a new one."""
    current = rhs.b.to_numpy().copy()
    parts = [rhs]
    for t in range(1, times + 1):
        rows = rng.choice(len(rhs), updates, replace=False)
        old = rhs.iloc[rows].assign(b=current[rows], __time__=2 * t, __diff__=-1)
        current[rows] += 1
        new = old.assign(b=current[rows], __diff__=1)
        parts += [old, new]
    return pd.concat(parts)


def per_time(ends: list[float]) -> list[float]:
    return [b - a for a, b in itertools.pairwise(ends)]


def summary(seconds: list[float]) -> tuple[float, float]:
    ordered = sorted(seconds)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return statistics.median(ordered), p99


def main() -> None:
    import ray

    args = argparse.ArgumentParser()
    args.add_argument("--left", type=int, default=100_000)
    args.add_argument("--times", type=int, default=200)
    args.add_argument("--updates", type=int, default=50)
    args.add_argument("--actors", default="1,2")
    opts = args.parse_args()
    ends: list[float] = []
    expected = program(opts.left, opts.times, opts.updates,
                       lambda t: ends.append(time.perf_counter()))
    pw.run()
    local = per_time(ends)[1:]  # update times only (the first holds the initial load)
    results = {"1 process": (local, sum(local))}
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        for actors in map(int, opts.actors.split(",")):
            got = program(opts.left, opts.times, opts.updates, lambda t: None)
            specs = registered_outputs()
            stats = run_on_ray(lambda specs=specs: build(specs, RunContext()), actors)
            if sorted(got) != sorted(expected):
                raise SystemExit(f"{actors} actors: different output: {len(got)} changes, "
                                 f"{len(expected)} in one process; {sorted(got)[:4]} / "
                                 f"{sorted(expected)[:4]}")
            updates = stats.time_seconds[1:]
            results[f"Ray, {actors} actor{'s' if actors > 1 else ''}"] = (updates, sum(updates))
            print(f"  ray {actors} actors: bytes sent per actor {stats.bytes_sent}, rows sent "
                  f"{stats.rows_sent}, slowest-actor lag median "
                  f"{statistics.median(stats.lag_seconds[1:]) * 1000:.2f} ms")
    finally:
        ray.shutdown()
    base_median = summary(local)[0]
    print(f"join maintenance {opts.left:,} x {opts.left // 10:,}, {opts.times} update times of "
          f"{opts.updates} updates (same output everywhere)")
    for name, (seconds, total) in results.items():
        median, p99 = summary(seconds)
        rate = opts.times * opts.updates / total
        print(f"  {name:16} per time median {median * 1000:7.2f} ms  p99 {p99 * 1000:7.2f} ms  "
              f"overhead vs 1 process (median) {(median - base_median) * 1000:+7.2f} ms  "
              f"{rate:9,.0f} updates/s")


if __name__ == "__main__":
    main()
