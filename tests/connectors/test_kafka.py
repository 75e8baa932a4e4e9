"""``pw.io.kafka`` against a real Kafka-protocol broker (Tansu) on a loopback port."""

from __future__ import annotations

import json
import threading

import pytest

import reflow as pw
from reflow.io._connector import writer as writer_module
from reflow.io._connector.retry import RetryPolicy
from tests.io.live import Collector, run_while


class Event(pw.Schema):
    user: str
    amount: int


class Keyed(pw.Schema):
    user: str = pw.column_definition(primary_key=True)
    amount: int


def test_json_rows_from_several_partitions_including_data_arriving_while_running(kafka):
    topic = kafka.create_topic(partitions=3)
    for p in range(3):
        kafka.produce(topic, [{"user": f"u{p}", "amount": p}], partition=p)
    t = pw.io.kafka.read(kafka.settings, topic, schema=Event, format="json",
                         autocommit_duration_ms=20)
    totals = t.groupby(pw.this.user).reduce(pw.this.user, total=pw.reducers.sum(pw.this.amount))
    out = Collector(totals)

    def driver():
        out.wait_rows([("u0", 0), ("u1", 1), ("u2", 2)])
        for p in range(3):
            kafka.produce(topic, [{"user": "u0", "amount": 10}], partition=p)
        out.wait_rows([("u0", 30), ("u1", 1), ("u2", 2)])

    run_while(driver)


def test_malformed_messages_go_to_the_error_log_with_their_position(kafka):
    topic = kafka.create_topic()
    kafka.produce(topic, [
        {"user": "a", "amount": 1},
        "{not json",
        {"user": "b", "amount": "many"},
        b"\xff\xfe",
        {"user": "c", "amount": 3},
    ], partition=0)
    t = pw.io.kafka.read(kafka.settings, topic, schema=Event, format="json",
                         autocommit_duration_ms=20)
    out = Collector(t)
    errors = Collector(pw.global_error_log().select(pw.this.message))

    def driver():
        out.wait_rows([("a", 1), ("c", 3)])
        errors.wait_for(lambda c: len(c.state) == 3)

    run_while(driver, terminate_on_error=False)
    messages = sorted(m for (m,) in errors.state.values())
    assert f"topic {topic!r}, partition 0, offset 1: invalid JSON" in messages[0]
    assert messages[1].startswith(f"topic {topic!r}, partition 0, offset 2: column 'amount'")
    assert messages[2].startswith(f"topic {topic!r}, partition 0, offset 3: invalid UTF-8")


def test_primary_key_makes_a_message_replace_the_row_with_its_key(kafka):
    topic = kafka.create_topic()
    kafka.produce(topic, [{"user": "a", "amount": 1}, {"user": "b", "amount": 2}], partition=0)
    t = pw.io.kafka.read(kafka.settings, topic, schema=Keyed, format="json",
                         autocommit_duration_ms=20)
    out = Collector(t)

    def driver():
        out.wait_rows([("a", 1), ("b", 2)])
        kafka.produce(topic, [{"user": "a", "amount": 5}], partition=0)
        out.wait_rows([("a", 5), ("b", 2)])

    run_while(driver)
    assert ("a", 1, out.updates[-1][2], -1) in out.updates


def test_plaintext_raw_metadata_and_json_field_paths(kafka):
    topic = kafka.create_topic()
    kafka.produce(topic, [{"who": {"name": "ann"}, "n": 4}], partition=0)

    class Nested(pw.Schema):
        name: str
        n: int

    text = pw.io.kafka.read(kafka.settings, topic, format="plaintext", mode="static",
                            with_metadata=True)
    raw = pw.io.kafka.read(kafka.settings, topic, format="raw", mode="static")
    nested = pw.io.kafka.read(kafka.settings, topic, schema=Nested, format="json",
                              mode="static", json_field_paths={"name": "/who/name"})
    text_rows = pw.debug.table_to_pandas(text)
    assert json.loads(text_rows["data"].iloc[0]) == {"who": {"name": "ann"}, "n": 4}
    metadata = text_rows["_metadata"].iloc[0].value
    assert (metadata["topic"], metadata["partition"], metadata["offset"]) == (topic, 0, 0)
    assert pw.debug.table_to_pandas(raw)["data"].iloc[0].startswith(b'{"who"')
    assert pw.debug.table_to_pandas(nested).to_dict("records") == [{"name": "ann", "n": 4}]


