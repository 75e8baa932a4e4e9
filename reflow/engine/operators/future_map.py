"""Delivering the results of fully asynchronous calls as later updates.

A select calling a fully asynchronous function emits its rows at once, with a *pending token*
in each cell whose call has not finished. ``FutureMapOperator`` sits after that select. It
passes the select's delta through and remembers, per row id, the row it emitted last. Finished
calls are put into a ``FutureInbox`` (from any thread); each time the operator's second input
(a wake-up input the runtime feeds when results are waiting) delivers something, the operator
retracts the rows whose calls finished and inserts them with the results, at that later time.

A retraction of a select row retracts whatever was emitted last for its id (pending or
result); a result arriving for a row already retracted is dropped. A result is never applied at
the logical time that created its token, so it always shows up as a separate, later update.
"""

from __future__ import annotations

import queue
from collections.abc import Mapping
from typing import Any

import polars as pl

from reflow.engine.batch import DIFF, ID, consolidate
from reflow.engine.operator import Operator, RunContext
from reflow.engine.state.partition import BROADCAST, Broadcast
from reflow.engine.state.snapshot import SnapshotError


class PendingCall:
    """The value of a cell whose asynchronous call has not finished; printed as ``Pending``.

    Every call gets its own token (tokens compare by identity), so the operator can tell which
    row a result belongs to.

    >>> PendingCall()
    Pending
    """

    __slots__ = ("__weakref__",)

    def __repr__(self) -> str:
        return "Pending"

    __str__ = __repr__


class FutureInbox:
    """Finished calls waiting to be applied; ``put`` may be called from any thread.

    ``on_put`` (set by the runtime) is called after every ``put``, e.g. to commit a wake-up
    batch into the dataflow.

    >>> inbox = FutureInbox()
    >>> token = PendingCall()
    >>> inbox.put(token, 42)
    >>> inbox.take() == [(token, 42, False)]
    True
    """

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self.on_put: Any = None

    def put(self, token: PendingCall, value: Any, failed: bool = False) -> None:
        """Record that the call behind ``token`` finished with ``value`` (an error if failed)."""
        self._queue.put((token, value, failed))
        callback = self.on_put
        if callback is not None:
            callback()

    def take(self) -> list[tuple[PendingCall, Any, bool]]:
        """Every finished call recorded so far, oldest first."""
        taken = []
        while True:
            try:
                taken.append(self._queue.get_nowait())
            except queue.Empty:
                return taken


class FutureMapOperator(Operator):
    """Passes a select's delta through and applies finished calls at later times.

    ``future_columns`` maps each column that may hold pending tokens to the name of its error
    companion column (or ``None``); a failed call sets the companion to ``True`` and the cell
    to ``None`` and the failure (``value``, e.g. the exception) is reported to the run's error
    log for that row. Inputs: the select's operator, then the wake-up input.
    """

    broadcasts = True
    state_fields = ("_emitted",)

    stateful = True
    emits_consolidated = True

    def __init__(
        self,
        source: Operator,
        wake: Operator,
        schema: Mapping[str, pl.DataType],
        future_columns: Mapping[str, str | None],
        inbox: FutureInbox,
        name: str,
    ) -> None:
        super().__init__([source, wake], name)
        self.schema = dict(schema)
        self.future_columns = dict(future_columns)
        self.inbox = inbox
        self._emitted: dict[int, dict[str, Any]] = {}
        self._token_ids: dict[int, tuple[PendingCall, int, int]] = {}
        self._deferred: list[tuple[PendingCall, Any, bool]] = []

    @property
    def has_deferred(self) -> bool:
        """Whether finished calls wait for a later time than the one that created them."""
        return bool(self._deferred)

    @property
    def outstanding(self) -> int:
        """How many emitted cells still wait for their call."""
        return len(self._token_ids)

    def state(self) -> dict[str, Any]:
        """The values emitted per row; refused while calls are still running (their results
        would be lost)."""
        running = len(self._token_ids) + len(self._deferred)
        if running:
            raise SnapshotError(
                f"{self.name}: cannot snapshot while {running} asynchronous call(s) are running"
            )
        return super().state()

    def partition_key(
        self, input_index: int, delta: pl.DataFrame, ctx: RunContext
    ) -> pl.Series | Broadcast:
        """Rows by id; the wake-up signal goes to every shard."""
        return BROADCAST if input_index == 1 else delta[ID]

    def process(
        self, time: int, deltas: list[pl.DataFrame | None], ctx: RunContext
    ) -> pl.DataFrame | None:
        data = deltas[0]
        wake = deltas[1] if len(deltas) > 1 else None
        out: list[dict[str, Any]] = []
        if data is not None and data.height:
            self._pass_through(time, data, out)
        if wake is not None:
            self._apply_results(time, out, ctx)
        if not out:
            return None
        return consolidate(pl.DataFrame(out, schema={**self.schema}, orient="row"))

    def _pass_through(self, time: int, data: pl.DataFrame, out: list[dict[str, Any]]) -> None:
        rows = data.rows(named=True)
        # Retractions first: an update retracts the old row and inserts the new one.
        for row in sorted(rows, key=lambda r: r[DIFF]):
            row_id, diff = row[ID], row[DIFF]
            if diff < 0:
                last = self._emitted.pop(row_id, None)
                if last is None:
                    continue
                self._forget_tokens(last)
                out.append({**last, DIFF: -1})
            else:
                values = {name: row[name] for name in self.schema if name != DIFF}
                self._emitted[row_id] = values
                for column in self.future_columns:
                    value = values.get(column)
                    if isinstance(value, PendingCall):
                        self._token_ids[id(value)] = (value, row_id, time)
                out.append({**values, DIFF: 1})

    def _forget_tokens(self, row: dict[str, Any]) -> None:
        for column in self.future_columns:
            value = row.get(column)
            if isinstance(value, PendingCall):
                self._token_ids.pop(id(value), None)

    def _apply_results(self, time: int, out: list[dict[str, Any]], ctx: RunContext) -> None:
        finished, self._deferred = self._deferred + self.inbox.take(), []
        for token, value, failed in finished:
            entry = self._token_ids.get(id(token))
            if entry is None or entry[0] is not token:
                continue  # its row was retracted: the result is dropped
            _, row_id, created = entry
            if created >= time:
                self._deferred.append((token, value, failed))  # never in the creating time
                continue
            del self._token_ids[id(token)]
            if failed:
                ctx.report_error(
                    self.name, _describe(value), row_id,
                    value if isinstance(value, BaseException) else None,
                )
            old = self._emitted[row_id]
            new = dict(old)
            for column, companion in self.future_columns.items():
                if new.get(column) is token:
                    new[column] = None if failed else value
                    if companion is not None:
                        new[companion] = failed
            self._emitted[row_id] = new
            out.append({**old, DIFF: -1})
            out.append({**new, DIFF: 1})


def _describe(failure: Any) -> str:
    if isinstance(failure, BaseException):
        return f"{type(failure).__name__}: {failure}"
    return str(failure)


def wake_batch() -> pl.DataFrame:
    """The one-row batch a runtime feeds the wake-up input when results are waiting."""
    return pl.DataFrame({ID: [0], DIFF: [1]}, schema={ID: pl.UInt128, DIFF: pl.Int64})

