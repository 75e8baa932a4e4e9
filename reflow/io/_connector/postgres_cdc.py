"""Change data capture from PostgreSQL: a table's rows as of a snapshot, then its changes
from a logical replication slot (``test_decoding``), polled over a normal connection."""

from __future__ import annotations

import itertools
import logging
import time
import uuid
from collections.abc import Hashable, Iterable, Mapping
from typing import Any

from reflow.io._common import ConnectorError
from reflow.io._connector.events import (
    Additions,
    Change,
    CommitMarker,
    Event,
    MessageReader,
    Position,
    Skipped,
)
from reflow.io._connector.pg_decoding import parse_change, qualified_names
from reflow.io._connector.postgres_client import _psycopg, _reason, connect, quote_ident, server
from reflow.io._connector.retry import TransientError
from reflow.io._values import BadValue

logger = logging.getLogger("reflow")

#: Longest a poll of the replication slot may take before the connection is renewed.
POLL_TIMEOUT_MS = 30000
#: Changes asked for in one poll (more when a poll brings only changes already committed).
PEEK_CHANGES = 10000


def _lsn(text: str) -> int:
    high, low = text.split("/")
    return (int(high, 16) << 32) + int(low, 16)


class PostgresCdcReader(MessageReader):
    """A table's rows as of a snapshot, then its changes from a logical replication slot.

    The slot is created with an exported snapshot and the table is read in that snapshot, so
    the changes start exactly where the rows end. Changes are peeked (not consumed) and the
    slot is advanced only once the pipeline committed them; after a reconnection the changes
    are peeked again and transactions already committed are skipped by their commit LSN.

    In a persistent run (``durable``) the slot is advanced only to the LSN of a stored
    checkpoint and kept when the run ends; its name is part of the offsets, so a restart
    from the checkpoint peeks the slot again from there and skips what the checkpoint holds.
    """

    def __init__(
        self,
        settings: Mapping[str, Any],
        table_name: str,
        schema_name: str,
        columns: list[str],
        static: bool = False,
    ) -> None:
        self.settings = dict(settings)
        self.table_name = table_name
        self.schema_name = schema_name
        self.columns = columns
        self.static = static
        self.names = qualified_names(schema_name, table_name)
        self.description = (
            f"PostgreSQL table {schema_name}.{table_name} at {server(settings)}"
        )
        self.finished = False
        self.slot: str | None = None  # the live slot, None once dropped
        self.slot_name: str | None = None  # the name of the last slot created
        self._conn = None
        self._queue: list[Event] = []
        self._committed_lsn = -1
        self._snapshot_point = ""
        self._peek_changes = PEEK_CHANGES

    # --- connecting ----------------------------------------------------------------------------
    def connect(self, resume_from: Mapping[Hashable, Any]) -> None:
        psycopg = _psycopg()
        self._queue = []
        lsn = resume_from.get("lsn")
        slot = resume_from.get("slot")
        if lsn is not None and slot is not None and self.slot is None and self.durable:
            self._reuse_slot(slot, psycopg)  # a restart from a checkpoint
        if lsn is not None and self.slot is not None:
            self._committed_lsn = _lsn(lsn)
            self._conn = connect(self.settings, autocommit=True)
            self._bound_polls()
            return
        if self.slot is not None:
            self._drop_slot()  # the snapshot was not committed: start over
        try:
            self._snapshot(psycopg)
        except psycopg.OperationalError as exc:
            raise TransientError(_reason(exc)) from None
        except psycopg.Error as exc:
            raise ConnectorError(f"{self.description}: {_reason(exc)}") from None

    def _reuse_slot(self, slot: str, psycopg) -> None:
        try:
            with connect(self.settings, autocommit=True) as conn:
                found = conn.execute(
                    "SELECT 1 FROM pg_replication_slots WHERE slot_name = %s", (slot,)
                ).fetchone()
        except psycopg.OperationalError as exc:
            raise TransientError(_reason(exc)) from None
        except psycopg.Error as exc:
            raise ConnectorError(f"{self.description}: {_reason(exc)}") from None
        if found is None:
            raise ConnectorError(
                f"{self.description}: the replication slot {slot} the checkpoint resumes "
                "from no longer exists, so the changes since the checkpoint cannot be read; "
                "delete the persistence directory to start over"
            )
        self.slot = self.slot_name = slot

    def where(self, identity: tuple) -> str:
        name = f"table {self.schema_name}.{self.table_name}"
        if identity and identity[0] == "snapshot":
            return f"{name}, snapshot at {self._snapshot_point}, row {identity[1]}"
        return f"{name}, LSN {identity[0]}" if identity else name

    def _snapshot(self, psycopg) -> None:
        from psycopg.rows import dict_row
        from psycopg.types.numeric import FloatLoader

        slot = self._new_slot_name(psycopg)
        replication = connect(self.settings, autocommit=True, replication="database")
        try:
            _, consistent_point, snapshot, _ = replication.execute(
                f"CREATE_REPLICATION_SLOT {slot} LOGICAL test_decoding EXPORT_SNAPSHOT"
            ).fetchone()
            self.slot = self.slot_name = slot
            conn = connect(self.settings, autocommit=True)
            self._conn = conn
            conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
            conn.execute(f"SET TRANSACTION SNAPSHOT '{snapshot}'")
            names = ", ".join(map(quote_ident, self.columns))
            table = f"{quote_ident(self.schema_name)}.{quote_ident(self.table_name)}"
            with conn.cursor(row_factory=dict_row) as cursor:
                cursor.adapters.register_loader("numeric", FloatLoader)
                rows = cursor.execute(f"SELECT {names} FROM {table}").fetchall()
            conn.execute("COMMIT")
            self._bound_polls()
        finally:
            replication.close()
        self._snapshot_point = consistent_point
        identities = list(zip(itertools.repeat("snapshot"), range(len(rows))))
        self._queue.append(Additions(rows, identities, {}))
        self._queue.append(Position("slot", slot))
        self._queue.append(CommitMarker("lsn", consistent_point))
        self._committed_lsn = _lsn(consistent_point)

    def _new_slot_name(self, psycopg) -> str:
        """A slot name of its own; in a persistent run the same one on every fresh start over
        the same storage (``reflow_<scope>``), so that a slot left by a run killed before its
        first checkpoint (or by a run whose storage was deleted) is dropped, not leaked."""
        if not (self.durable and self.scope):
            return f"reflow_{uuid.uuid4().hex[:16]}"
        slot = f"reflow_{self.scope}"
        with connect(self.settings, autocommit=True) as conn:
            found = conn.execute(
                "SELECT active FROM pg_replication_slots WHERE slot_name = %s", (slot,)
            ).fetchone()
            if found is None:
                return slot
            if found[0]:  # e.g. the server has not yet noticed a killed run is gone
                raise TransientError(
                    f"the replication slot {slot} of this source is in use by another "
                    "process (another run over the same persistence storage?)"
                )
            logger.info("%s: dropping replication slot %s left by an earlier run that has no "
                        "checkpoint", self.description, slot)
            try:
                conn.execute("SELECT pg_drop_replication_slot(%s)", (slot,))
            except psycopg.Error as exc:
                raise ConnectorError(f"{self.description}: cannot drop the replication slot "
                                     f"{slot} left by an earlier run: {_reason(exc)}") from None
        return slot

    def _bound_polls(self) -> None:
        """A poll that a stuck server does not answer fails instead of waiting forever."""
        assert self._conn is not None
        self._conn.execute(f"SET statement_timeout = {POLL_TIMEOUT_MS}")

    # --- reading -------------------------------------------------------------------------------
    def read(self, timeout: float) -> Iterable[Event]:
        if self._queue:
            events, self._queue = self._queue, []
            self.finished = self.static
            return events
        if self.finished:
            return []
        psycopg = _psycopg()
        if self._conn is None:
            raise TransientError("not connected")
        try:
            changes = self._conn.execute(
                "SELECT lsn::text, data FROM pg_logical_slot_peek_changes(%s, NULL, %s, "
                "'include-xids', '0', 'skip-empty-xacts', '1')",
                (self.slot, self._peek_changes),
            ).fetchall()
        except psycopg.OperationalError as exc:
            raise TransientError(_reason(exc)) from None
        except psycopg.Error as exc:
            raise ConnectorError(f"{self.description}: {_reason(exc)}") from None
        if not changes:
            time.sleep(timeout)
            return []
        events = self._events(changes)
        # The slot lags behind what was committed until a checkpoint covers it: a poll that
        # brought only committed changes asks for more next time, or it would never get past.
        full = len(changes) >= self._peek_changes
        self._peek_changes = self._peek_changes * 2 if full and not events else PEEK_CHANGES
        return events

    def _events(self, changes: list[tuple[str, str]]) -> list[Event]:
        events: list[Event] = []
        transaction: list[Event] = []
        for lsn, data in changes:
            if data.startswith("BEGIN"):
                transaction = []
            elif data.startswith("COMMIT"):
                if _lsn(lsn) > self._committed_lsn:  # else committed before a reconnection
                    events.extend(transaction)
                    events.append(CommitMarker("lsn", lsn))
                    self._committed_lsn = _lsn(lsn)
                transaction = []
            else:
                transaction.extend(self._changes(lsn, data, len(transaction)))
        return events

    def _changes(self, lsn: str, data: str, index: int) -> list[Event]:
        where = f"table {self.schema_name}.{self.table_name}, LSN {lsn}"
        try:
            table, kind, values, old_key = parse_change(data)
        except BadValue as exc:
            return [Skipped(where, str(exc))]
        if table not in self.names:
            return []
        if kind == "INSERT":
            return [Change(values, where, identity=(lsn, index))]
        if kind == "UPDATE":
            out: list[Event] = []
            if old_key is not None:
                out.append(Change(old_key, where, delete=True))
            return [*out, Change(values, where)]
        if kind == "DELETE":
            return [Change(values, where, delete=True)]
        return [Skipped(where, "TRUNCATE is not supported; the table's rows are kept")]

    def acknowledge(self, committed: Mapping[Hashable, Any]) -> None:
        lsn = committed.get("lsn")
        if lsn is None or self._conn is None:
            return
        try:
            self._conn.execute("SELECT pg_replication_slot_advance(%s, %s)", (self.slot, lsn))
        except _psycopg().Error as exc:  # advancing again after a reconnection is harmless
            logger.debug("%s: advancing the slot: %s", self.description, _reason(exc))

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def release(self) -> None:
        self.close()
        if self.durable and not self.static:
            if self.slot is not None:
                logger.info("%s: keeping replication slot %s for a restart from the "
                            "checkpoint", self.description, self.slot)
            return
        if self.slot is not None:
            self._drop_slot()

    def _drop_slot(self) -> None:
        slot, self.slot = self.slot, None
        try:
            conn = connect(self.settings, autocommit=True)
            with conn:
                conn.execute(
                    "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
                    "WHERE slot_name = %s", (slot,),
                )
        except Exception as exc:  # noqa: BLE001 - reported, the run is ending anyway
            logger.warning("%s: could not drop replication slot %s: %s",
                           self.description, slot, exc)
