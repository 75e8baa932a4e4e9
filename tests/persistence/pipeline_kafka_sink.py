"""Kafka -> groupby/reduce -> Kafka, with persistence and checkpoints far apart.

Run by ``test_kill_restart.py``: ``python pipeline_kafka_sink.py SERVERS TOPIC OUT_TOPIC STATE
ROWS``: the totals per shop go to OUT_TOPIC as a stream of changes; it stops by itself once
ROWS messages were counted.
"""

import sys

import reflow as pw
from reflow.runtime.streaming import stop


class Sale(pw.Schema):
    shop: str
    amount: int


def main() -> None:
    servers, topic, out_topic, state, expected = sys.argv[1:6]
    settings = {"bootstrap.servers": servers}
    sales = pw.io.kafka.read(settings, topic, schema=Sale, format="json",
                             autocommit_duration_ms=20, name="sales")
    totals = sales.groupby(pw.this.shop).reduce(
        pw.this.shop, total=pw.reducers.sum(pw.this.amount), n=pw.reducers.count()
    )
    pw.io.kafka.write(totals, settings, out_topic, format="json", name="totals")
    count = sales.reduce(n=pw.reducers.count())

    def on_change(key, row, time, is_addition):
        if is_addition and row["n"] >= int(expected):
            stop()

    pw.io.subscribe(count, on_change=on_change)
    # Checkpoints far apart, kills soon after the sink wrote: most restarts find messages in
    # the topic that the checkpoint does not cover.
    pw.run(persistence_config=pw.persistence.Config(
        pw.persistence.Backend.filesystem(state), snapshot_interval_ms=2000
    ))


if __name__ == "__main__":
    main()
