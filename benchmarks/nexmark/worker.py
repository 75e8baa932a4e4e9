"""Run one Nexmark query on one system and print its result line (see ``common.emit``).

    python benchmarks/nexmark/worker.py --engine reflow --query q5 --events 1000000

The events come from ``generator.generate`` (cached in ``benchmarks/data/``, so every system
reads the same events and generation is not timed). Reported: wall seconds of the query
run, CPU seconds of the process over the same span (all its threads), events/s and events
per CPU-second (Nexmark's "throughput per core"), and a digest of the final result.
"""

from __future__ import annotations

import argparse
import importlib
import pickle
import sys
import tempfile
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BENCH_DIR))

from common import OK, UNSUPPORTED, digest_rows, emit, final_rows_from_update_csv  # noqa: E402

from nexmark.generator import Events, generate  # noqa: E402
from nexmark.queries import QUERIES  # noqa: E402

WORKLOAD = "nexmark"
BYTEWAX_QUERIES = ("q0", "q1", "q2")


def cached_events(data_dir: Path, count: int, seed: int) -> Events:
    """``generate(count, seed)``, pickled under ``data_dir`` after the first call."""
    path = data_dir / f"nexmark_{count}_{seed}.pickle"
    if path.exists():
        with open(path, "rb") as f:
            return pickle.load(f)
    events = generate(count, seed)
    data_dir.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    with open(partial, "wb") as f:
        pickle.dump(events, f, protocol=pickle.HIGHEST_PROTOCOL)
    partial.rename(path)
    return events


def run_bytewax(query: str, events: Events) -> list[tuple]:
    """q0-q2 as a Bytewax dataflow (map and filter over the bids); the collected output."""
    import bytewax.operators as op
    from bytewax.dataflow import Dataflow
    from bytewax.testing import TestingSink, TestingSource, run_main

    from nexmark.queries import DOLLAR_TO_EURO, Q2_MODULUS

    flow = Dataflow(f"nexmark_{query}")
    bids = op.input("bids", flow, TestingSource(events.bids, batch_size=1_000))
    if query == "q0":
        out = op.map("pass", bids, lambda b: (b[0], b[1], b[2], b[4]))
    elif query == "q1":
        out = op.map("euro", bids, lambda b: (b[0], b[1], b[2] * DOLLAR_TO_EURO, b[4]))
    else:
        selected = op.filter("select", bids, lambda b: b[0] % Q2_MODULUS == 0)
        out = op.map("project", selected, lambda b: (b[0], b[2]))
    collected: list[tuple] = []
    op.output("out", out, TestingSink(collected))
    run_main(flow)
    return collected


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--engine", required=True)
    parser.add_argument("--query", required=True, choices=sorted(QUERIES))
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--commit", type=int, default=1_000)
    parser.add_argument("--data-dir", type=Path, default=BENCH_DIR / "data")
    parser.add_argument("--prepare", action="store_true", help="only generate the events")
    args = parser.parse_args()
    events = cached_events(args.data_dir, args.events, args.seed)
    if args.prepare:
        return
    columns = QUERIES[args.query][2]
    extra = {"query": args.query, "size": args.events, "commit": args.commit}
    if args.engine == "bytewax" and args.query not in BYTEWAX_QUERIES:
        emit(WORKLOAD, args.engine, UNSUPPORTED, note="not ported to Bytewax", **extra)
        return
    from nexmark.pipeline import commit_plan, run_query

    # Neither the feeding schedule nor the imports are timed.
    plan = commit_plan(events, args.commit)
    library = {"polars": "polars", "bytewax": "bytewax.testing"}.get(args.engine, args.engine)
    pw = importlib.import_module(library)
    if args.engine not in ("polars", "bytewax"):
        # ``import pathway`` loads every connector; reflow loads one on first use (with
        # numpy, ~0.1 s of CPU): the run's connectors are loaded here, untimed as well.
        for connector in ("python", "csv"):
            getattr(pw.io, connector)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.csv"
        wall, cpu = time.perf_counter(), time.process_time()
        if args.engine == "polars":
            from nexmark import reference

            rows = reference.compute(args.query, events).select(columns).rows()
        elif args.engine == "bytewax":
            rows = run_bytewax(args.query, events)
        else:
            run_query(pw, args.query, events, out, args.commit, plan)
            rows = None
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        if rows is None:
            rows = final_rows_from_update_csv(out, columns)
        digest = digest_rows(rows)
    metrics = {
        "run_s": wall,
        "cpu_s": cpu,
        "events_per_s": args.events / wall,
        "events_per_cpu_s": args.events / cpu if cpu > 0 else float("nan"),
    }
    emit(WORKLOAD, args.engine, OK, metrics, digest, **extra)


if __name__ == "__main__":
    main()
