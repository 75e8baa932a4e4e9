"""UDF benchmark: scalar, batched and async UDFs against the plain-Python alternatives.

Run: ``.venv/bin/python benchmarks/udf.py [--rows 1000000] [--async-rows 10000]``.

Measured (best of ``--repeat`` runs, each a fresh static run of one select):

1. scalar UDF over N rows vs a plain Python loop calling the same function over a list of the
   same values. ``incremental`` is the UDF select minus the same pipeline with an identity
   select (input, consolidation and sink cost the same in both), i.e. what the UDF adds;
   ``total`` is the whole run.
2. batched UDF (``max_batch_size=10_000``) around a numpy function vs the scalar UDF calling the
   same numpy function row by row.
3. async UDF sleeping 10 ms per call, ``capacity=100``, over 10,000 rows: wall time.
"""

from __future__ import annotations

import argparse
import asyncio
import time

import numpy as np
import pandas as pd

import reflow as pw
from reflow.engine.stateless import OutputOperator
from reflow.runtime.runner import OutputSpec, run_outputs


def run_seconds(table: pw.Table) -> float:
    """Wall time of one static run of ``table`` into a sink that keeps the batches."""
    kept = []

    def attach(lowering, operator):
        return lowering.add(OutputOperator(operator, "bench", lambda t, d: kept.append(d)))

    start = time.perf_counter()
    run_outputs([OutputSpec(table._node, attach)])
    return time.perf_counter() - start


def best(function, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        times.append(function())
    return min(times)


def affine(x: int) -> int:
    return x * 2 + 1


def score(x: int) -> float:
    return float(np.tanh(x * 1e-6))


def score_batch(xs: list[int]) -> np.ndarray:
    return np.tanh(np.asarray(xs, dtype=np.float64) * 1e-6)


def plain_loop(function, values: list) -> float:
    start = time.perf_counter()
    out = []
    append = out.append
    for value in values:
        append(function(value))
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--async-rows", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    n = args.rows
    table = pw.debug.table_from_pandas(pd.DataFrame({"x": np.arange(n, dtype=np.int64)}))
    values = list(range(n))

    identity = best(lambda: run_seconds(table.select(y=pw.this.x)), args.repeat)
    print(f"rows: {n:,}; identity select pipeline: {identity:.3f} s")

    results = {}
    for label, function in (("affine (x*2+1)", affine), ("numpy tanh per row", score)):
        loop = best(lambda f=function: plain_loop(f, values), args.repeat)
        for mode, deterministic in (("non-deterministic", False), ("deterministic", True)):
            udf = pw.udf(function, deterministic=deterministic)
            total = best(lambda u=udf: run_seconds(table.select(y=u(pw.this.x))), args.repeat)
            extra = total - identity
            results[(label, mode)] = total
            print(
                f"scalar UDF {label:20s} {mode:17s}: total {total:.3f} s, "
                f"incremental {extra:.3f} s; plain loop {loop:.3f} s; "
                f"incremental/loop {extra / loop:.2f}x, total/loop {total / loop:.2f}x"
            )

    batched = pw.udf(score_batch, return_type=float, max_batch_size=10_000)
    total_batched = best(lambda: run_seconds(table.select(y=batched(pw.this.x))), args.repeat)
    scalar = results[("numpy tanh per row", "non-deterministic")]
    print(
        f"batched UDF (max_batch_size=10,000) numpy tanh: total {total_batched:.3f} s "
        f"(incremental {total_batched - identity:.3f} s); scalar UDF / batched UDF: "
        f"{scalar / total_batched:.1f}x total, "
        f"{(scalar - identity) / max(total_batched - identity, 1e-9):.1f}x incremental"
    )

    @pw.udf(executor=pw.udfs.async_executor(capacity=100))
    async def sleepy(x: int) -> int:
        await asyncio.sleep(0.01)
        return x

    small = pw.debug.table_from_pandas(
        pd.DataFrame({"x": np.arange(args.async_rows, dtype=np.int64)})
    )
    wall = best(lambda: run_seconds(small.select(y=sleepy(pw.this.x))), 1)
    ideal = args.async_rows * 0.01 / 100
    print(
        f"async UDF, 10 ms sleep, capacity 100, {args.async_rows:,} rows: {wall:.2f} s "
        f"(ideal {ideal:.2f} s, sequential {args.async_rows * 0.01:.0f} s)"
    )


if __name__ == "__main__":
    main()
