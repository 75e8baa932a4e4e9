"""UDF benchmark: scalar, batched and async UDFs against the plain-Python alternatives.

Run: ``.venv/bin/python benchmarks/udf.py [--rows 1000000] [--async-rows 10000]``.

Measured (best of ``--repeat`` runs, each a fresh static run of one select):

1. scalar UDF over N rows vs a plain Python loop calling the same function over a list of the
   same values. ``stage`` is the time spent in the rowwise stage (turning the argument column
   into Python values, the calls, building the result column); ``added`` is the whole run
   minus the same pipeline with an identity select instead of the UDF (input, consolidation
   and sink cost the same in both), i.e. everything the UDF adds, memory of the values a
   non-deterministic UDF returned included.
2. batched UDF (``max_batch_size=10_000``) around a numpy function vs the scalar UDF calling the
   same numpy function row by row; once with a function that takes Python lists (the default)
   and once with one whose parameter is annotated ``np.ndarray`` (it receives arrays).
3. async UDF sleeping 10 ms per call, ``capacity=100``, over 10,000 rows: wall time.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import reflow as pw
from benchmarks.common import SectionReport
from reflow.engine.operators.stateless import OutputOperator
from reflow.plan.rowwise import RowwiseStage
from reflow.runtime.runner import OutputSpec, run_outputs

STAGE_SECONDS = [0.0]
_original_stage_run = RowwiseStage.run


def _timed_stage_run(self, frame, ctx, operator):
    start = time.perf_counter()
    try:
        return _original_stage_run(self, frame, ctx, operator)
    finally:
        STAGE_SECONDS[0] += time.perf_counter() - start


RowwiseStage.run = _timed_stage_run  # measure the rowwise stage (argument conversion, calls,
# result column) separately from the rest of the pipeline


def run_seconds(table: pw.Table) -> tuple[float, float]:
    """(wall time of one static run of ``table``, time spent in its rowwise stages)."""
    kept = []

    def attach(lowering, operator):
        return lowering.add(OutputOperator(operator, "bench", lambda t, d: kept.append(d)))

    STAGE_SECONDS[0] = 0.0
    start = time.perf_counter()
    run_outputs([OutputSpec(table._node, attach)])
    return time.perf_counter() - start, STAGE_SECONDS[0]


def best(function, repeat: int):
    return min(function() for _ in range(repeat))


def affine(x: int) -> int:
    return x * 2 + 1


def score(x: int) -> float:
    return float(np.tanh(x * 1e-6))


def score_batch(xs: list[int]) -> np.ndarray:
    return np.tanh(np.asarray(xs, dtype=np.float64) * 1e-6)


def score_array(xs: np.ndarray) -> np.ndarray:
    """``score_batch`` taking its batch as a numpy array (no Python objects at all)."""
    return np.tanh(xs * 1e-6)


WEIGHTS = np.array([0.3, -1.2, 0.8, 0.05])


def model(x: int) -> float:
    """A tiny logistic model on polynomial features, written with numpy (one row)."""
    z = np.float64(x) * 1e-6
    features = np.array([1.0, z, z * z, z * z * z])
    return float(1.0 / (1.0 + np.exp(-features @ WEIGHTS)))


def model_batch(xs: list[int]) -> np.ndarray:
    """The same model on a whole batch of rows."""
    return model_array(np.asarray(xs, dtype=np.float64))


def model_array(xs: np.ndarray) -> np.ndarray:
    """The same model on a batch given as a numpy array."""
    z = xs * 1e-6
    features = np.stack([np.ones_like(z), z, z * z, z * z * z], axis=1)
    return 1.0 / (1.0 + np.exp(-features @ WEIGHTS))


def plain_loop(function, values: list) -> float:
    start = time.perf_counter()
    out = []
    append = out.append
    for value in values:
        append(function(value))
    return time.perf_counter() - start


REPORT = SectionReport(
    "UDFs against plain Python (benchmarks/udf.py)",
    [
        "reflow only, against the plain-Python alternative measured in the same process: a"
        " loop calling the same function over a list (scalar UDFs), the scalar UDF (batched"
        " UDFs); best of `--repeat` fresh static runs of one select",
        "stage = time in the rowwise stage (argument conversion, calls, result column);"
        " added = whole run minus the same run with an identity select instead of the UDF",
    ],
)
say = REPORT.say


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--async-rows", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--report", type=Path, default=None,
                        help="also write the output as a markdown section to this file")
    args = parser.parse_args()
    n = args.rows
    table = pw.debug.table_from_pandas(pd.DataFrame({"x": np.arange(n, dtype=np.int64)}))
    values = list(range(n))

    identity, _ = best(lambda: run_seconds(table.select(y=pw.this.x)), args.repeat)
    say(f"rows: {n:,}; pipeline with an identity select instead of the UDF: {identity:.3f} s")

    scalar = {}
    for label, function in (("x*2+1", affine), ("numpy tanh", score), ("numpy model", model)):
        loop = best(lambda f=function: plain_loop(f, values), args.repeat)
        for mode, deterministic in (("non-det", False), ("det", True)):
            udf = pw.udf(function, deterministic=deterministic)
            total, stage = best(
                lambda u=udf: run_seconds(table.select(y=u(pw.this.x))), args.repeat
            )
            scalar[(label, mode)] = (total, stage, loop)
            say(
                f"scalar UDF {label:12s} {mode:8s}: stage {stage:.3f} s, "
                f"pipeline {total:.3f} s | plain loop {loop:.3f} s | "
                f"stage/loop {stage / loop:.2f}x, added/loop {(total - identity) / loop:.2f}x"
            )

    speedups = {}
    for label, batch_function, takes in (
        ("numpy tanh", score_batch, "lists"),
        ("numpy tanh", score_array, "arrays"),
        ("numpy model", model_batch, "lists"),
        ("numpy model", model_array, "arrays"),
    ):
        batched = pw.udf(batch_function, return_type=float, max_batch_size=10_000)
        total, stage = best(
            lambda b=batched: run_seconds(table.select(y=b(pw.this.x))), args.repeat
        )
        s_total, s_stage, _ = scalar[(label, "non-det")]
        speedups[(label, takes)] = s_stage / stage
        added = max(total - identity, 1e-3)  # within noise of zero for array functions
        say(
            f"batched UDF {label:12s} on {takes:6s} (max_batch_size=10,000): stage {stage:.3f} s,"
            f" pipeline {total:.3f} s | scalar/batched: stage {s_stage / stage:.1f}x, "
            f"added {(s_total - identity) / added:.1f}x"
        )

    @pw.udf(executor=pw.udfs.async_executor(capacity=100))
    async def sleepy(x: int) -> int:
        await asyncio.sleep(0.01)
        return x

    small = pw.debug.table_from_pandas(
        pd.DataFrame({"x": np.arange(args.async_rows, dtype=np.int64)})
    )
    wall, _ = run_seconds(small.select(y=sleepy(pw.this.x)))
    ideal = args.async_rows * 0.01 / 100
    say(
        f"async UDF, 10 ms sleep, capacity 100, {args.async_rows:,} rows: {wall:.2f} s "
        f"(ideal {ideal:.2f} s, sequential {args.async_rows * 0.01:.0f} s)"
    )

    say("")
    worst = max(
        max(stage, total - identity) / loop
        for (label, _), (total, stage, loop) in scalar.items()
    )
    say(f"goal: scalar UDF <= 1.5x a plain loop (worst of the above): {worst:.2f}x, "
        f"{verdict(worst <= 1.5)}")
    for (label, takes), speedup in speedups.items():
        say(f"goal: batched >= 20x scalar, {label} taking {takes}: {speedup:.1f}x, "
            f"{verdict(speedup >= 20)}")
    say(f"goal: async UDF about 1.5 s: {wall:.2f} s, {verdict(wall <= 1.5 * 1.1)}")
    if args.report is not None:
        REPORT.write(args.report)


if __name__ == "__main__":
    main()
