"""Kafka with a primary key -> groupby/reduce -> PostgreSQL snapshot table, with persistence.

Run by ``test_kill_restart.py``: ``python pipeline_kafka_keyed.py SERVERS TOPIC TABLE STATE``:
each message replaces the reading of its sensor; the per-shop totals of the current readings
go to the snapshot table TABLE; it stops by itself once the sensor ``end`` arrives.
"""

import sys

import reflow as pw
from reflow.runtime.streaming import stop

POSTGRES = {"host": "127.0.0.1", "port": 5432, "dbname": "test", "user": "postgres"}


class Reading(pw.Schema):
    sensor: str = pw.column_definition(primary_key=True)
    shop: str
    amount: int


def main() -> None:
    servers, topic, table, state = sys.argv[1:5]
    readings = pw.io.kafka.read({"bootstrap.servers": servers}, topic, schema=Reading,
                                format="json", autocommit_duration_ms=20, name="readings")
    totals = readings.groupby(pw.this.shop).reduce(
        pw.this.shop, total=pw.reducers.sum(pw.this.amount), n=pw.reducers.count()
    )
    pw.io.postgres.write_snapshot(totals, POSTGRES, table, ["shop"],
                                  init_mode="create_if_not_exists", name="totals")

    def on_change(key, row, time, is_addition):
        if is_addition and row["sensor"] == "end":
            stop()

    pw.io.subscribe(readings, on_change=on_change)
    pw.run(persistence_config=pw.persistence.Config(
        pw.persistence.Backend.filesystem(state), snapshot_interval_ms=500
    ))


if __name__ == "__main__":
    main()
