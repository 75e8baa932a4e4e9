"""``pw.io.debezium``: a table kept equal to a database table from Debezium's change events
over Kafka.

Each message is a Debezium change event (with or without the ``schema``/``payload``
envelope): ``op`` ``c`` (create) and ``r`` (snapshot read) add the ``after`` row, ``u``
replaces the ``before`` row with the ``after`` row, ``d`` removes the ``before`` row;
tombstones (messages without a value) are passed over. Rows are matched by the schema's
primary key, which must be the source table's key. A message that is not a change event or
does not fit the schema goes to ``pw.global_error_log()`` naming its topic, partition and
offset.

>>> import reflow as pw
>>> class Customer(pw.Schema):
...     id: int = pw.column_definition(primary_key=True)
...     name: str
>>> customers = pw.io.debezium.read(
...     {"bootstrap.servers": "localhost:9092"}, "dbserver1.public.customers", schema=Customer
... )
>>> customers.schema.column_names()
['id', 'name']
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from reflow.io._common import ConnectorError, input_table, schema_dtypes
from reflow.io._connector.formats import message_decoder
from reflow.io._connector.kafka_client import KafkaReader
from reflow.io._connector.reader import ReaderSource
from reflow.io._values import BadValue
from reflow.plan.errors import user_frame

if TYPE_CHECKING:
    from reflow.api.schema import Schema
    from reflow.api.table import Table

_json = message_decoder("json", {})


def _decode(value: bytes | None) -> Mapping[str, Any]:
    return {} if value is None else _json(value)


def _row(value: Any, what: str) -> dict:
    if isinstance(value, str):  # MongoDB's connector sends documents as JSON text
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise BadValue(f"{what}: invalid JSON ({exc})") from None
    if not isinstance(value, dict):
        raise BadValue(f"{what}: expected an object, got {value!r}")
    return value


def change_events(document: Mapping[str, Any], key: bytes | None) -> list[tuple[dict, bool]]:
    """The ``(values, is_deletion)`` changes of one Debezium event.

    >>> change_events({"payload": {"op": "u", "before": {"id": 1, "name": "a"},
    ...                            "after": {"id": 1, "name": "b"}}}, None)
    [({'id': 1, 'name': 'a'}, True), ({'id': 1, 'name': 'b'}, False)]
    """
    if not document:
        return []  # a tombstone
    payload = document if "op" in document else document.get("payload")
    if not isinstance(payload, dict) or "op" not in payload:
        raise BadValue("not a Debezium change event (no 'op' field)")
    op = payload["op"]
    if op in ("c", "r"):
        return [(_row(payload.get("after"), "after"), False)]
    if op == "u":
        before = payload.get("before")
        changes = [] if before is None else [(_row(before, "before"), True)]
        return [*changes, (_row(payload.get("after"), "after"), False)]
    if op == "d":
        before = payload.get("before")
        if before is None and key is not None:
            key_document = _json(key)
            before = key_document.get("payload", key_document)
        return [(_row(before, "before"), True)]
    raise BadValue(f"unsupported Debezium operation {op!r}")


def read(
    rdkafka_settings: dict,
    topic_name: str,
    *,
    db_type: Any = None,
    schema: type[Schema],
    debug_data: Any = None,
    autocommit_duration_ms: int | None = 1500,
    name: str | None = None,
    max_backlog_size: int | None = None,
    **kwargs: Any,
) -> Table:
    """A table following the Debezium change events of ``topic_name`` (see the module)."""
    where = user_frame()
    dtypes = schema_dtypes(schema, "pw.io.debezium.read")
    primary_key = schema.primary_key_columns()
    if not primary_key:
        raise ConnectorError(
            "pw.io.debezium.read needs the table's primary key in the schema "
            "(pw.column_definition(primary_key=True))"
        )
    if "bootstrap.servers" not in rdkafka_settings:
        raise ConnectorError("pw.io.debezium.read: rdkafka_settings need 'bootstrap.servers'")
    reader = KafkaReader(rdkafka_settings, [topic_name], _decode, to_changes=change_events)
    source = ReaderSource(
        reader, dtypes,
        name=name or f"debezium {topic_name}",
        defaults=schema.default_values(),
        primary_key=primary_key,
        autocommit_ms=autocommit_duration_ms,
    )
    return input_table(dtypes, source, where)


__all__ = ["read"]
