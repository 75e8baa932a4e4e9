"""``pw.io.postgres``: write a table's changes or its current snapshot to PostgreSQL, and read
a PostgreSQL table live through logical replication (change data capture without Kafka).

Each logical time is written in one transaction, so a reader of the database never sees half
a commit. ``init_mode``: ``"default"`` (the table must exist), ``"create_if_not_exists"`` or
``"replace"`` (created from the table's schema, with ``time`` and ``diff`` columns).

>>> import reflow as pw
>>> t = pw.debug.table_from_markdown('''
... city  | temp
... Paris | 20
... ''')
>>> settings = {"host": "localhost", "port": 5432, "dbname": "test", "user": "postgres"}
>>> pw.io.postgres.write_snapshot(t, settings, "temps", ["city"], init_mode="replace")
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from reflow.io._common import ConnectorError, input_table, schema_dtypes
from reflow.io._connector.postgres_cdc import PostgresCdcReader
from reflow.io._connector.postgres_client import PostgresChangesWriter, PostgresSnapshotWriter
from reflow.io._connector.reader import ReaderSource
from reflow.io._connector.writer import attach_writer
from reflow.plan.errors import user_frame

if TYPE_CHECKING:
    from reflow.api.schema import Schema
    from reflow.api.table import Table


def _column_names(refs: Any, what: str) -> list[str]:
    names = [getattr(ref, "name", ref) for ref in refs]
    if not names or not all(isinstance(n, str) for n in names):
        raise ConnectorError(f"{what}: primary_key must be a non-empty list of column names")
    return names


def write(
    table: Table,
    postgres_settings: dict,
    table_name: str,
    *,
    schema_name: str | None = "public",
    max_batch_size: int | None = None,
    init_mode: Literal["default", "create_if_not_exists", "replace"] = "default",
    output_table_type: Literal["stream_of_changes", "snapshot"] = "stream_of_changes",
    primary_key: list | None = None,
    name: str | None = None,
    sort_by: Any = None,
) -> None:
    """Append every change of ``table`` to ``table_name`` as a row with the columns plus
    ``time`` and ``diff`` (1 added, -1 removed), one transaction (a COPY) per logical time.
    ``output_table_type="snapshot"`` behaves as ``write_snapshot`` with ``primary_key``.
    Connection loss is retried with backoff; a time that cannot be written stops the run with
    a ``ConnectorError`` naming the table, the server and the reason.
    """
    if output_table_type == "snapshot":
        write_snapshot(
            table, postgres_settings, table_name, primary_key or [],
            init_mode=init_mode, name=name, _schema_name=schema_name,
        )
        return
    if output_table_type != "stream_of_changes":
        raise ConnectorError(
            "pw.io.postgres.write: output_table_type must be 'stream_of_changes' or "
            f"'snapshot', got {output_table_type!r}"
        )
    writer = PostgresChangesWriter(
        postgres_settings, table_name, schema_name, table.schema.dtypes(), init_mode
    )
    attach_writer(table, writer, name or f"postgres {table_name}")


def write_snapshot(
    table: Table,
    postgres_settings: dict,
    table_name: str,
    primary_key: list,
    *,
    max_batch_size: int | None = None,
    init_mode: Literal["default", "create_if_not_exists", "replace"] = "default",
    name: str | None = None,
    sort_by: Any = None,
    _schema_name: str | None = "public",
) -> None:
    """Keep ``table_name`` equal to the current rows of ``table``, keyed by ``primary_key``:
    at each logical time, in one transaction, removed keys are deleted and added or changed
    rows upserted (with the ``time`` of their last change and ``diff`` 1).
    """
    keys = _column_names(primary_key, "pw.io.postgres.write_snapshot")
    dtypes = table.schema.dtypes()
    unknown = [k for k in keys if k not in dtypes]
    if unknown:
        raise ConnectorError(
            f"pw.io.postgres.write_snapshot: primary key column(s) {unknown} are not columns "
            f"of the table ({list(dtypes)})"
        )
    writer = PostgresSnapshotWriter(
        postgres_settings, table_name, _schema_name, dtypes, init_mode, keys
    )
    attach_writer(table, writer, name or f"postgres snapshot {table_name}")


def read(
    postgres_settings: dict,
    table_name: str,
    schema: type[Schema],
    *,
    mode: Literal["streaming", "static"] = "streaming",
    is_append_only: bool = False,
    publication_name: str | None = None,
    schema_name: str | None = "public",
    autocommit_duration_ms: int | None = 1500,
    name: str | None = None,
    max_backlog_size: int | None = None,
    debug_data: Any = None,
) -> Table:
    """The rows of a PostgreSQL table, then its inserts, updates and deletes as they are
    committed, each source transaction one logical time.

    A logical replication slot (plugin ``test_decoding``) is created with an exported
    snapshot, the table is read in that snapshot, then the slot's changes are polled: no
    change is missed or seen twice. The slot is advanced as the pipeline commits and dropped
    when the run ends; with persistence it is advanced only as checkpoints are stored and kept
    when the run ends, so a restart reads again what followed the checkpoint. Needs
    ``wal_level = logical`` on the server and a user allowed to replicate. Updates and
    deletes are matched by the schema's primary key (which must be the table's replica
    identity, by default its primary key); without one, only inserts are accepted
    (``is_append_only``). ``publication_name`` is accepted and not needed.
    """
    where = user_frame()
    dtypes = schema_dtypes(schema, "pw.io.postgres.read")
    primary_key = schema.primary_key_columns()
    if not primary_key and not is_append_only:
        raise ConnectorError(
            "pw.io.postgres.read needs the table's primary key in the schema "
            "(pw.column_definition(primary_key=True)) to apply updates and deletes, "
            "or is_append_only=True"
        )
    if mode not in ("streaming", "static"):
        raise ConnectorError(
            f"pw.io.postgres.read: mode must be 'streaming' or 'static', got {mode!r}"
        )
    reader = PostgresCdcReader(
        postgres_settings, table_name, schema_name or "public", list(dtypes),
        static=mode == "static",
    )
    source = ReaderSource(
        reader, dtypes,
        name=name or f"postgres {table_name}",
        defaults=schema.default_values(),
        primary_key=primary_key,
        autocommit_ms=None,
    )
    return input_table(dtypes, source, where)


__all__ = ["read", "write", "write_snapshot"]
