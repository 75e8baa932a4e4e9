"""Kafka -> groupby -> Kafka: JSON messages summed per key, the totals written back as JSON.

Run by ``benchmarks/connectors.py`` with the interpreter of each engine:
``python kafka_groupby.py --engine {reflow,pathway} --servers HOST:PORT --source T --target T``.
Prints ``STARTED <unix time>`` just before ``pw.run()``; the caller watches the target topic
and stops the process once the final totals are there.
"""

from __future__ import annotations

import argparse
import importlib
import time


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--engine", required=True)
    parser.add_argument("--servers", required=True)
    parser.add_argument("--source", required=True)
    parser.add_argument("--target", required=True)
    args = parser.parse_args()
    pw = importlib.import_module("reflow" if args.engine == "reflow" else "pathway")

    class Event(pw.Schema):
        user: str
        amount: int

    settings = {"bootstrap.servers": args.servers, "group.id": f"bench-{args.engine}",
                "auto.offset.reset": "earliest"}
    events = pw.io.kafka.read(settings, args.source, schema=Event, format="json",
                              autocommit_duration_ms=100)
    totals = events.groupby(pw.this.user).reduce(
        pw.this.user, total=pw.reducers.sum(pw.this.amount)
    )
    pw.io.kafka.write(totals, {"bootstrap.servers": args.servers}, args.target, format="json")
    print(f"STARTED {time.time()}", flush=True)
    pw.run(monitoring_level=pw.MonitoringLevel.NONE)


if __name__ == "__main__":
    main()
