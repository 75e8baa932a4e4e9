"""Single-row update latency through a large incremental groupby, against recomputing it.

    python benchmarks/groupby_update.py [--rows 1000000] [--groups 100000] [--updates 1000]

Pipeline: ``t.groupby(t.k).reduce(t.k, s=sum(x), n=count(), top=max(x))`` over ``--rows``
rows in ``--groups`` groups. The initial load is one batch (the vectorized path). Then
``--updates`` single-row updates (a retraction plus an insertion of one row with a new value,
sometimes moving it to another group), each in its own logical time, are pushed through the
dataflow; the latency of one update is the time from handing the batch to the scheduler until
the sink has received the output delta of that time. Recomputing from scratch is the time of a
fresh dataflow over the whole updated input. Prints the median and p99 latency and the ratio.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

import polars as pl

import reflow as pw
from reflow.engine.batch import DIFF, ID, ID_DTYPE
from reflow.engine.dataflow import Dataflow
from reflow.engine.ids import hash_columns
from reflow.engine.operators.stateless import OutputOperator
from reflow.plan.nodes import Lowering


def build(rows_input: pw.Table) -> tuple[Dataflow, object, list[int]]:
    """Lower the pipeline into a dataflow; returns it, its input operator and a sink counter."""
    t = rows_input
    result = t.groupby(t.k).reduce(
        t.k, s=pw.reducers.sum(t.x), n=pw.reducers.count(), top=pw.reducers.max(t.x)
    )
    lowering = Lowering(Dataflow())
    operator = lowering.lower(result._node)
    seen = [0]

    def on_time(_time: int, delta: pl.DataFrame) -> None:
        seen[0] += delta.height

    lowering.add(OutputOperator(operator, "sink", on_time))
    ((source, _),) = lowering.inputs
    return lowering.dataflow, source, seen


def initial_batch(rows: int, groups: int, seed: int) -> pl.DataFrame:
    rng = random.Random(seed)
    keys = pl.Series("k", [rng.randrange(groups) for _ in range(rows)], dtype=pl.Int64)
    values = pl.Series("x", [rng.randrange(1_000_000) for _ in range(rows)], dtype=pl.Int64)
    frame = pl.DataFrame({"row": pl.arange(0, rows, eager=True)})
    ids = hash_columns(frame, ["row"], "bench")
    return pl.DataFrame(
        [ids.alias(ID), keys, values, pl.Series(DIFF, [1] * rows, dtype=pl.Int64)]
    )


def update_batch(row_id: int, old: tuple[int, int], new: tuple[int, int]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            ID: pl.Series([row_id, row_id], dtype=ID_DTYPE),
            "k": pl.Series([old[0], new[0]], dtype=pl.Int64),
            "x": pl.Series([old[1], new[1]], dtype=pl.Int64),
            DIFF: pl.Series([-1, 1], dtype=pl.Int64),
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--groups", type=int, default=100_000)
    parser.add_argument("--updates", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    schema = pw.schema_from_types(k=int, x=int)
    table = pw.debug.table_from_rows(schema, [])
    batch = initial_batch(args.rows, args.groups, args.seed)

    flow, source, seen = build(table)
    start = time.perf_counter()
    flow.run_time(0, {source: batch})
    load_s = time.perf_counter() - start
    print(f"initial load of {args.rows:,} rows: {load_s * 1000:.0f} ms ({seen[0]:,} groups)")

    rng = random.Random(args.seed + 1)
    ids = batch[ID].to_list()
    keys = batch["k"].to_list()
    values = batch["x"].to_list()
    latencies = []
    for step in range(args.updates):
        i = rng.randrange(args.rows)
        old = (keys[i], values[i])
        new_key = keys[i] if rng.random() < 0.9 else rng.randrange(args.groups)
        new = (new_key, rng.randrange(1_000_000))
        delta = update_batch(ids[i], old, new)
        keys[i], values[i] = new
        before = seen[0]
        start = time.perf_counter()
        flow.run_time(step + 1, {source: delta})
        latencies.append(time.perf_counter() - start)
        assert seen[0] > before, "an update produced no output"

    final = batch.with_columns(pl.Series("k", keys), pl.Series("x", values))
    scratch_flow, scratch_source, _ = build(table)
    start = time.perf_counter()
    scratch_flow.run_time(0, {scratch_source: final})
    scratch_s = time.perf_counter() - start

    latencies.sort()
    median = statistics.median(latencies)
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    print(f"single-row update latency over {args.updates} updates: "
          f"median {median * 1000:.3f} ms, p99 {p99 * 1000:.3f} ms")
    print(f"recompute from scratch: {scratch_s * 1000:.0f} ms; "
          f"ratio scratch / median update: {scratch_s / median:,.0f}x")


if __name__ == "__main__":
    main()
