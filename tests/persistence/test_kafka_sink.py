"""The Kafka sink's reconciliation of a replay with what it wrote after the checkpoint
(``reflow.io._connector.kafka_resume``), and its read-back from a real broker."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from reflow.io._connector.kafka_resume import MessageCodec, Reconciler, group_of, read_tail

CODEC = MessageCodec("json", ",")


def _message(time: int, diff: int, shop: str, total: int) -> tuple:
    value = json.dumps({"shop": shop, "total": total, "diff": diff, "time": time},
                       separators=(",", ":")).encode()
    headers = [("pathway_time", str(time).encode()), ("pathway_diff", str(diff).encode())]
    return ("out", shop.encode(), value, headers)


def _net(messages: list) -> Counter:
    net: Counter = Counter()
    for _, _, value, _ in messages:
        record = json.loads(value)
        net[(record["shop"], record["total"])] += record["diff"]
    return Counter({k: v for k, v in net.items() if v})


# What the interrupted run wrote after the checkpoint: two times.
TAIL = [
    [_message(10, 1, "a", 2), _message(10, 1, "b", 1)],
    [_message(11, -1, "a", 2), _message(11, 1, "a", 3)],
]


def test_a_replay_with_the_same_times_writes_nothing_again() -> None:
    reconciler = Reconciler(CODEC, [group_of(CODEC, g) for g in TAIL])
    # Same changes, other logical times, other order.
    assert reconciler.messages(20, [_message(20, 1, "b", 1), _message(20, 1, "a", 2)]) == []
    assert reconciler.messages(21, [_message(21, -1, "a", 2), _message(21, 1, "a", 3)]) == []
    after = [_message(22, -1, "b", 1), _message(22, 1, "b", 5)]
    assert reconciler.messages(22, after) == after
    assert reconciler.pending == []


def test_a_replay_grouped_otherwise_is_reconciled_at_its_first_difference() -> None:
    reconciler = Reconciler(CODEC, [group_of(CODEC, g) for g in TAIL])
    # The replay's first time holds both times of the tail and one more change.
    written = reconciler.messages(
        30, [_message(30, 1, "a", 3), _message(30, 1, "b", 1), _message(30, 1, "c", 7)]
    )
    # Only the change not in the topic yet: the rows of a and b are there already.
    assert _net(written) == Counter({("c", 7): 1})
    assert all(json.loads(v)["time"] == 30 for _, _, v, _ in written)
    assert reconciler.pending == []


def test_rows_written_before_the_crash_that_the_replay_does_not_reach_are_retracted() -> None:
    reconciler = Reconciler(CODEC, [group_of(CODEC, g) for g in TAIL])
    written = reconciler.messages(40, [_message(40, 1, "a", 1)])
    # The topic held a=3 and b=1 after the checkpoint; the replay's table holds a=1.
    assert _net(written) == Counter({("a", 3): -1, ("b", 1): -1, ("a", 1): 1})
    tail_and_written = [m for g in TAIL for m in g] + written
    assert _net(tail_and_written) == Counter({("a", 1): 1})
    headers = dict(written[0][3])
    assert headers["pathway_time"] == b"40"
    assert int(headers["pathway_diff"]) == json.loads(written[0][2])["diff"]


def test_a_time_cut_short_by_the_crash_gets_its_missing_changes() -> None:
    partial = [TAIL[0], TAIL[1][:1]]  # the crash came before the second message was acked
    reconciler = Reconciler(CODEC, [group_of(CODEC, g) for g in partial])
    assert reconciler.messages(50, TAIL[0]) == []
    written = reconciler.messages(51, [_message(51, -1, "a", 2), _message(51, 1, "a", 3)])
    assert _net(written) == Counter({("a", 3): 1})


@pytest.mark.parametrize(("format", "value"), [
    ("json", b'{"x":1,"y":"q","diff":1,"time":5}'),
    ("dsv", b'"1","q","5","1"'),
    ("plaintext", b"hello"),
])
def test_codec_rewrites_time_and_diff_and_keeps_the_identity(format: str, value: bytes) -> None:
    codec = MessageCodec(format, ",")
    headers = [("pathway_time", b"5"), ("pathway_diff", b"1"), ("extra", b"e")]
    message = ("t", b"k", value, headers)
    identity, diff = codec.read(message)
    rewritten = codec.rewrite(message, 9, -1)
    assert diff == 1
    assert codec.read(rewritten) == (identity, -1)
    assert dict(rewritten[3]) == {"pathway_time": b"9", "pathway_diff": b"-1", "extra": b"e"}


def test_read_tail_returns_the_sinks_messages_after_the_offsets_by_time(kafka) -> None:
    topic = kafka.create_topic(partitions=2)
    from confluent_kafka import Producer

    producer = Producer(kafka.settings)
    for time, key in [(1, b"a"), (2, b"b"), (3, b"a"), (3, b"b"), (4, b"c")]:
        producer.produce(topic, key=key, value=f"v{time}".encode(), partition=key[0] % 2,
                         headers=[("pathway_time", str(time).encode()),
                                  ("pathway_diff", b"1")])
    producer.produce(topic, key=b"z", value=b"not ours", partition=0)
    assert producer.flush(10) == 0
    groups, ends = read_tail(kafka.settings, topic, {}, 2, 10.0, {})
    assert [sorted(m[2] for m in g) for g in groups] == [[b"v3", b"v3"], [b"v4"]]
    assert sum(ends.values()) == 6
    # From the ends: nothing more.
    assert read_tail(kafka.settings, topic, ends, 0, 10.0, {})[0] == []
