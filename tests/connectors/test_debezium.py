"""``pw.io.debezium`` with hand-made Debezium change events through a real broker."""

from __future__ import annotations

import json

import reflow as pw
from tests.io.live import Collector, run_while


class Customer(pw.Schema):
    id: int = pw.column_definition(primary_key=True)
    name: str


def event(op, before=None, after=None, envelope=True):
    payload = {"op": op, "before": before, "after": after, "source": {"table": "customers"},
               "ts_ms": 1}
    return json.dumps({"schema": {"type": "struct"}, "payload": payload} if envelope
                      else payload)


def test_debezium_events_keep_the_table_equal_to_the_source(kafka):
    topic = kafka.create_topic()
    kafka.produce(topic, [
        event("r", after={"id": 1, "name": "ann"}),
        event("r", after={"id": 2, "name": "bob"}, envelope=False),
    ], partition=0)
    t = pw.io.debezium.read(kafka.settings, topic, schema=Customer, autocommit_duration_ms=20)
    out = Collector(t)
    errors = Collector(pw.global_error_log().select(pw.this.message))

    def driver():
        out.wait_rows([(1, "ann"), (2, "bob")])
        from confluent_kafka import Producer

        producer = Producer(kafka.settings)
        for value in [
            event("u", before={"id": 1, "name": "ann"}, after={"id": 1, "name": "anna"}),
            event("c", after={"id": 3, "name": "cy"}),
            event("d", before={"id": 2, "name": "bob"}),
            None,  # the tombstone Debezium sends after a deletion
            json.dumps({"hello": 1}),
        ]:
            producer.produce(topic, value=value, partition=0)
        producer.flush(10)
        out.wait_rows([(1, "anna"), (3, "cy")])
        errors.wait_for(lambda c: len(c.state) == 1)

    run_while(driver, terminate_on_error=False)
    ((message,),) = errors.state.values()
    assert message == (
        f"topic {topic!r}, partition 0, offset 6: not a Debezium change event (no 'op' field)"
    )


def test_debezium_update_without_before_image_replaces_by_key(kafka):
    topic = kafka.create_topic()
    kafka.produce(topic, [
        event("c", after={"id": 1, "name": "ann"}),
        event("u", after={"id": 1, "name": "anne"}),
        event("c", after={"id": 2, "name": "bo"}),
        event("d", before={"id": 2, "name": "bo"}),
    ], partition=0)
    t = pw.io.debezium.read(kafka.settings, topic, schema=Customer, autocommit_duration_ms=20)
    out = Collector(t)
    run_while(lambda: out.wait_rows([(1, "anne")]))