def test_csv_messages_are_typed_by_the_schema(kafka):
    topic = kafka.create_topic()
    kafka.produce(topic, ["a;1", "b;x", "c;3"], partition=0)
    t = pw.io.kafka.read(kafka.settings, topic, schema=Event, format="dsv", delimiter=";",
                         mode="static")
    frame = pw.debug.table_to_pandas(t)
    assert sorted(frame.itertuples(index=False, name=None)) == [("a", 1), ("c", 3)]


def test_a_reader_resumes_from_the_offsets_it_committed(kafka):
    topic = kafka.create_topic(partitions=2)
    kafka.produce(topic, [{"user": "a", "amount": 1}], partition=0)
    kafka.produce(topic, [{"user": "b", "amount": 2}], partition=1)
    first = pw.io.kafka.read(kafka.settings, topic, schema=Event, format="json", mode="static")
    assert len(pw.debug.table_to_pandas(first)) == 2
    offsets = first._node.source.offsets
    assert offsets == {(topic, 0): 1, (topic, 1): 1}

    kafka.produce(topic, [{"user": "c", "amount": 3}], partition=1)
    second = pw.io.kafka.read(kafka.settings, topic, schema=Event, format="json", mode="static")
    second._node.source.resume_from(offsets)
    frame = pw.debug.table_to_pandas(second)
    assert frame.to_dict("records") == [{"user": "c", "amount": 3}]


def test_written_messages_carry_time_and_diff_and_a_deletion_is_a_message(kafka):
    topic = kafka.create_topic()
    t = pw.debug.table_from_markdown("""
      | user | amount | __time__ | __diff__
    1 | a    | 1      | 2        | 1
    2 | b    | 2      | 2        | 1
    1 | a    | 1      | 4        | -1
    """)
    pw.io.kafka.write(t, kafka.settings, topic, format="json", headers=[t.amount])
    pw.run(monitoring_level=pw.MonitoringLevel.NONE)
    messages = kafka.consume_all(topic, 3)
    values = sorted((json.loads(m.value()) for m in messages), key=lambda v: (v["time"], v["user"]))
    assert values == [
        {"user": "a", "amount": 1, "diff": 1, "time": 2},
        {"user": "b", "amount": 2, "diff": 1, "time": 2},
        {"user": "a", "amount": 1, "diff": -1, "time": 4},
    ]
    deletion = next(m for m in messages if json.loads(m.value())["diff"] == -1)
    assert deletion.headers() == [("pathway_time", b"4"), ("pathway_diff", b"-1"),
                                  ("amount", b"1")]
    addition = next(m for m in messages if json.loads(m.value())["user"] == "a"
                    and json.loads(m.value())["diff"] == 1)
    assert addition.key() == deletion.key() and len(deletion.key()) == 16


def test_write_plaintext_with_key_and_dsv(kafka):
    plain, dsv = kafka.create_topic(), kafka.create_topic()
    t = pw.debug.table_from_markdown("""
    user | amount
    a    | 1
    """)
    pw.io.kafka.write(t, kafka.settings, plain, format="plaintext", key=t.user, value=t.user)
    pw.io.kafka.write(t, kafka.settings, dsv, format="dsv")
    pw.run(monitoring_level=pw.MonitoringLevel.NONE)
    (message,) = kafka.consume_all(plain, 1)
    assert (message.key(), message.value()) == (b"a", b"a")
    lines = [m.value() for m in kafka.consume_all(dsv, 2)]
    assert lines[0] == b'"user","amount","time","diff"'
    assert lines[1].startswith(b'"a","1","') and lines[1].endswith(b'","1"')


