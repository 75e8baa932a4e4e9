"""Reading: a ``MessageReader`` yields changes with their positions; ``ReaderSource`` turns
them into commits of the run, resumes from offsets and reconnects after connection loss."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import Any

from reflow.io._common import ConnectorError
from reflow.io._connector.events import (
    Additions,
    Change,
    CommitMarker,
    MessageReader,
    Position,
    Skipped,
)
from reflow.io._connector.retry import RetryPolicy, TransientError
from reflow.io._connector.rows import KeyedRows, RowBuilder
from reflow.plan import dtypes as dt
from reflow.runtime.sources import LiveSource, SourceHandle

logger = logging.getLogger("reflow")

#: Longest a reader blocks in one ``read`` call, so stops and autocommits are noticed (s).
READ_TIMEOUT = 0.05
#: While the run loop is behind (``SourceHandle.behind``), a time-based commit waits and
#: grows, up to this many rows: then it is queued anyway (and the backlog's limit applies).
GROW_LIMIT_ROWS = 200_000
#: Readers keep reconnecting while the run lasts (the server may be restarting).
READER_RETRY = RetryPolicy(max_attempts=None, max_delay=2.0)


@dataclass(frozen=True)
class KeyedOffset:
    """The checkpointed offset of a source with a primary key: where each stream resumes,
    and the current row of every key (so that an update or a deletion after a restart
    retracts the row read before it)."""

    streams: dict[Hashable, Any]
    rows: KeyedRows


class ReaderSource(LiveSource):
    """Runs a ``MessageReader`` in a thread of its own and feeds the run loop.

    Changes are committed (become one logical time) at each ``CommitMarker`` and, when
    ``autocommit_ms`` is set, at most that long after the first uncommitted change arrived
    (without it, after each read that returned data), except while the run loop has not yet
    taken this source's previous commit: the commit then grows until it has (up to
    ``GROW_LIMIT_ROWS`` rows), so a loop that fell behind catches up with fewer, larger
    logical times instead of one per interval; changes without a position of their
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
        self.autocommit = None if autocommit_ms is None else autocommit_ms / 1000
        self.retry = retry
        self._committed: dict[Hashable, Any] = dict(resume_from or {})
        self._pending: dict[Hashable, Any] = {}
        self._buffer: list[Change | Additions | Skipped] = []
        self._first: float | None = None
        self._buffered = 0  # rows in ``_buffer``
        # Changes without a position of their own (inside a source transaction) are
        # committed only at the transaction's CommitMarker, never by time.
        self._awaits_marker = False
        self.rows = RowBuilder(
            dtypes, salt=f"reader:{name}", where=reader.where, defaults=defaults,
            primary_key=primary_key, field_paths=field_paths,
        )
        self._handle: SourceHandle | None = None
        self._thread: threading.Thread | None = None
        # Offsets of the newest stored checkpoint, acknowledged by the reader thread (which
        # owns the connection) in a persistent run.
        self._checkpointed: dict[Hashable, Any] | None = None

    @property
    def rows_read(self) -> int:  # type: ignore[override]
        return self.rows.rows_read

    @property
    def offsets(self) -> dict[Hashable, Any]:
        """Where each stream resumes after everything committed so far."""
        return dict(self._committed)

    def resume_from(self, offsets: Mapping[Hashable, Any]) -> None:
        """Start (before the run) from these offsets instead of the configured beginning."""
        self._committed = dict(offsets)

    def resume(self, offset: object) -> None:
        """On a restart of a persistent run: continue after the checkpointed commit."""
        if isinstance(offset, KeyedOffset):
            self.rows.restore(offset.rows)
            offset = offset.streams
        self.resume_from(offset)  # type: ignore[arg-type]

    def use_checkpoints(self, scope: str = "") -> None:
        """A persistent run: acknowledge only what a stored checkpoint covers."""
        self.reader.durable = True
        self.reader.scope = scope

    def checkpointed(self, offset: object) -> None:
        if isinstance(offset, KeyedOffset):
            offset = offset.streams
        self._checkpointed = dict(offset)  # type: ignore[call-overload]

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
            self._acknowledge_checkpointed()
            timeout = READ_TIMEOUT
            if self.autocommit is not None and self._first is not None and not handle.behind:
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
                    self._buffered += len(event.values)
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
                self._buffered += 1
            if self._first is not None and not self._awaits_marker and (
                (self.autocommit is None and got_data)
                or (self.autocommit is not None
                    and time.monotonic() - self._first >= self.autocommit
                    and (not handle.behind or self._buffered >= GROW_LIMIT_ROWS))
            ):
                self._flush()

    def _acknowledge_checkpointed(self) -> None:
        offsets, self._checkpointed = self._checkpointed, None
        if offsets is not None:
            self.reader.acknowledge(offsets)

    def _drop_uncommitted(self) -> None:
        self._awaits_marker = False
        self._buffer = []
        self._buffered = 0
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
        self._buffered = 0
        self._first = None
        self._awaits_marker = False
        if events:
            batch, errors = self.rows.to_batch(events)
            for message in errors:
                handle.report_error(message)
            if batch is not None:
                handle.push(batch)
        if events or self._pending:
            # The offset a persistent run stores: where to resume after this commit.
            streams = {**self._committed, **self._pending}
            handle.commit(offset=KeyedOffset(streams, self.rows.keyed_rows())
                          if self.rows.primary_key else streams)
        if self._pending:
            self._committed.update(self._pending)
            self._pending = {}
            if not self.reader.durable:
                self.reader.acknowledge(dict(self._committed))

    # --- changes to a delta batch --------------------------------------------------------------
