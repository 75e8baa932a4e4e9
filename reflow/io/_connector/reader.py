"""Reading: a ``MessageReader`` yields changes with their positions; ``ReaderSource`` turns
them into commits of the run, resumes from offsets and reconnects after connection loss."""

from __future__ import annotations

import logging
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from reflow.engine.batch import DIFF, ID
from reflow.engine.ids import hash_columns, hash_value_rows
from reflow.io._common import ConnectorError
from reflow.io._connector.retry import RetryPolicy, TransientError
from reflow.io._formats import row_from_mapping
from reflow.io._values import BadValue, coerce
from reflow.plan import dtypes as dt
from reflow.runtime.batches import make_batch
from reflow.runtime.sources import LiveSource, SourceHandle

logger = logging.getLogger("reflow")

#: Longest a reader blocks in one ``read`` call, so stops and autocommits are noticed (s).
READ_TIMEOUT = 0.05
#: Below this many rows a commit is built row by row (column building has a fixed cost).
FAST_PATH_ROWS = 32
#: Readers keep reconnecting while the run lasts (the server may be restarting).
READER_RETRY = RetryPolicy(max_attempts=None, max_delay=2.0)


@dataclass(slots=True)
class Change:
    """One row read from the source: added (or replacing the row with its primary key), or
    removed (``delete``; the values need only hold the primary key).

    ``where`` names the position for error messages (topic/partition/offset, table/LSN;
    ``None``: the reader's ``where(identity)`` says it, only when needed);
    after this change the source resumes at ``resume`` on ``stream``; ``identity`` gives a row
    of a table without a primary key its id (unique and stable per position).
    """

    values: Mapping[str, Any]
    where: str | None
    stream: Hashable = None
    resume: Any = None
    identity: tuple = ()
    delete: bool = False


@dataclass(slots=True)
class Additions:
    """Many rows added at once, in order (a reader's fast path): ``values[i]`` was read at
    position ``identities[i]``; afterwards each stream resumes at ``positions[stream]``."""

    values: list[Mapping[str, Any]]
    identities: list[tuple]
    positions: dict[Hashable, Any]


@dataclass(slots=True)
class Skipped:
    """A message that could not be decoded: reported in the error log, then passed over."""

    where: str
    reason: str
    stream: Hashable = None
    resume: Any = None


@dataclass(slots=True)
class Position:
    """A message passed over on purpose (e.g. older than the requested start): only the
    position advances."""

    stream: Hashable = None
    resume: Any = None


@dataclass(slots=True)
class CommitMarker:
    """The end of a source transaction: what came before enters the pipeline at one time."""

    stream: Hashable = None
    resume: Any = None


Event = Change | Additions | Skipped | Position | CommitMarker


class MessageReader(ABC):
    """The connector-specific part of a source.

    ``connect`` (re)opens the connection and positions every stream at the offsets given
    (streams not listed start at the beginning the reader was configured with); ``read``
    returns what arrived within ``timeout`` seconds; both raise ``TransientError`` when the
    connection is lost. ``acknowledge`` tells which offsets the pipeline has committed (a
    replication slot can then be advanced). ``finished`` is True once a bounded source has
    nothing more to give.
    """

    #: Names the server and the stream in messages, e.g. "kafka topic 'x' at host:9092".
    description: str = "reader"
    finished: bool = False

    @abstractmethod
    def connect(self, resume_from: Mapping[Hashable, Any]) -> None: ...

    @abstractmethod
    def read(self, timeout: float) -> Iterable[Event]: ...

    def where(self, identity: tuple) -> str:
        """Names the position ``identity`` of a change in error messages."""
        return repr(identity)

    def acknowledge(self, committed: Mapping[Hashable, Any]) -> None:  # noqa: B027 - optional
        """The pipeline has committed everything up to these offsets."""

    @abstractmethod
    def close(self) -> None: ...

    def release(self) -> None:
        """The run is over: close, and free what lives on the server (a replication slot)."""
        self.close()


