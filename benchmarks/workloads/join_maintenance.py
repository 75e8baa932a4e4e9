"""Workload 4: join maintenance — 1M orders joined with 100k customers, then 100k order
updates in commits of 1,000; the join result is kept up to date and written to a CSV file.

reflow and Pathway run the same pipeline:

- ``orders`` and ``customers`` are read with ``pw.io.csv.read`` (static mode, primary keys);
- order updates (distinct orders, new customer and amount) come from a
  ``pw.io.python.ConnectorSubject`` keyed by ``order_id``, one ``commit()`` per 1,000 rows,
  and replace the orders' rows with ``orders.update_rows(updates)``;
- the current orders are joined with the customers on ``customer_id`` and every change of
  the join is written with ``pw.io.csv.write``.

The subject starts sending updates only once the initial join is complete (a global count of
the join rows reaches the number of orders), so the two phases are timed apart:
``load_s`` (initial join), ``updates_s`` and ``updates_per_s`` (update phase, until
``pw.run()`` returns) and ``update_cpu_s``: the process's CPU time from the end of the initial
join to the end of the run (all threads; ``--no-updates`` measures the part of it that is
work left over from the initial load, e.g. writing the initial rows). Polars computes the
final state from scratch (``final_state_s``): the reference for the digest, not a throughput
competitor. Bytewax has no relational join over updatable tables, so it is not run.
"""

from __future__ import annotations

import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import (
    ERROR,
    NOT_IMPLEMENTED,
    OK,
    UNSUPPORTED,
    digest_rows,
    emit,
    final_rows_from_update_csv,
    not_available,
    orders_files,
    read_int_rows,
    workload_arguments,
)

WORKLOAD = "join_maintenance"
FULL = {"orders": 1_000_000, "customers": 100_000, "updates": 100_000}
QUICK = {"orders": 20_000, "customers": 2_000, "updates": 2_000}
COMMIT = 1_000
OUTPUT_COLUMNS = ["order_id", "customer_id", "amount", "region"]


def run_table_api(
    pw, paths: dict, n_orders: int, out: Path, wait_s: float, commit: int = COMMIT,
    send_updates: bool = True,
) -> dict:
    """The pipeline, written once against the shared ``pw`` API (reflow or Pathway)."""
    updates = read_int_rows(paths["updates"]) if send_updates else []
    loaded = threading.Event()
    clock: dict[str, float] = {}

    class Order(pw.Schema):
        order_id: int = pw.column_definition(primary_key=True)
        customer_id: int
        amount: int

    class Customer(pw.Schema):
        customer_id: int = pw.column_definition(primary_key=True)
        region: str

    class UpdateSubject(pw.io.python.ConnectorSubject):
        def run(self) -> None:
            # Empty commits let the engine's frontier move on while the orders load.
            deadline = time.perf_counter() + wait_s
            while not loaded.wait(0.02) and time.perf_counter() < deadline:
                self.commit()
            clock["separated"] = loaded.is_set()
            clock["updates_start"] = time.perf_counter()
            for start in range(0, len(updates), commit):
                for order_id, customer_id, amount in updates[start : start + commit]:
                    self.next(order_id=order_id, customer_id=customer_id, amount=amount)
                self.commit()

    def on_count(key, row, time, is_addition) -> None:
        if is_addition and row["n"] == n_orders and not loaded.is_set():
            clock["loaded"] = _now()
            clock["loaded_cpu"] = _cpu()
            loaded.set()

    orders = pw.io.csv.read(str(paths["orders"]), schema=Order, mode="static")
    customers = pw.io.csv.read(str(paths["customers"]), schema=Customer, mode="static")
    changes = pw.io.python.read(UpdateSubject(), schema=Order, autocommit_duration_ms=None)
    current = orders.update_rows(changes)
    joined = current.join(customers, pw.left.customer_id == pw.right.customer_id).select(
        pw.left.order_id, pw.left.customer_id, pw.left.amount, pw.right.region
    )
    pw.io.subscribe(joined.reduce(n=pw.reducers.count()), on_change=on_count)
    pw.io.csv.write(joined, str(out))
    start = time.perf_counter()
    pw.run(monitoring_level=pw.MonitoringLevel.NONE)
    end = time.perf_counter()
    end_cpu = time.process_time()
    metrics = {"total_s": end - start}
    if clock.get("separated"):
        updates_s = end - clock["updates_start"]
        metrics.update(
            load_s=clock["loaded"] - start,
            updates_s=updates_s,
            updates_per_s=len(updates) / updates_s,
            update_cpu_s=end_cpu - clock["loaded_cpu"],
        )
    return metrics


def _now() -> float:
    return time.perf_counter()


def _cpu() -> float:
    return time.process_time()


def run_polars(paths: dict, out: Path) -> dict:
    import polars as pl

    start = time.perf_counter()
    orders = pl.read_csv(paths["orders"])
    updates = pl.read_csv(paths["updates"])
    customers = pl.read_csv(paths["customers"])
    current = orders.update(updates, on="order_id")
    joined = current.join(customers, on="customer_id").select(OUTPUT_COLUMNS)
    joined.write_csv(out)
    return {"final_state_s": time.perf_counter() - start}


def main() -> None:
    parser = workload_arguments(__doc__)
    parser.add_argument(
        "--no-updates", action="store_true",
        help="send no update (baseline of update_cpu_s: work left over from the load)",
    )
    args = parser.parse_args()
    commit = args.commit or COMMIT
    sizes = dict(QUICK if args.quick else FULL)
    if args.size:
        sizes = {"orders": args.size, "customers": args.size // 10, "updates": args.size // 10}
    paths = orders_files(args.data_dir, sizes["orders"], sizes["customers"], sizes["updates"])
    if args.prepare:
        return
    if args.engine == "bytewax":
        emit(WORKLOAD, args.engine, UNSUPPORTED, note="no join of updatable tables", **sizes)
        return
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "joined.csv"
        try:
            if args.engine == "polars":
                metrics = run_polars(paths, out)
            else:
                import importlib

                pw = importlib.import_module(args.engine)
                wait_s = 30.0 if args.quick else 300.0
                metrics = run_table_api(
                    pw, paths, sizes["orders"], out, wait_s, commit, not args.no_updates
                )
        except (AttributeError, ImportError, NotImplementedError) as exc:
            emit(WORKLOAD, args.engine, NOT_IMPLEMENTED, note=not_available(exc), **sizes)
            return
        digest = digest_rows(final_rows_from_update_csv(out, OUTPUT_COLUMNS))
    status, note = OK, ""
    if args.engine not in ("polars",) and "update_cpu_s" not in metrics:
        status = ERROR
        note = "the initial join never reached the number of orders: phases not separated"
    emit(WORKLOAD, args.engine, status, metrics, digest, note=note, commit=commit, **sizes)


if __name__ == "__main__":
    main()
