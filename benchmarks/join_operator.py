"""CPU time of the join operator alone under order updates (reflow only).

``N`` orders (customer, amount) joined with ``N / 10`` customers on the customer id; the
orders then change customer and amount in commits of ``--commit`` orders (each a retraction
and an insertion), as ``update_rows`` hands them to the join in the join-maintenance workload.
Prints the process CPU time of the join's ``process`` calls for the updates, without the
dataflow, the sources or the sink around it:

    python benchmarks/join_operator.py --orders 300000 --commit 100
"""

from __future__ import annotations

import argparse
import random
import time

import numpy as np
import polars as pl

from reflow.engine.operator import Operator, RunContext
from reflow.engine.operators.join import JoinOperator, JoinSide


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--orders", type=int, default=300_000)
    parser.add_argument("--commit", type=int, default=100)
    parser.add_argument("--updates", type=int, default=30_000)
    args = parser.parse_args()
    n, customers, commit = args.orders, args.orders // 10, args.commit
    u128 = pl.UInt128
    left = JoinSide(
        lambda frame, ctx: frame["customer_id"],
        {c: f"left.{c}" for c in ("order_id", "customer_id", "amount")}, "left.id",
        {"left.id": u128, "left.order_id": pl.Int64(), "left.customer_id": pl.Int64(),
         "left.amount": pl.Int64()}, False, key_column="customer_id",
    )
    right = JoinSide(
        lambda frame, ctx: frame["customer_id"],
        {c: f"right.{c}" for c in ("customer_id", "region")}, "right.id",
        {"right.id": u128, "right.customer_id": pl.Int64(), "right.region": pl.String()},
        False, key_column="customer_id",
    )
    source = Operator([], "source")
    join = JoinOperator(source, source, left, right, "join")
    ctx = RunContext()
    rng = random.Random(1)
    ids = [rng.getrandbits(128) for _ in range(n)]
    current = [(ids[i], rng.randrange(customers), rng.randrange(1000)) for i in range(n)]
    orders = pl.DataFrame({
        "_id": pl.Series(ids, dtype=u128), "order_id": np.arange(n),
        "customer_id": [c for _, c, _ in current], "amount": [a for _, _, a in current],
        "_diff": np.ones(n, dtype=np.int64),
    })
    regions = pl.DataFrame({
        "_id": pl.Series([rng.getrandbits(128) for _ in range(customers)], dtype=u128),
        "customer_id": np.arange(customers), "region": [f"r{c % 7}" for c in range(customers)],
        "_diff": np.ones(customers, dtype=np.int64),
    })
    join.process(0, [orders, regions], ctx)
    schema = {"_id": u128, "order_id": pl.Int64, "customer_id": pl.Int64, "amount": pl.Int64,
              "_diff": pl.Int64}
    changed = rng.sample(range(n), args.updates)
    deltas = []
    for start in range(0, len(changed), commit):
        rows = []
        for i in changed[start:start + commit]:
            row_id, customer, amount = current[i]
            current[i] = (row_id, rng.randrange(customers), rng.randrange(1000))
            rows += [(row_id, i, customer, amount, -1), (row_id, i, *current[i][1:], 1)]
        deltas.append(pl.DataFrame(rows, schema=schema, orient="row"))
    cpu = time.process_time()
    emitted = 0
    for t, delta in enumerate(deltas, 1):
        out = join.process(t, [delta, None], ctx)
        emitted += 0 if out is None else out.height
    cpu = time.process_time() - cpu
    print(f"orders={n} commit={commit} calls={len(deltas)} join_cpu_s={cpu:.3f} "
          f"per_call_ms={1000 * cpu / len(deltas):.2f} rows_out={emitted}")


if __name__ == "__main__":
    main()