def test_kafka_to_kafka_pipeline_revises_its_output(kafka):
    source, target = kafka.create_topic(), kafka.create_topic()
    kafka.produce(source, [{"user": "a", "amount": 1}], partition=0)
    t = pw.io.kafka.read(kafka.settings, source, schema=Event, format="json",
                         autocommit_duration_ms=20)
    totals = t.groupby(pw.this.user).reduce(pw.this.user, total=pw.reducers.sum(pw.this.amount))
    pw.io.kafka.write(totals, kafka.settings, target, format="json")
    seen = threading.Event()
    pw.io.subscribe(totals, on_change=lambda **kw: seen.set())

    def driver():
        assert seen.wait(20)
        kafka.produce(source, [{"user": "a", "amount": 5}], partition=0)
        messages = kafka.consume_all(target, 3)
        assert [(json.loads(m.value())["total"], json.loads(m.value())["diff"])
                for m in messages] in ([(1, 1), (1, -1), (6, 1)], [(1, 1), (6, 1), (1, -1)])

    run_while(driver)


def test_reader_survives_a_broker_restart_without_losing_or_repeating_rows(own_kafka):
    broker = own_kafka
    topic = broker.create_topic("restarting", partitions=2)
    before = [[{"user": f"p{p}-{i}", "amount": i} for i in range(3)] for p in range(2)]
    after = [[{"user": f"p{p}-{i}", "amount": i} for i in range(3, 6)] for p in range(2)]
    for p in range(2):
        broker.produce(topic, before[p], partition=p)
    t = pw.io.kafka.read(broker.settings, topic, schema=Event, format="json",
                         autocommit_duration_ms=20)
    out = Collector(t)

    def driver():
        out.wait_for(lambda c: len(c.state) == 6)
        broker.stop()
        broker.start()  # memory storage: the log is gone, so it is produced again, as a
        broker.create_topic(topic, partitions=2)  # durable broker would still hold it
        for p in range(2):
            broker.produce(topic, before[p] + after[p], partition=p)
        out.wait_for(lambda c: len(c.state) == 12, timeout=40)

    run_while(driver, timeout=60)
    added = [u for u in out.updates if u[-1] == 1]
    assert len(added) == 12
    assert sorted(u[0] for u in added) == sorted(
        r["user"] for part in before + after for r in part
    )


def test_a_writer_that_cannot_deliver_stops_the_run_naming_topic_and_server(monkeypatch):
    monkeypatch.setattr(writer_module, "WRITER_RETRY", RetryPolicy(max_attempts=2,
                                                                   initial_delay=0.01))
    from tests.connectors.kafka_broker import free_port

    address = f"127.0.0.1:{free_port()}"  # nothing listens there
    t = pw.debug.table_from_markdown("""
    user | amount
    a    | 1
    """)
    pw.io.kafka.write(t, {"bootstrap.servers": address, "message.timeout.ms": 300}, "lost")
    with pytest.raises(pw.io.ConnectorError, match=rf"Kafka topic 'lost' at {address}"):
        pw.run(monitoring_level=pw.MonitoringLevel.NONE)


def test_start_from_timestamp_skips_older_messages(kafka):
    topic = kafka.create_topic()
    kafka.produce(topic, [{"user": u, "amount": 1} for u in "abcd"], partition=0,
                  timestamps=[1_000, 2_000, 3_000, 4_000])
    t = pw.io.kafka.read(kafka.settings, topic, schema=Event, format="json", mode="static",
                         start_from_timestamp_ms=2_500)
    frame = pw.debug.table_to_pandas(t)
    assert sorted(frame["user"]) == ["c", "d"]
    assert t._node.source.offsets == {(topic, 0): 4}


def test_simple_read_takes_a_server_address(kafka):
    topic = kafka.create_topic()
    kafka.produce(topic, ["hello", "world"], partition=0)
    t = pw.io.kafka.simple_read(kafka.address, topic, format="plaintext", mode="static")
    assert sorted(pw.debug.table_to_pandas(t)["data"]) == ["hello", "world"]


def test_json_values_and_tuples_are_written_as_nested_json(kafka):
    topic = kafka.create_topic()
    t = pw.debug.table_from_markdown("""
    k | v
    a | 1
    """).select(pw.this.k, j=pw.apply(lambda v: pw.Json({"x": [v]}), pw.this.v),
                tup=pw.make_tuple(pw.this.v, pw.this.k))
    pw.io.kafka.write(t, kafka.settings, topic)
    pw.run(monitoring_level=pw.MonitoringLevel.NONE)
    (message,) = kafka.consume_all(topic, 1)
    value = json.loads(message.value())
    assert (value["k"], value["j"], value["tup"], value["diff"]) == ("a", {"x": [1]}, [1, "a"], 1)