def _only_additions(
    buffered: list[Change | Additions | Skipped],
) -> tuple[list[Mapping[str, Any]], list[tuple]] | None:
    """The values and positions of the buffered changes if all of them are additions."""
    values: list[Mapping[str, Any]] = []
    identities: list[tuple] = []
    for e in buffered:
        if type(e) is Additions:
            values.extend(e.values)
            identities.extend(e.identities)
        elif type(e) is Change:
            if e.delete:
                return None
            values.append(e.values)
            identities.append(e.identity)
    return values, identities


class ReaderSource(LiveSource):
    """Runs a ``MessageReader`` in a thread of its own and feeds the run loop.

    Changes are committed (become one logical time) at each ``CommitMarker`` and, when
    ``autocommit_ms`` is set, at most that long after the first uncommitted change arrived
    (without it, after each read that returned data); changes without a position of their
    own (``stream`` None: inside a source transaction) wait for their ``CommitMarker``.
    ``offsets`` are the positions of everything committed so far; a source given
    ``resume_from(offsets)`` continues from there. After a ``TransientError`` the
    uncommitted changes are dropped, the reader reconnects from the committed offsets and
    reads them again: nothing committed is lost or repeated.
    """

    def __init__(
        self,
        reader: MessageReader,
        dtypes: dict[str, dt.DType],
        *,
        name: str,
        defaults: Mapping[str, Any] | None = None,
        primary_key: list[str] | None = None,
        autocommit_ms: int | None = 1500,
        field_paths: dict[str, str] | None = None,
        resume_from: Mapping[Hashable, Any] | None = None,
        retry: RetryPolicy = READER_RETRY,
    ) -> None:
        self.reader = reader
        self.dtypes = dtypes
        self.name = name
        self.defaults = dict(defaults or {})
        self.primary_key = list(primary_key or [])
        self.autocommit = None if autocommit_ms is None else autocommit_ms / 1000
        self.field_paths = field_paths
        self.retry = retry
        self.rows_read = 0
        self._committed: dict[Hashable, Any] = dict(resume_from or {})
        self._pending: dict[Hashable, Any] = {}
        self._buffer: list[Change | Additions | Skipped] = []
        self._first: float | None = None
        # Changes without a position of their own (inside a source transaction) are
        # committed only at the transaction's CommitMarker, never by time.
        self._awaits_marker = False
        self._state: dict[int, dict] = {}  # primary key id -> current row
        self._salt = f"reader:{name}"
        self._handle: SourceHandle | None = None
        self._thread: threading.Thread | None = None

    @property
    def offsets(self) -> dict[Hashable, Any]:
        """Where each stream resumes after everything committed so far."""
        return dict(self._committed)

    def resume_from(self, offsets: Mapping[Hashable, Any]) -> None:
        """Start (before the run) from these offsets instead of the configured beginning."""
        self._committed = dict(offsets)

    # --- run loop side -------------------------------------------------------------------------
    def start(self, handle: SourceHandle) -> None:
        self._handle = handle
        self._thread = threading.Thread(target=self._run, name=f"reflow-{self.name}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=10)

    # --- reader thread -------------------------------------------------------------------------
    def _run(self) -> None:
        handle = self._handle
        assert handle is not None
        failures = 0
        try:
            while not handle.stopping:
                try:
                    self.reader.connect(dict(self._committed))
                    self._pump()
                    failures = 0
                    if self.reader.finished:
                        break
                except TransientError as exc:
                    failures += 1
                    self._drop_uncommitted()
                    self._close_reader()
                    if self.retry.gives_up(failures):
                        raise ConnectorError(
                            f"{self.name}: cannot read from {self.reader.description} "
                            f"after {failures} attempts: {exc}"
                        ) from exc
                    logger.warning(
                        "%s: %s; reconnecting (attempt %d)", self.name, exc, failures
                    )
                    if handle.wait_stop(self.retry.delay(failures - 1)):
                        break
            self._flush()
        except Exception as exc:  # noqa: BLE001 - the run loop re-raises it
            self._release_reader()
            if not isinstance(exc, ConnectorError):
                exc = ConnectorError(f"{self.name} ({self.reader.description}): {exc}")
            handle.fail(exc)
            return
        self._release_reader()
        handle.close()

    def _pump(self) -> None:
        handle = self._handle
        assert handle is not None
        while not handle.stopping and not self.reader.finished:
            timeout = READ_TIMEOUT
            if self.autocommit is not None and self._first is not None:
                timeout = max(0.0, min(timeout, self._first + self.autocommit - time.monotonic()))
            got_data = False
            for event in self.reader.read(timeout):
                if isinstance(event, Additions):
                    self._pending.update(event.positions)
                    if not event.positions:
                        self._awaits_marker = True
                    got_data = got_data or bool(event.values)
                    if self._first is None:
                        self._first = time.monotonic()
                    self._buffer.append(event)
                    continue
                if event.stream is not None:
                    self._pending[event.stream] = event.resume
                if isinstance(event, CommitMarker):
                    self._flush()
                    continue
                if isinstance(event, Position):
                    continue
                assert isinstance(event, (Change, Skipped))
                got_data = True
                if self._first is None:
                    self._first = time.monotonic()
                if event.stream is None:
                    self._awaits_marker = True
                self._buffer.append(event)
            if self._first is not None and not self._awaits_marker and (
                (self.autocommit is None and got_data)
                or (self.autocommit is not None
                    and time.monotonic() - self._first >= self.autocommit)
            ):
                self._flush()

    def _drop_uncommitted(self) -> None:
        self._awaits_marker = False
        self._buffer = []
        self._pending = {}
        self._first = None

    def _close_reader(self) -> None:
        try:
            self.reader.close()
        except Exception as exc:  # noqa: BLE001 - closing a broken connection may fail too
            logger.debug("%s: error while closing: %s", self.name, exc)

    def _release_reader(self) -> None:
        try:
            self.reader.release()
        except Exception as exc:  # noqa: BLE001 - the run is ending anyway
            logger.warning("%s: error while closing: %s", self.name, exc)

    def _flush(self) -> None:
        handle = self._handle
        assert handle is not None
        events, self._buffer = self._buffer, []
        self._first = None
        self._awaits_marker = False
        if events:
            batch, errors = self._to_batch(events)
            for message in errors:
                handle.report_error(message)
            if batch is not None:
                handle.push(batch)
        if events or self._pending:
            handle.commit()
        if self._pending:
            self._committed.update(self._pending)
            self._pending = {}
            self.reader.acknowledge(dict(self._committed))

    # --- changes to a delta batch --------------------------------------------------------------
    def _to_batch(self, buffered: list[Change | Additions | Skipped]):
        skipped = [f"{e.where}: {e.reason}" for e in buffered if type(e) is Skipped]
        if not self.field_paths:
            added = _only_additions(buffered)
            if added is not None and len(added[0]) >= FAST_PATH_ROWS:
                values, identities = added
                if self.primary_key:
                    batch = self._keyed_additions(values)
                else:
                    batch = self._plain_additions(values, identities)
                if batch is not None:
                    self.rows_read += len(values)
                    return batch, skipped
        events: list[Change | Skipped] = []
        for e in buffered:
            if type(e) is Additions:
                events.extend(
                    Change(v, None, identity=i)
                    for v, i in zip(e.values, e.identities, strict=True)
                )
            else:
                events.append(e)  # type: ignore[arg-type]
        errors: list[str] = []
        typed: list[tuple[Change, dict | None, list]] = []
        for event in events:
            if isinstance(event, Skipped):
                errors.append(f"{event.where}: {event.reason}")
                continue
            try:
                if event.delete:
                    if not self.primary_key:
                        raise BadValue("a deletion needs a primary key in the schema")
                    row = None
                    key = [
                        coerce(event.values.get(k), self.dtypes[k], k) for k in self.primary_key
                    ]
                else:
                    row = row_from_mapping(
                        dict(event.values), self.dtypes, self.defaults, self.field_paths
                    )
                    key = [row[k] for k in self.primary_key]
            except BadValue as exc:
                errors.append(f"{self._where(event)}: {exc}")
                continue
            typed.append((event, row, key))
        self.rows_read += len(typed)
        if not self.primary_key:
            if not typed:
                return None, errors
            ids = self._position_ids([event.identity for event, _, _ in typed])
            rows = [row for _, row, _ in typed]
            columns: dict[str, Sequence[Any]] = {
                name: [r[name] for r in rows] for name in self.dtypes  # type: ignore[index]
            }
            return make_batch(self.dtypes, ids.to_list(), columns, [1] * len(rows)), errors
        return self._keyed_batch(typed, errors)

    def _where(self, event: Change) -> str:
        return event.where if event.where is not None else self.reader.where(event.identity)

    def _position_ids(self, identities: list[tuple]) -> pl.Series:
        """Ids of rows without a primary key: a hash of the source and the row's position."""
        frame = pl.DataFrame(list(zip(*identities, strict=True)), orient="col")
        return hash_columns(frame, frame.columns, salt=self._salt)

    def _plain_additions(
        self, rows: list[Mapping[str, Any]], identities: list[tuple]
    ) -> pl.DataFrame | None:
        """The batch of keyless ``rows``, or ``None`` (see ``_exact_columns``)."""
        columns = self._exact_columns(rows)
        if columns is None:
            return None
        ids = self._position_ids(identities)
        return pl.DataFrame([ids, *columns, pl.Series(DIFF, np.ones(len(rows), dtype=np.int64))])

    def _keyed_additions(self, rows: list[Mapping[str, Any]]) -> pl.DataFrame | None:
        """The batch of ``rows`` with a primary key (each replacing the row with its key, the
        last one of a key winning), or ``None`` (see ``_exact_columns``)."""
        columns = self._exact_columns(rows)
        if columns is None:
            return None
        frame = pl.DataFrame(columns)
        frame = frame.with_columns(hash_columns(frame, self.primary_key)).unique(
            subset=[ID], keep="last", maintain_order=True
        )
        ids = frame[ID].to_list()
        state = self._state
        replaced = [(row_id, state[row_id]) for row_id in ids if row_id in state]
        for row_id, row in zip(ids, frame.drop(ID).iter_rows(named=True), strict=True):
            state[row_id] = row
        added = frame.select(ID, *self.dtypes).with_columns(
            pl.lit(1, dtype=pl.Int64).alias(DIFF)
        )
        if not replaced:
            return added
        old_columns: dict[str, Sequence[Any]] = {
            name: [row[name] for _, row in replaced] for name in self.dtypes
        }
        removed = make_batch(
            self.dtypes, [row_id for row_id, _ in replaced], old_columns, [-1] * len(replaced)
        )
        return pl.concat([removed, added], how="vertical_relaxed")

    def _exact_columns(self, rows: list[Mapping[str, Any]]) -> list[pl.Series] | None:
        """The columns of ``rows`` built one by one when all their values have exactly the
        schema's types (the common case, and much faster than row by row); ``None`` sends
        the rows through the checking path."""
        if not rows:
            return None
        columns = []
        for name, dtype in self.dtypes.items():
            storage = dtype.polars()
            if storage == pl.Object or dtype.is_optional:
                return None
            try:
                values = [row[name] for row in rows]
                series = pl.Series(name, values, dtype=storage, strict=True)
            except (KeyError, TypeError, OverflowError, pl.exceptions.PolarsError):
                return None
            if series.null_count() or (dtype == dt.INT and any(type(v) is bool for v in values)):
                return None
            columns.append(series)
        return columns

    def _keyed_batch(self, typed: list[tuple[Change, dict | None, list]], errors: list[str]):
        row_ids = hash_value_rows([key for _, _, key in typed])
        ids: list[int] = []
        rows: list[dict] = []
        diffs: list[int] = []
        for (event, row, _), row_id in zip(typed, row_ids, strict=True):
            old = self._state.get(row_id)
            if old is not None:
                ids.append(row_id)
                rows.append(old)
                diffs.append(-1)
            if row is None:
                if old is None:
                    errors.append(f"{self._where(event)}: delete of a key that is not present")
                else:
                    del self._state[row_id]
                continue
            self._state[row_id] = row
            ids.append(row_id)
            rows.append(row)
            diffs.append(1)
        if not ids:
            return None, errors
        columns: dict[str, Sequence[Any]] = {name: [r[name] for r in rows] for name in self.dtypes}
        return make_batch(self.dtypes, ids, columns, diffs), errors
