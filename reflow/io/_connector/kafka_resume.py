"""Exactly-once output of the Kafka sink across a restart from a checkpoint.

Kafka cannot take messages back, and the broker the tests run against (Tansu) shows aborted
transactional messages to ``read_committed`` consumers, so transactions are not used. Instead
a checkpoint stores, for the sink, the next offset of every partition of its topic after the
checkpoint's logical time. On a restart the sink reads what it wrote after those offsets (the
*tail*: its messages of times after the checkpoint, recognised by their ``pathway_time``
header) and reconciles the replay with it:

* The tail is cut into *groups*, one per logical time it holds. While the replay delivers, time
  after time, exactly the changes of the next group (same rows, same diffs; the logical time
  itself may differ), nothing is written: those messages are already in the topic.
* At the first delivery that differs (commits of the restarted sources may group rows into
  times differently), the sink writes that delivery *minus* every group not yet matched, in
  one consolidated time: retractions of what the interrupted run wrote and the replay does not
  produce, and the replay's changes not written yet. A consumer that applies the changes then
  holds exactly the table of the replay, and the stream goes on from there.

So the sum of the changes in the topic is always the table of an uninterrupted run, no row is
ever added twice, and a replay that reproduces the interrupted run's times writes nothing
twice. Groups still unmatched when the next checkpoint is taken are stored in it, so a second
crash before the reconciliation ends is handled the same way.
"""

from __future__ import annotations

import csv
import io
import json
import time as clock
import uuid
from collections import Counter
from collections.abc import Mapping
from typing import Any

#: One message as produced: (topic, key, value, headers).
Message = tuple[str, bytes | None, bytes | None, list]
#: What a message says, without its logical time and diff.
Identity = tuple


def header(headers: list | None, name: str) -> bytes | None:
    for key, value in headers or ():
        if key == name:
            return value
    return None


def _dsv_cells(value: bytes, delimiter: str) -> list[str]:
    return next(csv.reader(io.StringIO(value.decode("utf-8")), delimiter=delimiter))


def _dsv_line(cells: list[str], delimiter: str) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter, quoting=csv.QUOTE_ALL, lineterminator="").writerow(
        cells
    )
    return buffer.getvalue().encode("utf-8")


class MessageCodec:
    """Reads a sink's message back into (identity, diff) and writes it anew with another
    time and diff, for the sink's ``format``.

    >>> codec = MessageCodec("json", ",")
    >>> headers = [("pathway_time", b"4"), ("pathway_diff", b"1")]
    >>> m = ("t", b"k", b'{"a":1,"diff":1,"time":4}', headers)
    >>> identity, diff = codec.read(m)
    >>> diff, codec.rewrite(m, 9, -1)[2]
    (1, b'{"a":1,"diff":-1,"time":9}')
    """

    def __init__(self, format: str, delimiter: str, header_line: bytes | None = None) -> None:
        self.format = format
        self.delimiter = delimiter
        #: The first message of a ``dsv`` sink (the column names), which is no change.
        self.header_line = header_line

    def is_header(self, message: Message) -> bool:
        return self.header_line is not None and message[2] == self.header_line

    def read(self, message: Message) -> tuple[Identity, int]:
        topic, key, value, headers = message
        diff = int(header(headers, "pathway_diff") or b"0")
        extra = tuple(h for h in headers if h[0] not in ("pathway_time", "pathway_diff"))
        content: Any = value
        if value is not None and self.format == "json":
            record = json.loads(value)
            record.pop("time", None)
            record.pop("diff", None)
            content = json.dumps(record, sort_keys=True)
        elif value is not None and self.format == "dsv":
            content = tuple(_dsv_cells(value, self.delimiter)[:-2])
        return (topic, key, content, extra), diff

    def rewrite(self, message: Message, time: int, diff: int) -> Message:
        topic, key, value, headers = message
        new_headers = [
            ("pathway_time", str(time).encode()) if name == "pathway_time"
            else ("pathway_diff", str(diff).encode()) if name == "pathway_diff"
            else (name, data)
            for name, data in headers
        ]
        if value is not None and self.format == "json":
            record = json.loads(value)
            record["diff"], record["time"] = diff, time
            value = json.dumps(record, separators=(",", ":")).encode("utf-8")
        elif value is not None and self.format == "dsv":
            cells = _dsv_cells(value, self.delimiter)
            value = _dsv_line([*cells[:-2], str(time), str(diff)], self.delimiter)
        return (topic, key, value, new_headers)


#: A group of the tail: per identity, the net diff and one message saying it.
Group = dict[Identity, tuple[int, Message]]


