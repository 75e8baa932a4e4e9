"""Connector benchmark: reflow's Kafka and PostgreSQL connectors against Pathway 0.33's, in
one run on one machine, plus reflow's change-data-capture latency.

Run: ``.venv/bin/python benchmarks/connectors.py [--messages 1000000] [--rows 1000000]
[--updates 100000] [--cdc-rows 1000000] [--engines reflow,pathway]``. Writes
``benchmarks/results/connectors.md``.

1. Kafka -> groupby -> Kafka: ``--messages`` JSON messages (1,000 keys) are produced into a
   topic of a local Tansu broker before the engine starts (untimed); the engine reads them,
   sums per key and writes the totals' changes to another topic. Timed from just before
   ``pw.run()`` until the caller, watching the target topic, has seen every final total.
   Both engines' final totals are checked against the expected ones.
2. ``pw.io.postgres.write_snapshot``: ``--rows`` rows through a Python connector subject,
   then ``--updates`` upserts in commits of 1,000, into the local PostgreSQL; the whole run
   is timed and the table's final contents checked.
3. CDC latency (reflow only: Pathway reads PostgreSQL changes only through Debezium and
   Kafka): a ``--cdc-rows`` table read with ``pw.io.postgres.read``; 200 single-row update
   transactions, each timed from its COMMIT returning to the revised row reaching a
   subscriber.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
from confluent_kafka import Consumer, Producer, TopicPartition  # noqa: E402

from tests.connectors.kafka_broker import Broker  # noqa: E402

PYTHONS = {
    "reflow": sys.executable,
    "pathway": str(ROOT / "benchmarks" / ".venvs" / "pathway" / "bin" / "python"),
}
POSTGRES = {"host": "127.0.0.1", "port": 5432, "dbname": "test", "user": "postgres"}
KEYS = 1000


def expected_totals(messages: int) -> dict[str, int]:
    totals: dict[str, int] = {}
    for i in range(messages):
        user = f"u{i % KEYS}"
        totals[user] = totals.get(user, 0) + i % 100
    return totals


def produce(broker: Broker, topic: str, messages: int) -> None:
    producer = Producer({**broker.settings, "linger.ms": 50, "batch.num.messages": 10000})
    for i in range(messages):
        value = json.dumps({"user": f"u{i % KEYS}", "amount": i % 100})
        while True:
            try:
                producer.produce(topic, value)
                break
            except BufferError:
                producer.poll(0.05)
    assert producer.flush(120) == 0


def kafka_run(engine: str, broker: Broker, messages: int, expected: dict) -> dict:
    source = broker.create_topic(f"in-{engine}-{uuid.uuid4().hex[:6]}")
    target = broker.create_topic(f"out-{engine}-{uuid.uuid4().hex[:6]}")
    produce(broker, source, messages)
    process = subprocess.Popen(
        [PYTHONS[engine], str(ROOT / "benchmarks" / "workloads" / "kafka_groupby.py"),
         "--engine", engine, "--servers", broker.address, "--source", source,
         "--target", target],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    try:
        started = float(process.stdout.readline().split()[1])
        consumer = Consumer({**broker.settings, "group.id": "bench-watch"})
        consumer.assign([TopicPartition(target, 0, 0)])
        counts: dict[tuple[str, int], int] = {}
        done = None
        deadline = time.time() + 900
        out_messages = 0
        first_output = None
        while time.time() < deadline:
            batch = consumer.consume(10000, 0.2)
            for message in batch:
                if message.error() is not None:
                    continue
                value = json.loads(message.value())
                key = (value["user"], value["total"])
                counts[key] = counts.get(key, 0) + value["diff"]
                out_messages += 1
                if first_output is None:
                    first_output = time.time()
            if batch:
                current = {user: total for (user, total), n in counts.items() if n > 0}
                if current == expected:
                    done = time.time()
                    break
        consumer.close()
    finally:
        process.terminate()
        process.wait(30)
    if done is None:
        return {"engine": engine, "error": "the final totals never appeared"}
    seconds = done - started
    return {"engine": engine, "seconds": seconds, "rate": messages / seconds,
            "out_messages": out_messages, "first_output": first_output - started}


def snapshot_run(engine: str, rows: int, updates: int) -> dict:
    table = f"bench_snapshot_{engine}_{uuid.uuid4().hex[:6]}"
    result = subprocess.run(
        [PYTHONS[engine], str(ROOT / "benchmarks" / "workloads" / "postgres_snapshot.py"),
         "--engine", engine, "--table", table, "--rows", str(rows), "--updates", str(updates)],
        capture_output=True, text=True, timeout=1800,
    )
    line = [x for x in result.stdout.splitlines() if x.startswith("BENCHMARK-RESULT")]
    with psycopg.connect(**POSTGRES, autocommit=True) as conn:
        try:
            count, total = conn.execute(f"SELECT count(*), sum(v) FROM {table}").fetchone()
        except psycopg.Error:
            count, total = None, None
        conn.execute(f"DROP TABLE IF EXISTS {table}")
    expected_v = {}
    for u in range(updates):
        expected_v[(u * 7919) % rows] = u + 1
    if not line or count != rows or total != sum(expected_v.values()):
        return {"engine": engine, "error": f"wrong table ({count} rows, sum {total}) "
                f"{result.stderr[-500:]}"}
    seconds = json.loads(line[0].split(" ", 1)[1])["seconds"]
    return {"engine": engine, "seconds": seconds, "rate": (rows + updates) / seconds}


def cdc_latency(rows: int, samples: int = 200) -> dict:
    import reflow as pw
    from reflow.runtime.streaming import stop

    table = f"bench_cdc_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(**POSTGRES, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE {table} (k BIGINT PRIMARY KEY, v BIGINT NOT NULL)")
        conn.execute(f"INSERT INTO {table} SELECT g, 0 FROM generate_series(0, {rows - 1}) g")

    class Row(pw.Schema):
        k: int = pw.column_definition(primary_key=True)
        v: int

    seen: dict[int, float] = {}
    arrived = threading.Condition()
    loaded = threading.Event()

    def on_change(key, row, time, is_addition):
        if is_addition and row["v"] > 0:
            with arrived:
                seen[row["v"]] = time_now()
                arrived.notify_all()

    time_now = time.perf_counter
    t = pw.io.postgres.read(POSTGRES, table, Row)
    pw.io.subscribe(t, on_change=on_change, on_time_end=lambda time: loaded.set())
    latencies: list[float] = []
    startup: list[float] = []

    def driver():
        begin = time.perf_counter()
        try:
            loaded.wait(600)
            startup.append(time.perf_counter() - begin)
            with psycopg.connect(**POSTGRES, autocommit=True) as conn:
                for i in range(1, samples + 1):
                    conn.execute(f"UPDATE {table} SET v = %s WHERE k = %s", (i, i * 4999 % rows))
                    committed = time.perf_counter()
                    with arrived:
                        arrived.wait_for(lambda i=i: i in seen, timeout=30)
                    latencies.append(seen[i] - committed)
        finally:
            stop()

    thread = threading.Thread(target=driver)
    thread.start()
    pw.run(monitoring_level=pw.MonitoringLevel.NONE)
    thread.join()
    with psycopg.connect(**POSTGRES, autocommit=True) as conn:
        conn.execute(f"DROP TABLE {table}")
    latencies.sort()
    return {
        "median_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
        "snapshot_s": startup[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--updates", type=int, default=100_000)
    parser.add_argument("--cdc-rows", type=int, default=1_000_000)
    parser.add_argument("--engines", default="reflow,pathway")
    parser.add_argument("--skip", default="", help="comma-separated: kafka,snapshot,cdc")
    parser.add_argument("--output", default=str(ROOT / "benchmarks/results/connectors.md"))
    args = parser.parse_args()
    engines = args.engines.split(",")
    skip = set(args.skip.split(",")) - {""}
    lines = [
        "### Connectors against Pathway (benchmarks/connectors.py)",
        "",
        f"- command: `.venv/bin/python benchmarks/connectors.py --messages {args.messages} "
        f"--rows {args.rows} --updates {args.updates} --cdc-rows {args.cdc_rows}`",
        f"- date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; "
        f"load average at start: {os.getloadavg()[0]:.2f}",
        "",
    ]
    if "kafka" not in skip:
        broker = Broker()
        broker.start()
        expected = expected_totals(args.messages)
        try:
            results = [kafka_run(e, broker, args.messages, expected) for e in engines]
        finally:
            broker.stop()
        lines += table(f"Kafka -> groupby -> Kafka, {args.messages:,} JSON messages",
                       results, "messages/s")
    if "snapshot" not in skip:
        results = [snapshot_run(e, args.rows, args.updates) for e in engines]
        lines += table(f"write_snapshot, {args.rows:,} rows then {args.updates:,} updates "
                       "in commits of 1,000", results, "rows/s")
    if "cdc" not in skip:
        latency = cdc_latency(args.cdc_rows)
        lines += [
            f"#### CDC latency on a {args.cdc_rows:,}-row table (reflow)",
            "",
            f"- initial snapshot into the pipeline: {latency['snapshot_s']:.1f} s",
            f"- COMMIT to revised output: median {latency['median_ms']:.1f} ms, "
            f"p99 {latency['p99_ms']:.1f} ms (200 single-row transactions)",
            "",
        ]
    lines += [
        f"- load average at end: {os.getloadavg()[0]:.2f} (2 cores; a load far above 2 "
        "slows both engines and makes the figures rough)",
        "- Kafka: Pathway's reader joins a consumer group, which the Tansu broker answers "
        "only after a delay (see 'first output after'); reflow assigns partitions directly. "
        "Both are timed from just before `pw.run()` to the last final total.",
    ]
    text = "\n".join(lines) + "\n"
    Path(args.output).write_text(text)
    print(text)


def table(title: str, results: list[dict], unit: str) -> list[str]:
    first = any("first_output" in r for r in results)
    extra = " first output after (s) |" if first else ""
    out = [f"#### {title}", "", f"| engine | seconds | {unit} |{extra}",
           "|---|---|---|" + ("---|" if first else "")]
    for r in results:
        if "error" in r:
            out.append(f"| {r['engine']} | failed: {r['error']} | |")
        else:
            cell = f" {r['first_output']:.2f} |" if first else ""
            out.append(f"| {r['engine']} | {r['seconds']:.2f} | {r['rate']:,.0f} |{cell}")
    ok = {r["engine"]: r for r in results if "error" not in r}
    if "reflow" in ok and "pathway" in ok:
        ratio = ok["reflow"]["rate"] / ok["pathway"]["rate"]
        out += ["", f"reflow / Pathway throughput: **{ratio:.2f}x**"]
    return [*out, ""]


if __name__ == "__main__":
    main()
