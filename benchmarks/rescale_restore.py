"""Restoring a sharded state on another number of workers against the same number.

A 1M-row state on 2 worker threads -- a join arranging 1M rows against the per-key totals of
a groupby (count, int sum: running sums) and a groupby with max (the general reduce, 1M input
rows in its columnar tier) -- is snapshotted per worker (``ShardedDataflow.snapshot_states``,
what a checkpoint holds). Then, interleaved, its restore into fresh builds is timed (CPU time
of the whole process): on 2 workers (each its own snapshots) and on 1, 3 and 4 workers (the
snapshots re-partitioned by key first, ``reflow.engine.sharding.reshard_states``).

    .venv/bin/python benchmarks/rescale_restore.py [--rows N] [--keys N] [--repeat N]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import pandas as pd

import reflow as pw
from reflow.engine.operator import RunContext
from reflow.engine.sharding import ShardedDataflow, reshard_states
from reflow.runtime.exchange import ThreadExchange
from reflow.runtime.runner import build, clear_outputs, registered_outputs
from reflow.runtime.workers import build_for, run_threads, static_batches


def _program(rows: int, keys: int) -> None:
    rng = np.random.default_rng(7)
    frame = pd.DataFrame({"k": rng.integers(0, keys, rows), "v": rng.integers(0, 1000, rows)})
    t = pw.debug.table_from_pandas(frame)
    totals = t.groupby(t.k).reduce(t.k, c=pw.reducers.count(), s=pw.reducers.sum(t.v))
    joined = t.join(totals, t.k == totals.k).select(t.v, totals.s)
    highest = t.groupby(t.k).reduce(t.k, m=pw.reducers.max(t.v))
    pw.io.null.write(joined)
    pw.io.null.write(highest)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--keys", type=int, default=250_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    clear_outputs()
    _program(args.rows, args.keys)
    specs = registered_outputs()

    def make():
        return build(specs, RunContext())

    def load(worker: int, shard: ShardedDataflow, lowering) -> None:
        for at, batches in sorted(static_batches(lowering, worker, shard.workers).items()):
            shard.run_time(at, {op: batch for op, batch in batches})

    shards = run_threads(make, 2, load)
    indices = shards[0].dataflow.stateful_indices()
    saved = [shard.snapshot_states(indices) for shard in shards]
    per_operator = {i: [states[i] for states in saved] for i in indices}
    size = sum(len(blob) for states in saved for blob in states.values())
    print(f"state: {args.rows:,} rows, {args.keys:,} keys, {len(indices)} stateful operators, "
          f"{size / 1e6:.1f} MB of snapshots on 2 workers")
    times: dict[int, list[float]] = {w: [] for w in (2, 1, 3, 4)}
    for _ in range(args.repeat):
        for workers in times:
            fresh = [build_for(w, make) for w in range(workers)]
            exchanges = ThreadExchange.group(workers)
            targets = [ShardedDataflow(f.dataflow, w, workers, exchanges[w])
                       for w, f in enumerate(fresh)]
            started = time.process_time()
            moved = reshard_states(fresh[0].dataflow.operators, per_operator, workers)
            for w, target in enumerate(targets):
                target.restore_states({i: parts[w] for i, parts in moved.items()}, 0)
            times[workers].append(time.process_time() - started)
    same = statistics.median(times[2])
    print("| restored on | CPU s (median) | vs same count |")
    print("|---|---|---|")
    for workers, spent in times.items():
        median = statistics.median(spent)
        print(f"| {workers} worker(s){' (same)' if workers == 2 else ''} | {median:.2f} | "
              f"{median / same:.2f}x |")


if __name__ == "__main__":
    main()
