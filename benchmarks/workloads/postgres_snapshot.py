"""``write_snapshot`` into PostgreSQL: 1M rows, then 100k updates in commits of 1,000.

Run by ``benchmarks/connectors.py``:
``python postgres_snapshot.py --engine {reflow,pathway} --table NAME [--rows N --updates M]``.
The same pipeline for both engines: a Python connector subject feeds the rows (primary key
``k``), the table is written with ``pw.io.postgres.write_snapshot(init_mode="replace")``.
Prints ``BENCHMARK-RESULT {json}`` with the run's wall time.
"""

from __future__ import annotations

import argparse
import importlib
import json
import time

POSTGRES = {"host": "127.0.0.1", "port": 5432, "dbname": "test", "user": "postgres"}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--engine", required=True)
    parser.add_argument("--table", required=True)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--updates", type=int, default=100_000)
    args = parser.parse_args()
    pw = importlib.import_module("reflow" if args.engine == "reflow" else "pathway")

    class Row(pw.Schema):
        k: int = pw.column_definition(primary_key=True)
        v: int

    class Feed(pw.io.python.ConnectorSubject):
        def run(self):
            for k in range(args.rows):
                self.next(k=k, v=0)
            self.commit()
            for u in range(args.updates):
                self.next(k=(u * 7919) % args.rows, v=u + 1)
                if u % 1000 == 999:
                    self.commit()

    rows = pw.io.python.read(Feed(), schema=Row, autocommit_duration_ms=None)
    pw.io.postgres.write_snapshot(rows, POSTGRES, args.table, ["k"], init_mode="replace")
    start = time.perf_counter()
    pw.run(monitoring_level=pw.MonitoringLevel.NONE)
    seconds = time.perf_counter() - start
    print("BENCHMARK-RESULT " + json.dumps({"engine": args.engine, "seconds": seconds}))


if __name__ == "__main__":
    main()
