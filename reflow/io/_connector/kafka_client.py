"""Kafka on ``confluent-kafka`` (librdkafka): the client settings shared by reader and writer,
and the reader (the writer is in ``kafka_writer``).

Partitions are assigned to the reader directly (no consumer group): offsets are tracked by the
reader itself, so resuming does not depend on the broker's group coordinator.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Hashable, Iterable, Mapping
from typing import Any

from reflow.engine.values import Json
from reflow.io._common import ConnectorError
from reflow.io._connector.events import (
    Additions,
    Change,
    Event,
    MessageReader,
    Position,
    Skipped,
)
from reflow.io._connector.formats import Decoder
from reflow.io._connector.retry import TransientError
from reflow.io._values import BadValue

logger = logging.getLogger("reflow")
#: librdkafka's own messages (connection attempts, ...) go to Python logging, not stderr.
librdkafka_logger = logging.getLogger("reflow.kafka.librdkafka")

#: How long metadata requests and the final flush of a write may take (seconds).
REQUEST_TIMEOUT = 10.0


def _kafka():
    try:
        import confluent_kafka
    except ImportError as exc:  # pragma: no cover - installed with reflow's extras
        raise ConnectorError(
            "the Kafka connector needs confluent-kafka: pip install 'reflow[kafka]'"
        ) from exc
    return confluent_kafka


def servers(settings: Mapping[str, Any]) -> str:
    return str(settings.get("bootstrap.servers", "?"))


class KafkaReader(MessageReader):
    """Reads every partition of the given topics from the tracked offsets."""

    def __init__(
        self,
        settings: Mapping[str, Any],
        topics: list[str],
        decode: Decoder,
        *,
        with_metadata: bool = False,
        start_from_timestamp_ms: int | None = None,
        static: bool = False,
        to_changes=None,
    ) -> None:
        self.settings = dict(settings)
        self.topics = topics
        self.decode = decode
        self.with_metadata = with_metadata
        self.start_from_timestamp_ms = start_from_timestamp_ms
        self.static = static
        self.to_changes = to_changes
        self.description = f"Kafka topic {', '.join(map(repr, topics))} at {servers(settings)}"
        self.finished = False
        self._consumer = None
        self._eof: set[tuple[str, int]] = set()
        self._streams: set[tuple[str, int]] = set()
        self._next: dict[tuple[str, int], int] = {}
        self._last_warning = 0.0

    def connect(self, resume_from: Mapping[Hashable, Any]) -> None:
        kafka = _kafka()
        config = {
            "group.id": f"reflow-{uuid.uuid4().hex}",
            "auto.offset.reset": "earliest",
            "socket.timeout.ms": 10000,
            "socket.keepalive.enable": True,
            "logger": librdkafka_logger,
            **self.settings,
            "enable.auto.commit": False,
            "enable.partition.eof": self.static,
        }
        try:
            consumer = kafka.Consumer(config)
        except kafka.KafkaException as exc:
            raise ConnectorError(f"{self.description}: bad settings: {exc}") from None
        self._consumer = consumer
        try:
            metadata = consumer.list_topics(timeout=REQUEST_TIMEOUT)
        except kafka.KafkaException as exc:
            raise TransientError(f"cannot reach the broker: {exc.args[0]}") from None
        assignment = []
        self._streams = set()
        self._next = {}  # uncommitted messages are read again
        for topic in self.topics:
            info = metadata.topics.get(topic)
            if info is None or info.error is not None or not info.partitions:
                raise TransientError(f"topic {topic!r} does not exist (yet)")
            for partition in sorted(info.partitions):
                stream = (topic, partition)
                self._streams.add(stream)
                offset = resume_from.get(stream)
                if offset is None:
                    offset = self._start_offset(consumer, topic, partition)
                else:
                    self._next[stream] = offset
                assignment.append(kafka.TopicPartition(topic, partition, offset))
        consumer.assign(assignment)
        self._eof = set()

    def _start_offset(self, consumer, topic: str, partition: int) -> int:
        kafka = _kafka()
        if self.start_from_timestamp_ms is None:
            return kafka.OFFSET_BEGINNING
        try:
            (found,) = consumer.offsets_for_times(
                [kafka.TopicPartition(topic, partition, self.start_from_timestamp_ms)],
                timeout=REQUEST_TIMEOUT,
            )
        except kafka.KafkaException as exc:
            raise TransientError(f"cannot look up offsets by time: {exc.args[0]}") from None
        # Messages before the timestamp are also skipped one by one (``read``), so a broker
        # that answers with an earlier offset still gives the right rows.
        return found.offset if found.offset >= 0 else kafka.OFFSET_END

    def read(self, timeout: float) -> Iterable[Event]:
        kafka = _kafka()
        if self._consumer is None:
            raise TransientError("not connected")
        events: list[Event] = []
        decode, next_offsets, start = self.decode, self._next, self.start_from_timestamp_ms
        plain = self.to_changes is None and not self.with_metadata
        added = Additions([], [], {})
        for message in self._consumer.consume(num_messages=5000, timeout=timeout):
            if message.error() is not None:
                self._on_error(kafka, message, message.error())
                continue
            topic, partition, offset = message.topic(), message.partition(), message.offset()
            stream = (topic, partition)
            if offset < next_offsets.get(stream, 0):
                continue  # already read before a reconnection
            next_offsets[stream] = offset + 1
            if start is not None and message.timestamp()[1] < start:
                events.append(Position(stream, offset + 1))
                continue
            try:
                values = decode(message.value())
                if self.to_changes is not None:
                    events.extend(self._changes(values, message, stream, offset))
                    continue
            except BadValue as exc:
                events.append(Skipped(self.where((*stream, offset)), str(exc), stream,
                                      offset + 1))
                continue
            if plain:
                added.values.append(values)
                added.identities.append((topic, partition, offset))
                continue
            if self.with_metadata:
                values = {**values, "_metadata": Json(_metadata(message))}
            events.append(Change(values, None, stream, offset + 1, (topic, partition, offset)))
        if added.values:  # after the other events: its positions are the latest
            added.positions.update(next_offsets)
            events.append(added)
        return events

    def _changes(self, values, message, stream, offset) -> list[Event]:
        changes = self.to_changes(values, message.key())
        if not changes:
            return [Position(stream, offset + 1)]
        where = self.where((*stream, offset))
        return [Change(v, where, stream, offset + 1, delete=delete) for v, delete in changes]

    def where(self, identity: tuple) -> str:
        topic, partition, offset = identity
        return f"topic {topic!r}, partition {partition}, offset {offset}"

    def _on_error(self, kafka, message, error) -> None:
        if error.code() == kafka.KafkaError._PARTITION_EOF:
            self._eof.add((message.topic(), message.partition()))
            if self.static and self._eof >= self._streams:
                self.finished = True
            return
        if error.fatal():
            raise TransientError(error.str())
        now = time.monotonic()
        if now - self._last_warning > 5:  # librdkafka reconnects by itself; say so sparingly
            self._last_warning = now
            logger.warning("%s: %s", self.description, error.str())

    def close(self) -> None:
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            consumer.close()


def _metadata(message) -> dict:
    key = message.key()
    return {
        "topic": message.topic(),
        "partition": message.partition(),
        "offset": message.offset(),
        "timestamp_millis": message.timestamp()[1],
        "key": None if key is None else key.decode("utf-8", errors="replace"),
    }
