"""The throughput model of ``docs/scaling.md`` evaluated for 10, 100 and 1,000 workers, from
costs measured on one machine (pass them as options; the defaults are the figures in
BENCHMARKS.md, "Workers").

    .venv/bin/python benchmarks/scaling_model.py [--cpu-per-row 5e-7] [--bytes-per-row 41]
        [--time-overhead 0.009] [--per-worker 0.0003] [--message 0.0011]
        [--bandwidth 1.25e9] [--steps 5]

Per logical time with R rows entering the stateful operators and W workers:

    T(W) = R / W * c                       operator CPU, split among the workers
         + R / W * (W - 1) / W * b / B     each worker's share of the exchange on its own
                                           link (links in parallel: a full-bisection network)
         + s + W * w + E * (W - 1) * m     the coordinator's round (a fixed part, one call
                                           per worker to start a time) and, per exchange
                                           step, a message from every other worker, which
                                           each worker receives one after the other

Throughput is R / T(W); the bottleneck is the largest of the three terms.
"""

from __future__ import annotations

import argparse


def seconds_per_time(rows: float, workers: int, opts: argparse.Namespace) -> dict[str, float]:
    """The three terms of the model for ``rows`` rows per logical time on ``workers``."""
    return {
        "cpu": rows / workers * opts.cpu_per_row,
        "network": rows / workers * (workers - 1) / workers * opts.bytes_per_row
        / opts.bandwidth,
        "coordination": opts.time_overhead + workers * opts.per_worker
        + opts.steps * (workers - 1) * opts.message,
    }


def main() -> None:
    args = argparse.ArgumentParser()
    args.add_argument("--cpu-per-row", type=float, default=5e-7)
    args.add_argument("--bytes-per-row", type=float, default=41.0)
    args.add_argument("--time-overhead", type=float, default=0.009)
    args.add_argument("--per-worker", type=float, default=0.0003)
    args.add_argument("--message", type=float, default=0.0011)
    args.add_argument("--bandwidth", type=float, default=1.25e9)
    args.add_argument("--steps", type=int, default=5)
    opts = args.parse_args()
    print("| rows per logical time | workers | CPU s | network s | coordination s | "
          "rows/s | bottleneck |")
    print("|---|---|---|---|---|---|---|")
    for rows in (1_000, 1_000_000, 100_000_000):
        for workers in (1, 10, 100, 1000):
            terms = seconds_per_time(rows, workers, opts)
            total = sum(terms.values())
            print(f"| {rows:,} | {workers:,} | {terms['cpu']:.4f} | {terms['network']:.4f} | "
                  f"{terms['coordination']:.4f} | {rows / total:,.0f} | "
                  f"{max(terms, key=lambda k: terms[k])} |")


if __name__ == "__main__":
    main()
