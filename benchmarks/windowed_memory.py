"""Bounded memory of a windowed aggregation with a cutoff.

Pipeline: events (sensor, t seconds, value) -> windowby(t, tumbling 1 minute, instance=sensor,
behavior=common_behavior(cutoff=1 minute)) -> reduce(count, sum). Events arrive in batches
of ``--batch`` rows (one logical time each), mostly in order with a jitter of up to 30 s, and
a small fraction arrives 2-5 minutes late (behind the cutoff; they are ignored and counted).

Windows past their cutoff are forgotten, so the state of the pipeline covers only the last
couple of minutes of event time: the resident memory must stop growing after warm-up. The
script prints the current and peak RSS at checkpoints, the state kept by the forget operator,
the throughput, and checks the final per-window counts against a from-scratch computation
(Polars, with the same lateness rule).

Usage: ``python benchmarks/windowed_memory.py [--events N] [--batch B] [--sensors S]
[--report benchmarks/results/windowed_memory.md]``; ``--report`` also writes the output as a
markdown section that ``benchmarks/run.py`` includes in ``BENCHMARKS.md``.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import SectionReport

RATE = 2_000  # events per second of event time
SEED = 7
REPORT = SectionReport(
    "Bounded memory of a windowed aggregation (benchmarks/windowed_memory.py)",
    [
        "reflow only: the claim is that peak RSS stops growing after warm-up while the stream"
        " goes on (windows past their cutoff are forgotten)"
    ],
)
say = REPORT.say


def rss_mib() -> float:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def make_batch(start: int, size: int, sensors: int, rng):
    import numpy as np
    import polars as pl

    from reflow.engine.batch import DIFF, ID

    n = np.arange(start, start + size, dtype=np.int64)
    t = n // RATE - rng.integers(0, 30, size)
    late = rng.random(size) < 0.001
    t = np.where(late, t - rng.integers(120, 300, size), t)
    return pl.DataFrame(
        {
            ID: pl.Series(n, dtype=pl.UInt128),
            "sensor": n % sensors,
            "t": t,
            "value": (n * 7919) % 1000,
            DIFF: pl.Series(np.ones(size, dtype=np.int64)),
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--sensors", type=int, default=100)
    parser.add_argument("--checkpoints", type=int, default=10)
    parser.add_argument("--no-check", action="store_true",
                        help="skip the from-scratch check (it keeps every event in memory)")
    parser.add_argument("--report", type=Path, default=None,
                        help="also write the output as a markdown section to this file")
    args = parser.parse_args()

    import numpy as np
    import polars as pl

    import reflow as pw
    from reflow.engine.operator import RunContext
    from reflow.engine.operators.stateless import OutputOperator
    from reflow.engine.operators.temporal import ForgetOperator
    from reflow.runtime.runner import OutputSpec, build

    events = pw.Table.empty(sensor=int, t=int, value=int)
    result = events.windowby(
        events.t,
        window=pw.temporal.tumbling(60),
        instance=events.sensor,
        behavior=pw.temporal.common_behavior(cutoff=60),
    ).reduce(
        sensor=pw.this._pw_instance,
        start=pw.this._pw_window_start,
        n=pw.reducers.count(),
        total=pw.reducers.sum(pw.this.value),
    )

    latest: dict[tuple[int, int], tuple[int, int]] = {}
    emitted = [0]

    def sink(t: int, delta: pl.DataFrame) -> None:
        emitted[0] += delta.height
        if args.no_check:
            return
        for row in delta.filter(pl.col("_diff") > 0).iter_rows(named=True):
            latest[(row["sensor"], row["start"])] = (row["n"], row["total"])

    spec = OutputSpec(result._node,
                      lambda lowering, op: lowering.add(OutputOperator(op, "sink", sink)))
    lowering = build([spec], RunContext())
    flow = lowering.dataflow
    source = lowering.lower(events._node)
    forget_ops = [op for op in flow.operators if isinstance(op, ForgetOperator)]

    rng = np.random.default_rng(SEED)
    batches = (args.events + args.batch - 1) // args.batch
    every = max(1, batches // args.checkpoints)
    kept: list[pl.DataFrame] = []
    say(f"events={args.events:,} batch={args.batch:,} sensors={args.sensors} "
        f"(event time span {args.events // RATE / 60:.0f} min)")
    say(f"{'events':>12} {'rss MiB':>9} {'peak MiB':>9} {'state rows':>11} {'ev/s':>10}")
    start = time.perf_counter()
    for b in range(batches):
        size = min(args.batch, args.events - b * args.batch)
        batch = make_batch(b * args.batch, size, args.sensors, rng)
        if not args.no_check:
            kept.append(batch.select("sensor", "t", "value"))
        flow.run_time(b, {source: batch})
        if (b + 1) % every == 0 or b + 1 == batches:
            done = b * args.batch + size
            state = sum(op.state_rows() for op in forget_ops)
            rate = done / (time.perf_counter() - start)
            say(f"{done:>12,} {rss_mib():>9.1f} {peak_mib():>9.1f} {state:>11,} {rate:>10,.0f}")
    flow.finish()
    elapsed = time.perf_counter() - start
    ignored = pw.temporal.late_rows_ignored()
    say(f"done in {elapsed:.1f} s ({args.events / elapsed:,.0f} events/s); "
        f"late events ignored: {ignored:,}; output rows: {emitted[0]:,}")
    if not args.no_check:
        check(kept, latest, ignored)
    if args.report is not None:
        REPORT.write(args.report)


def check(kept, latest, ignored: int) -> None:
    """From scratch: replay the frontier rule (a row is late when its window end + cutoff is
    at or behind the largest time of the earlier batches) and count per window."""
    import polars as pl

    frontier = None
    accepted = []
    for batch in kept:
        if frontier is not None:
            batch = batch.filter((pl.col("t") // 60 * 60 + 120) > frontier)
        accepted.append(batch)
        top = batch["t"].max() if batch.height else None
        if top is not None:
            frontier = top if frontier is None else max(frontier, top)
    # the frontier uses every event of a batch, including late ones (they are never larger)
    everything = pl.concat(accepted)
    expected = {
        (r["sensor"], r["start"]): (r["n"], r["total"])
        for r in everything.group_by("sensor", (pl.col("t") // 60 * 60).alias("start"))
        .agg(n=pl.len(), total=pl.col("value").sum())
        .iter_rows(named=True)
    }
    total = sum(b.height for b in kept)
    assert total - everything.height == ignored, (total - everything.height, ignored)
    assert latest == expected, "windowed counts differ from the from-scratch computation"
    say(f"check: {len(expected):,} windows equal the from-scratch computation")


if __name__ == "__main__":
    main()
