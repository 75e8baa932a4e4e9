"""``pw.io.kafka``: read topics into tables and write a table's changes to a topic.

Every partition of a topic is read, each from the offset the reader tracks itself (no
consumer group is joined, so offsets never depend on a group coordinator). Rows arriving
within ``autocommit_duration_ms`` of each other enter the pipeline at one logical time (more,
while the pipeline is still busy with the previous commit: see ``ReaderSource``). A
message that does not fit the schema is reported in ``pw.global_error_log()`` with its topic,
partition and offset, and the rest flows on. Written messages carry the change: JSON values
hold the columns plus ``time`` and ``diff``, and every message has the headers
``pathway_time`` and ``pathway_diff``.

>>> import reflow as pw
>>> class Reading(pw.Schema):
...     sensor: str
...     value: float
>>> readings = pw.io.kafka.read(
...     {"bootstrap.servers": "localhost:9092"}, "readings", schema=Reading, format="json"
... )
>>> readings.schema.column_names()
['sensor', 'value']
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from reflow.io._common import ConnectorError, input_table, schema_dtypes
from reflow.io._connector.formats import message_decoder
from reflow.io._connector.kafka_client import KafkaReader
from reflow.io._connector.kafka_writer import KafkaWriter
from reflow.io._connector.reader import ReaderSource
from reflow.io._connector.writer import attach_writer
from reflow.plan import dtypes as dt
from reflow.plan.errors import user_frame

if TYPE_CHECKING:
    from reflow.api.schema import Schema
    from reflow.api.table import Table


def _column_name(ref: Any, what: str) -> str:
    name = getattr(ref, "name", ref)
    if not isinstance(name, str):
        raise ConnectorError(f"{what} must be a column of the table, got {ref!r}")
    return name


def _read_dtypes(
    schema: type[Schema] | None, format: str, what: str
) -> tuple[dict[str, dt.DType], dict, list[str] | None]:
    if schema is None and format in ("raw", "plaintext"):
        return {"data": dt.BYTES if format == "raw" else dt.STR}, {}, None
    dtypes = schema_dtypes(schema, what)
    return dtypes, schema.default_values(), schema.primary_key_columns()  # type: ignore[union-attr]


def read(
    rdkafka_settings: dict,
    topic: str | list[str] | None = None,
    *,
    schema: type[Schema] | None = None,
    mode: Literal["streaming", "static"] = "streaming",
    format: Literal["plaintext", "raw", "json", "csv", "dsv"] = "raw",
    schema_registry_settings: Any = None,
    debug_data: Any = None,
    autocommit_duration_ms: int | None = 1500,
    json_field_paths: dict[str, str] | None = None,
    autogenerate_key: bool = False,
    with_metadata: bool = False,
    start_from_timestamp_ms: int | None = None,
    parallel_readers: int | None = None,
    name: str | None = None,
    max_backlog_size: int | None = None,
    delimiter: str = ",",
    **kwargs: Any,
) -> Table:
    """A table of the messages of ``topic`` (a name or a list of names).

    ``format``: ``"raw"`` (a ``data`` column of bytes), ``"plaintext"`` (``data`` as text),
    ``"json"`` (one object per message, columns by name or by ``json_field_paths``, e.g.
    ``{"city": "/address/city"}``) or ``"csv"``/``"dsv"`` (one line per message, columns in
    schema order, split at ``delimiter``). With a primary key in the schema a message replaces
    the row with the same key; without one every message is a new row. ``with_metadata`` adds
    a ``_metadata`` JSON column (topic, partition, offset, timestamp_millis, key).
    ``start_from_timestamp_ms`` skips messages older than that. ``mode="static"`` reads what
    the topic holds now and ends.
    """
    where = user_frame()
    if schema_registry_settings is not None:
        raise ConnectorError("pw.io.kafka.read: schema registries are not supported")
    topics = topic if isinstance(topic, list) else [topic] if topic else None
    if not topics:
        raise ConnectorError("pw.io.kafka.read needs a topic")
    if mode not in ("streaming", "static"):
        raise ConnectorError(
            f"pw.io.kafka.read: mode must be 'streaming' or 'static', got {mode!r}"
        )
    if "bootstrap.servers" not in rdkafka_settings:
        raise ConnectorError("pw.io.kafka.read: rdkafka_settings need 'bootstrap.servers'")
    dtypes, defaults, primary_key = _read_dtypes(schema, format, "pw.io.kafka.read")
    decode = message_decoder(format, dtypes, delimiter=delimiter)
    if with_metadata:
        dtypes = {**dtypes, "_metadata": dt.JSON}
    reader = KafkaReader(
        rdkafka_settings, list(topics), decode,
        with_metadata=with_metadata,
        start_from_timestamp_ms=start_from_timestamp_ms,
        static=mode == "static",
    )
    source = ReaderSource(
        reader, dtypes,
        name=name or f"kafka {', '.join(topics)}",
        defaults=defaults,
        primary_key=primary_key,
        autocommit_ms=autocommit_duration_ms,
        field_paths=json_field_paths,
    )
    return input_table(dtypes, source, where)


def simple_read(
    server: str,
    topic: str,
    *,
    read_only_new: bool = False,
    schema: type[Schema] | None = None,
    format: Literal["plaintext", "raw", "json"] = "raw",
    debug_data: Any = None,
    autocommit_duration_ms: int | None = 1500,
    json_field_paths: dict[str, str] | None = None,
    parallel_readers: int | None = None,
    name: str | None = None,
    **kwargs: Any,
) -> Table:
    """``read`` with only a server address: every message of ``topic`` from the start, or
    only those newer than now with ``read_only_new``.

    >>> import reflow as pw
    >>> lines = pw.io.kafka.simple_read("localhost:9092", "lines", format="plaintext")
    >>> lines.schema.column_names()
    ['data']
    """
    import time

    return read(
        {"bootstrap.servers": server},
        topic,
        schema=schema,
        format=format,
        autocommit_duration_ms=autocommit_duration_ms,
        json_field_paths=json_field_paths,
        start_from_timestamp_ms=int(time.time() * 1000) if read_only_new else None,
        name=name,
        **kwargs,
    )


def write(
    table: Table,
    rdkafka_settings: dict,
    topic_name: Any,
    *,
    format: Literal["raw", "plaintext", "json", "dsv"] = "json",
    schema_registry_settings: Any = None,
    subject: str | None = None,
    delimiter: str = ",",
    key: Any = None,
    value: Any = None,
    headers: Any = None,
    name: str | None = None,
    sort_by: Any = None,
) -> None:
    """Write every change of ``table`` to a topic, one message per changed row.

    ``format="json"``: the row's columns plus ``time`` and ``diff`` (1 added, -1 removed);
    ``"dsv"``: a header line first, then the values, ``time`` and ``diff`` split by
    ``delimiter``; ``"plaintext"``/``"raw"``: the ``value`` column (or the only column) as
    text or bytes. The message key is the ``key`` column, or else the row's id; ``headers``
    columns become headers named after them, beside ``pathway_time`` and ``pathway_diff``.
    ``topic_name`` may be a column holding each row's topic. Each logical time is flushed and
    acknowledged before the next; transient failures are retried. In a persistent run, a
    restart from a checkpoint reads back what the sink wrote after it and writes only the
    difference (exactly once for one ``topic_name``; at least once with a topic column).

    >>> import reflow as pw
    >>> t = pw.debug.table_from_markdown('''
    ... word
    ... hello
    ... ''')
    >>> pw.io.kafka.write(t, {"bootstrap.servers": "localhost:9092"}, "words")
    """
    if schema_registry_settings is not None:
        raise ConnectorError("pw.io.kafka.write: schema registries are not supported")
    if format not in ("raw", "plaintext", "json", "dsv"):
        raise ConnectorError(
            f"pw.io.kafka.write: format must be raw, plaintext, json or dsv, got {format!r}"
        )
    if "bootstrap.servers" not in rdkafka_settings:
        raise ConnectorError("pw.io.kafka.write: rdkafka_settings need 'bootstrap.servers'")
    columns = table.column_names()
    value_column = None if value is None else _column_name(value, "value")
    if format in ("raw", "plaintext") and value_column is None and len(columns) != 1:
        raise ConnectorError(
            f"pw.io.kafka.write: format {format!r} writes one column; pass value= "
            f"(the table has {columns})"
        )
    topic = topic_name if isinstance(topic_name, str) else None
    writer = KafkaWriter(
        rdkafka_settings,
        topic,
        topic_column=None if topic is not None else _column_name(topic_name, "topic_name"),
        format=format,
        delimiter=delimiter,
        key=None if key is None else _column_name(key, "key"),
        value=value_column,
        headers=[_column_name(h, "headers") for h in (headers or [])],
        columns=columns,
    )
    attach_writer(table, writer, name or f"kafka {topic or 'by column'}")


__all__ = ["read", "simple_read", "write"]
