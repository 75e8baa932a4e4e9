"""Kafka -> groupby/reduce -> PostgreSQL snapshot table and Kafka topic, with persistence.

Run by ``test_kill_restart.py``: ``python pipeline_kafka.py SERVERS TOPIC TABLE CHANGES STATE
ROWS OUT_TOPIC``: the totals go to the snapshot table TABLE, as a stream of changes to CHANGES
and as messages to the topic OUT_TOPIC; it stops by itself once ROWS messages were counted.
"""

import sys

import reflow as pw
from reflow.runtime.streaming import stop

POSTGRES = {"host": "127.0.0.1", "port": 5432, "dbname": "test", "user": "postgres"}


class Sale(pw.Schema):
    shop: str
    amount: int


def main() -> None:
    servers, topic, table, changes, state, expected, out_topic = sys.argv[1:8]
    sales = pw.io.kafka.read({"bootstrap.servers": servers}, topic, schema=Sale, format="json",
                             autocommit_duration_ms=20, name="sales")
    totals = sales.groupby(pw.this.shop).reduce(
        pw.this.shop, total=pw.reducers.sum(pw.this.amount), n=pw.reducers.count()
    )
    # Created once: a restart must not drop what the previous runs wrote.
    pw.io.postgres.write_snapshot(totals, POSTGRES, table, ["shop"],
                                  init_mode="create_if_not_exists", name="totals")
    pw.io.postgres.write(totals, POSTGRES, changes, init_mode="replace", name="changes")
    pw.io.kafka.write(totals, {"bootstrap.servers": servers}, out_topic, format="json",
                      name="totals-topic")
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
