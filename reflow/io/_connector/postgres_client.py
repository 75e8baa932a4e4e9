"""PostgreSQL on ``psycopg`` 3: connections with timeouts, and the writers (a log of changes,
or a snapshot kept equal to the result). Change data capture is in ``postgres_cdc``."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from typing import Any

from reflow.engine.values import Json, Pointer
from reflow.io._common import ConnectorError
from reflow.io._connector.retry import TransientError
from reflow.io._connector.writer import Delivery, MessageWriter
from reflow.plan import dtypes as dt

logger = logging.getLogger("reflow")

INIT_MODES = ("default", "create_if_not_exists", "replace")
#: Connection options that bound every wait: a half-dead server is noticed, not waited on.
TIMEOUTS = {
    "connect_timeout": 10,
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 3,
    "tcp_user_timeout": 30000,
}


def _psycopg():
    try:
        import psycopg
    except ImportError as exc:  # pragma: no cover - installed with reflow's extras
        raise ConnectorError(
            "the PostgreSQL connector needs psycopg: pip install 'reflow[postgres]'"
        ) from exc
    return psycopg


def server(settings: Mapping[str, Any]) -> str:
    return f"{settings.get('host', 'localhost')}:{settings.get('port', 5432)}"


def connect(settings: Mapping[str, Any], **extra: Any):
    """A connection, or ``TransientError`` if the server cannot be reached."""
    psycopg = _psycopg()
    try:
        return psycopg.connect(**{**TIMEOUTS, **settings, **extra})
    except psycopg.OperationalError as exc:
        raise TransientError(f"cannot connect: {_reason(exc)}") from None
    except psycopg.ProgrammingError as exc:
        raise ConnectorError(f"bad postgres_settings: {_reason(exc)}") from None


def _reason(exc: BaseException) -> str:
    return " ".join(str(exc).split())


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def sql_type(dtype: dt.DType) -> str:
    base = dtype.strip_optional()
    named: dict[dt.DType, str] = {
        dt.INT: "BIGINT",
        dt.FLOAT: "DOUBLE PRECISION",
        dt.STR: "TEXT",
        dt.BOOL: "BOOLEAN",
        dt.BYTES: "BYTEA",
        dt.DATE_TIME_NAIVE: "TIMESTAMP",
        dt.DATE_TIME_UTC: "TIMESTAMPTZ",
        dt.DURATION: "INTERVAL",
        dt.JSON: "JSONB",
        dt.POINTER: "TEXT",
    }
    kind = named.get(base, "JSONB" if isinstance(base, (dt.Tuple, dt.List)) else "TEXT")
    return kind if dtype.is_optional or base == dt.JSON else f"{kind} NOT NULL"


def _db_value(value: Any, dtype: dt.DType) -> Any:
    if value is None:
        return None
    base = dtype.strip_optional()
    if base == dt.POINTER:
        return str(Pointer(value))
    if base == dt.JSON or isinstance(base, (dt.Tuple, dt.List)):
        from psycopg.types.json import Jsonb

        raw = value.value if isinstance(value, Json) else value
        return Jsonb(raw, dumps=lambda v: json.dumps(v, default=str))
    if isinstance(value, (dict, list, tuple, Json)):
        return json.dumps(value.value if isinstance(value, Json) else value, default=str)
    return value


class _PostgresWriter(MessageWriter):
    """What both writers share: the connection, the target table and ``init_mode``."""

    snapshot = False
    resumable = True

    def __init__(
        self,
        settings: Mapping[str, Any],
        table_name: str,
        schema_name: str | None,
        dtypes: dict[str, dt.DType],
        init_mode: str,
        primary_key: list[str] | None = None,
    ) -> None:
        if init_mode not in INIT_MODES:
            raise ConnectorError(
                f"init_mode must be one of {', '.join(INIT_MODES)}, got {init_mode!r}"
            )
        self.settings = dict(settings)
        self.dtypes = dtypes
        self.init_mode = init_mode
        self.primary_key = primary_key or []
        self.target = (
            f"{quote_ident(schema_name)}.{quote_ident(table_name)}"
            if schema_name else quote_ident(table_name)
        )
        self.description = f"PostgreSQL table {table_name!r} at {server(settings)}"
        self.columns = [*dtypes, "time", "diff"]
        self._conn = None
        self._prepared = False

    def connect(self) -> None:
        self._conn = connect(self.settings, autocommit=True)
        if not self._prepared:
            self._run(self._prepare)
            self._prepared = True

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def _prepare(self, conn) -> None:
        columns = [f"{quote_ident(n)} {sql_type(d)}" for n, d in self.dtypes.items()]
        columns += ["time BIGINT NOT NULL", "diff SMALLINT NOT NULL"]
        if self.snapshot:
            columns.append(f"PRIMARY KEY ({', '.join(map(quote_ident, self.primary_key))})")
        create = f"CREATE TABLE IF NOT EXISTS {self.target} ({', '.join(columns)})"
        with conn.transaction():
            if self.resume_after is not None:
                # A persistent run restarting from a checkpoint at time ``resume_after``:
                # keep what was written up to it, undo what came after (it is written again).
                conn.execute(f"SELECT 1 FROM {self.target} LIMIT 0")
                if not self.snapshot:
                    conn.execute(
                        f"DELETE FROM {self.target} WHERE time > %s", (self.resume_after,)
                    )
                return
            if self.init_mode == "replace":
                conn.execute(f"DROP TABLE IF EXISTS {self.target}")
            if self.init_mode in ("replace", "create_if_not_exists"):
                conn.execute(create)
            else:
                conn.execute(f"SELECT 1 FROM {self.target} LIMIT 0")

    def _run(self, action) -> None:
        """Run ``action(connection)``, turning psycopg's errors into the connector's."""
        psycopg = _psycopg()
        if self._conn is None:
            raise TransientError("not connected")
        try:
            action(self._conn)
        except psycopg.OperationalError as exc:
            raise TransientError(_reason(exc)) from None
        except psycopg.Error as exc:
            raise ConnectorError(f"{self.description}: {_reason(exc)}") from None

    def _rows(self, delivery: Delivery, positions: list[int] | None = None) -> list[tuple]:
        columns = [
            [_db_value(v, d) for v in delivery.values(n)] for n, d in self.dtypes.items()
        ]
        diffs = delivery.diffs
        picked = range(len(diffs)) if positions is None else positions
        return [
            (*(column[i] for column in columns), delivery.time, diffs[i]) for i in picked
        ]

    def _copy(self, conn, target: str, columns: list[str], rows: Iterable[tuple]) -> None:
        names = ", ".join(map(quote_ident, columns))
        with conn.cursor() as cursor, cursor.copy(f"COPY {target} ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)


class PostgresChangesWriter(_PostgresWriter):
    """Appends every change as a row with ``time`` and ``diff``, one transaction per time."""

    def write(self, delivery: Delivery) -> None:
        rows = self._rows(delivery)

        def action(conn) -> None:
            with conn.transaction():
                self._copy(conn, self.target, self.columns, rows)

        self._run(action)


class PostgresSnapshotWriter(_PostgresWriter):
    """Keeps the target table equal to the current result, keyed by ``primary_key``: per time
    one transaction deletes the removed keys and upserts the added rows."""

    snapshot = True

    def connect(self) -> None:
        super().connect()
        key = ", ".join(map(quote_ident, self.primary_key))
        names = ", ".join(map(quote_ident, self.columns))

        def temp_tables(conn) -> None:
            conn.execute(
                "CREATE TEMP TABLE reflow_upserts ON COMMIT DELETE ROWS AS "
                f"SELECT {names} FROM {self.target} WITH NO DATA"
            )
            conn.execute(
                "CREATE TEMP TABLE reflow_deletes ON COMMIT DELETE ROWS AS "
                f"SELECT {key} FROM {self.target} WITH NO DATA"
            )

        self._run(temp_tables)

    def write(self, delivery: Delivery) -> None:
        key_columns = [list(self.dtypes).index(k) for k in self.primary_key]
        diffs = delivery.diffs
        rows = self._rows(delivery)
        upserts: dict[tuple, tuple] = {}
        removed: dict[tuple, tuple] = {}
        for row, diff in zip(rows, diffs, strict=True):
            key = tuple(row[i] for i in key_columns)
            if diff > 0:
                upserts[key] = row
            else:
                removed[key] = key
        deletes = [key for key in removed if key not in upserts]
        key_names = ", ".join(map(quote_ident, self.primary_key))
        names = ", ".join(map(quote_ident, self.columns))
        updates = ", ".join(
            f"{quote_ident(c)} = EXCLUDED.{quote_ident(c)}"
            for c in self.columns if c not in self.primary_key
        )
        matches = " AND ".join(
            f"t.{quote_ident(k)} = d.{quote_ident(k)}" for k in self.primary_key
        )

        def action(conn) -> None:
            with conn.transaction():
                if deletes:
                    self._copy(conn, "reflow_deletes", self.primary_key, deletes)
                    conn.execute(f"DELETE FROM {self.target} t USING reflow_deletes d "
                                 f"WHERE {matches}")
                if upserts:
                    self._copy(conn, "reflow_upserts", self.columns, upserts.values())
                    conn.execute(
                        f"INSERT INTO {self.target} ({names}) SELECT {names} FROM "
                        f"reflow_upserts ON CONFLICT ({key_names}) DO UPDATE SET {updates}"
                    )

        self._run(action)