def group_of(codec: MessageCodec, messages: list[Message]) -> Group:
    """The net changes of ``messages`` (identities whose diffs cancel are left out)."""
    net: dict[Identity, tuple[int, Message]] = {}
    for message in messages:
        if codec.is_header(message):
            continue
        identity, diff = codec.read(message)
        total, _ = net.get(identity, (0, message))
        net[identity] = (total + diff, message)
    return {identity: entry for identity, entry in net.items() if entry[0]}


class Reconciler:
    """Matches a replay's deliveries against the groups of the tail (see the module
    docstring); ``pending`` holds the groups not matched yet."""

    def __init__(self, codec: MessageCodec, pending: list[Group]) -> None:
        self.codec = codec
        self.pending = [group for group in pending if group]

    def messages(self, time: int, messages: list[Message]) -> list[Message]:
        """What to write for a delivery of ``messages`` at ``time``."""
        if not self.pending or not messages:
            return messages
        delivered = group_of(self.codec, messages)
        first = self.pending[0]
        if {i: d for i, (d, _) in delivered.items()} == {i: d for i, (d, _) in first.items()}:
            self.pending.pop(0)
            return []
        # Diverged: write the delivery minus every group not matched, consolidated.
        net: Counter = Counter({i: d for i, (d, _) in delivered.items()})
        samples = {i: m for i, (_, m) in delivered.items()}
        for group in self.pending:
            for identity, (diff, message) in group.items():
                net[identity] -= diff
                samples.setdefault(identity, message)
        self.pending = []
        out = []
        for identity, diff in net.items():
            step = 1 if diff > 0 else -1
            for _ in range(abs(diff)):
                out.append(self.codec.rewrite(samples[identity], time, step))
        return out


def read_tail(
    settings: Mapping[str, Any],
    topic: str,
    start: Mapping[int, int],
    after_time: int,
    timeout: float,
    logger_config: Mapping[str, Any],
    read: bool = True,
) -> tuple[list[list[Message]], dict[int, int]]:
    """The sink's messages of ``topic`` after the offsets ``start`` (per partition; the
    partitions not named are read from their beginning) whose ``pathway_time`` is later than
    ``after_time``, as one list per logical time, in time order; and the end offset of each
    partition (the next offset after what was read). With ``read=False`` only the ends."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({
        **settings, **logger_config,
        "group.id": f"reflow-sink-{uuid.uuid4().hex}",
        "enable.auto.commit": False,
        "enable.partition.eof": False,
    })
    try:
        metadata = consumer.list_topics(topic, timeout=timeout).topics.get(topic)
        if metadata is None or metadata.error is not None:
            return [], dict(start)
        ends: dict[int, int] = {}
        assignment = []
        for partition in metadata.partitions:
            low, high = consumer.get_watermark_offsets(
                TopicPartition(topic, partition), timeout=timeout
            )
            begin = max(start.get(partition, low), low)
            ends[partition] = max(high, begin)
            if read and begin < high:
                assignment.append(TopicPartition(topic, partition, begin))
        by_time: dict[int, list[Message]] = {}
        if assignment:
            consumer.assign(assignment)
            _consume(consumer, {tp.partition for tp in assignment}, ends, after_time, by_time,
                     timeout)
        return [by_time[t] for t in sorted(by_time)], ends
    finally:
        consumer.close()


def _consume(consumer: Any, todo: set[int], ends: dict[int, int], after_time: int,
             by_time: dict[int, list[Message]], timeout: float) -> None:
    """Read the assigned partitions to their ends (``ends`` is raised to what was read),
    keeping the sink's messages of times after ``after_time``.

    A partition's high watermark may be lower than its true end: Tansu answers with the first
    offset of the last batch + 1. A fetch returns whole batches, so once every partition is
    read up to its watermark the rest of the last batches comes without waiting: the reading
    stops at the first poll that returns nothing after that.
    """
    from confluent_kafka import KafkaException

    deadline = clock.monotonic() + timeout
    while True:
        if clock.monotonic() > deadline:
            raise TimeoutError(f"reading back partitions {sorted(todo)} timed out")
        messages = consumer.consume(500, 0.5 if todo else 0.3)
        if not messages and not todo:
            return
        for message in messages:
            if message.error() is not None:
                raise KafkaException(message.error())
            partition, offset = message.partition(), message.offset()
            if offset >= ends[partition] - 1:
                todo.discard(partition)
            ends[partition] = max(ends[partition], offset + 1)
            headers = message.headers() or []
            stamp = header(headers, "pathway_time")
            if stamp is None or header(headers, "pathway_diff") is None:
                continue  # not written by a reflow sink
            written_at = int(stamp)
            if written_at > after_time:
                by_time.setdefault(written_at, []).append(
                    (message.topic(), message.key(), message.value(), list(headers))
                )
