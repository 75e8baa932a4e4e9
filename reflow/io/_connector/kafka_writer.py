"""Writing a table's changes to Kafka: one message per changed row, each logical time flushed
and acknowledged before the next. With a fixed topic the sink is exactly once across a
restart from a checkpoint (``kafka_resume``)."""

from __future__ import annotations

import base64
import csv
import io
import json
import logging
from collections.abc import Mapping
from typing import Any

import polars as pl

from reflow.engine.values import Json
from reflow.io._common import ConnectorError
from reflow.io._connector.kafka_client import REQUEST_TIMEOUT, _kafka, librdkafka_logger, servers
from reflow.io._connector.kafka_resume import Group, MessageCodec, Reconciler, group_of, read_tail
from reflow.io._connector.retry import TransientError
from reflow.io._connector.writer import Delivery, MessageWriter

logger = logging.getLogger("reflow")


def _as_bytes(value: Any) -> bytes | None:
    if value is None or isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, Json):
        return Json.dumps(value).encode("utf-8")
    return str(value).encode("utf-8")


class KafkaWriter(MessageWriter):
    """Produces one message per changed row (a deletion is a message with ``diff`` -1)."""

    def __init__(
        self,
        settings: Mapping[str, Any],
        topic: str | None,
        *,
        topic_column: str | None,
        format: str,
        delimiter: str,
        key: str | None,
        value: str | None,
        headers: list[str],
        columns: list[str],
    ) -> None:
        self.settings = dict(settings)
        self.topic = topic
        self.topic_column = topic_column
        self.format = format
        self.delimiter = delimiter
        self.key = key
        self.value = value
        self.headers = headers
        self.columns = columns
        target = repr(topic) if topic is not None else f"named by column {topic_column!r}"
        self.description = f"Kafka topic {target} at {servers(settings)}"
        self._producer = None
        self._unsent: tuple[int, list] | None = None  # messages of a time not yet acknowledged
        self._header_sent = False
        # Exactly once across restarts needs to know every partition the sink writes to.
        self.resumable = topic is not None
        self.position_from_start = self.resumable  # where its output began
        self.codec = MessageCodec(
            format, delimiter,
            _dsv_line([*columns, "time", "diff"], delimiter) if format == "dsv" else None,
        )
        #: Per partition of the topic: the offset after the sink's last acknowledged message
        #: (or the end of the partition when the sink started).
        self._next: dict[int, int] = {}
        self._offsets_known = False
        self._pending: list[Group] = []  # restored from the checkpoint, until connected
        self._resuming = False  # restarted from a checkpoint
        self._reconciler: Reconciler | None = None

    def resume_from(self, position: object) -> int | None:
        # A position with time None comes from the checkpoint a persistent run takes before
        # its first time: what the sink wrote after it is reconciled all the same.
        if not isinstance(position, dict):
            self.resume_after = None
            return None
        self._resuming = True
        self.resume_after = position["time"]
        self._next = dict(position["next"])
        self._header_sent = position["header_sent"]
        self._pending = list(position["pending"])
        return self.resume_after

    def checkpoint_position(self, completed: int | None) -> object:
        pending = self._reconciler.pending if self._reconciler is not None else self._pending
        return {"time": completed, "next": dict(self._next), "header_sent": self._header_sent,
                "pending": list(pending)}

    def connect(self) -> None:
        kafka = _kafka()
        config = {
            "socket.timeout.ms": 10000,
            "message.timeout.ms": 30000,
            "linger.ms": 5,
            "logger": librdkafka_logger,
            **self.settings,
        }
        try:
            self._producer = kafka.Producer(config)
        except kafka.KafkaException as exc:
            raise ConnectorError(f"{self.description}: bad settings: {exc}") from None
        if self.resumable and not self._offsets_known:
            self._read_back()
            self._offsets_known = True

    def _read_back(self) -> None:
        """Learn where the topic ends; on a restart, read what the sink wrote after the
        checkpoint, to reconcile the replay with it."""
        assert self.topic is not None
        after = -1 if self.resume_after is None else self.resume_after
        try:
            groups, ends = read_tail(
                self.settings, self.topic, self._next, after, REQUEST_TIMEOUT,
                {"logger": librdkafka_logger}, read=self._resuming,
            )
        except (_kafka().KafkaException, TimeoutError) as exc:  # retried as a connection
            raise TransientError(f"cannot read the topic back: {exc}") from exc
        if self._resuming:
            if any(self.codec.is_header(m) for group in groups for m in group):
                self._header_sent = True
            self._reconciler = Reconciler(
                self.codec, [*self._pending, *(group_of(self.codec, g) for g in groups)]
            )
            logger.info("%s: %d logical time(s) written after the checkpoint, to reconcile "
                        "with the replay", self.description, len(self._reconciler.pending))
        self._next.update(ends)

    def close(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            producer.flush(1.0)

    def write(self, delivery: Delivery) -> None:
        if self._producer is None:
            raise TransientError("not connected")
        if self._unsent is None or self._unsent[0] != delivery.time:
            messages = self._messages(delivery)
            if self._reconciler is not None:
                messages = self._reconciler.messages(delivery.time, messages)
            self._unsent = (delivery.time, messages)
        messages = self._unsent[1]
        delivered = self._next
        failed: list = []
        reasons: list[str] = []

        def on_delivery(error, message) -> None:
            if error is not None:
                failed.append(
                    (message.topic(), message.key(), message.value(), message.headers())
                )
                reasons.append(error.str())
            else:
                partition, offset = message.partition(), message.offset()
                if offset + 1 > delivered.get(partition, 0):
                    delivered[partition] = offset + 1

        producer = self._producer
        produce = producer.produce
        for topic, key, value, headers in messages:
            while True:
                try:
                    produce(topic, value=value, key=key, headers=headers,
                            on_delivery=on_delivery)
                    break
                except BufferError:
                    producer.poll(0.05)
        left = producer.flush(REQUEST_TIMEOUT)
        if left or failed:
            self._unsent = (delivery.time, failed) if not left else self._unsent
            reason = reasons[0] if reasons else f"{left} messages not acknowledged in time"
            raise TransientError(reason)
        self._unsent = None

    def _messages(self, delivery: Delivery) -> list:
        time_, ids, diffs = delivery.time, delivery.ids, delivery.diffs
        n = len(ids)
        if self.key is not None:
            keys = [_as_bytes(v) for v in delivery.values(self.key)]
        else:
            keys = [row_id.to_bytes(16, "little") for row_id in ids]
        topics = (
            delivery.values(self.topic_column) if self.topic_column else [self.topic] * n
        )
        extra = [(name, delivery.values(name)) for name in self.headers]
        headers = [
            [("pathway_time", str(time_).encode()), ("pathway_diff", str(diffs[i]).encode())]
            + [(name, _as_bytes(values[i])) for name, values in extra]
            for i in range(n)
        ]
        values = self._values(delivery)
        out = [(topics[i], keys[i], values[i], headers[i]) for i in range(n)]
        if self.format == "dsv" and not self._header_sent and n:
            self._header_sent = True
            line = _dsv_line([*self.columns, "time", "diff"], self.delimiter)
            out.insert(0, (topics[0], keys[0], line, headers[0]))
        return out

    def _values(self, delivery: Delivery) -> list[bytes | None]:
        if self.format in ("raw", "plaintext"):
            return [_as_bytes(v) for v in delivery.values(self.value or self.columns[0])]
        frame = delivery.plain_frame()
        if self.format == "json":
            frame = frame.select(*self.columns, "diff", "time")
            nested = [n for n, info in delivery.columns.items() if info.dtype.polars() == pl.Object]
            if not nested:
                text = frame.write_ndjson()
                return [line.encode("utf-8") for line in text.splitlines()]
            # JSON values and tuples are written as nested JSON, row by row.
            records = frame.to_dicts()
            for name in nested:
                for record, value in zip(records, delivery.values(name), strict=True):
                    record[name] = _jsonable(value)
            return [json.dumps(r, default=str, separators=(",", ":")).encode() for r in records]
        frame = frame.select(*self.columns, "time", "diff")
        return [
            _dsv_line(["" if v is None else str(v) for v in row], self.delimiter)
            for row in frame.iter_rows()
        ]


def _jsonable(value: Any) -> Any:
    if isinstance(value, Json):
        return value.value
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    return value


def _dsv_line(cells: list[str], delimiter: str) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter, quoting=csv.QUOTE_ALL, lineterminator="").writerow(
        cells
    )
    return buffer.getvalue().encode("utf-8")
