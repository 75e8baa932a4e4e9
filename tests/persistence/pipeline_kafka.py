"""Kafka -> groupby/reduce -> PostgreSQL snapshot table, with persistence.

Run by ``test_kill_restart.py``: ``python pipeline_kafka.py SERVERS TOPIC TABLE CHANGES STATE
ROWS``: the totals go to the snapshot table TABLE and as a stream of changes to CHANGES; it
stops by itself once ROWS messages were counted.
"""

import sys

import reflow as pw
from reflow.runtime.streaming import stop

POSTGRES = {"host": "127.0.0.1", "port": 5432, "dbname": "test", "user": "postgres"}


class Sale(pw.Schema):
    shop: str
    amount: int


def main() -> None:
    servers, topic, table, changes, state, expected = sys.argv[1:7]
    sales = pw.io.kafka.read({"bootstrap.servers": servers}, topic, schema=Sale, format="json",
                             autocommit_duration_ms=20, name="sales")
    totals = sales.groupby(pw.this.shop).reduce(
        pw.this.shop, total=pw.reducers.sum(pw.this.amount), n=pw.reducers.count()
    )
    # Created once: a restart must not drop what the previous runs wrote.
    pw.io.postgres.write_snapshot(totals, POSTGRES, table, ["shop"],
                                  init_mode="create_if_not_exists", name="totals")
    pw.io.postgres.write(totals, POSTGRES, changes, init_mode="replace", name="changes")
    count = sales.reduce(n=pw.reducers.count())

    def on_change(key, row, time, is_addition):
        if is_addition and row["n"] >= int(expected):
            stop()

    pw.io.subscribe(count, on_change=on_change)
    # Checkpoints far apart: most kills land after a write that the last checkpoint does
    # not cover, which the restart must undo in the change stream.
    pw.run(persistence_config=pw.persistence.Config(
        pw.persistence.Backend.filesystem(state), snapshot_interval_ms=700
    ))


if __name__ == "__main__":
    main()
