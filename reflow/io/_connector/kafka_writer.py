"""Writing a table's changes to Kafka: one message per changed row, each logical time flushed
and acknowledged before the next."""

from __future__ import annotations

import base64
import csv
import io
import json
from collections.abc import Mapping
from typing import Any

import polars as pl

from reflow.engine.values import Json
from reflow.io._common import ConnectorError
from reflow.io._connector.kafka_client import REQUEST_TIMEOUT, _kafka, librdkafka_logger, servers
from reflow.io._connector.retry import TransientError
from reflow.io._connector.writer import Delivery, MessageWriter


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

    def close(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            producer.flush(1.0)

    def write(self, delivery: Delivery) -> None:
        if self._producer is None:
            raise TransientError("not connected")
        if self._unsent is None or self._unsent[0] != delivery.time:
            self._unsent = (delivery.time, self._messages(delivery))
        messages = self._unsent[1]
        failed: list = []
        reasons: list[str] = []

        def on_delivery(error, message) -> None:
            if error is not None:
                failed.append(
                    (message.topic(), message.key(), message.value(), message.headers())
                )
                reasons.append(error.str())

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
