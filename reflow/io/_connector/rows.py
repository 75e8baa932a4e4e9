"""Turning a commit's changes into a delta batch: typing values with the schema, ids from the
primary key or the position, upserts and deletions against the current rows."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from reflow.engine.batch import DIFF, ID, concat_batches, consolidate
from reflow.engine.ids import hash_columns, hash_value_rows
from reflow.io._connector.events import Additions, Change, Skipped
from reflow.io._formats import row_from_mapping
from reflow.io._values import BadValue, coerce, exact_columns
from reflow.plan import dtypes as dt
from reflow.plan.rowwise import series_values
from reflow.runtime.batches import make_batch

#: Below this many rows a commit is built row by row (column building has a fixed cost).
FAST_PATH_ROWS = 32
#: The batches of a keyed source since its last compaction are merged into one beyond this
#: many (a snapshot of them is copied at every commit) ...
MAX_LOG_BATCHES = 32
#: ... and folded into the current rows once they hold more rows than those (and this).
MIN_COMPACTION_ROWS = 10_000


@dataclass(frozen=True)
class KeyedRows:
    """The current rows of a source with a primary key, as of one commit: ``base`` (the rows
    at the last compaction, diff 1) plus the delta batches emitted since then (``log``).

    Every part is an immutable Polars frame, so a checkpoint writes each one once and
    refers to it afterwards; a restart gets the rows back with ``current()``.
    """

    base: pl.DataFrame | None
    log: tuple[pl.DataFrame, ...]

    def current(self) -> pl.DataFrame | None:
        """One row per present key (with its id and diff 1), or None when there is none."""
        return consolidate(concat_batches([self.base, *self.log]))


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


class RowBuilder:
    """Builds the delta batches of one source and keeps its current rows by primary key.

    A commit of ``FAST_PATH_ROWS`` or more additions whose values all have exactly the
    schema's types is built column by column; anything else row by row, with the same result.
    """

    def __init__(
        self,
        dtypes: dict[str, dt.DType],
        *,
        salt: str,
        where: Callable[[tuple], str],
        defaults: Mapping[str, Any] | None = None,
        primary_key: list[str] | None = None,
        field_paths: dict[str, str] | None = None,
    ) -> None:
        self.dtypes = dtypes
        self.defaults = dict(defaults or {})
        self.primary_key = list(primary_key or [])
        self.field_paths = field_paths
        self.where = where
        self.rows_read = 0
        self._salt = salt
        self._state: dict[int, dict] = {}  # primary key id -> current row
        # The same rows as frames, for checkpoints (see ``KeyedRows``).
        self._base: pl.DataFrame | None = None
        self._log: list[pl.DataFrame] = []
        self._log_rows = 0

    def keyed_rows(self) -> KeyedRows:
        """The current rows by primary key, as of now, for a checkpoint: a snapshot taken in
        time proportional to the batches since the last compaction, not to the rows."""
        return KeyedRows(self._base, tuple(self._log))

    def restore(self, rows: KeyedRows) -> None:
        """Continue from the rows of a checkpoint (before the first commit): an update or a
        deletion of one of their keys retracts its row."""
        current = rows.current()
        self._base, self._log, self._log_rows = current, [], 0
        self._state = {}
        if current is None:
            return
        values = {name: series_values(current[name]) for name in self.dtypes}
        for i, row_id in enumerate(current[ID].to_list()):
            self._state[row_id] = {name: values[name][i] for name in self.dtypes}

    def _record(self, batch: pl.DataFrame) -> None:
        self._log.append(batch)
        self._log_rows += batch.height
        if self._log_rows > max(MIN_COMPACTION_ROWS, len(self._state)):
            self._base = KeyedRows(self._base, tuple(self._log)).current()
            self._log, self._log_rows = [], 0
        elif len(self._log) > MAX_LOG_BATCHES:
            merged = concat_batches(self._log)
            self._log = [] if merged is None else [merged]

    def to_batch(self, buffered: list[Change | Additions | Skipped]):
        """The delta batch of ``buffered`` (or ``None``) and the error messages."""
        batch, errors = self._to_batch(buffered)
        if self.primary_key and batch is not None:
            self._record(batch)
        return batch, errors

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
        return event.where if event.where is not None else self.where(event.identity)

    def _position_ids(self, identities: list[tuple]) -> pl.Series:
        """Ids of rows without a primary key: a hash of the source and the row's position."""
        frame = pl.DataFrame(list(zip(*identities, strict=True)), orient="col")
        return hash_columns(frame, frame.columns, salt=self._salt)

    def _plain_additions(
        self, rows: list[Mapping[str, Any]], identities: list[tuple]
    ) -> pl.DataFrame | None:
        """The batch of keyless ``rows``, or ``None`` (see ``exact_columns``)."""
        columns = exact_columns(rows, self.dtypes)
        if columns is None:
            return None
        ids = self._position_ids(identities)
        return pl.DataFrame([ids, *columns, pl.Series(DIFF, np.ones(len(rows), dtype=np.int64))])

    def _keyed_additions(self, rows: list[Mapping[str, Any]]) -> pl.DataFrame | None:
        """The batch of ``rows`` with a primary key (each replacing the row with its key, the
        last one of a key winning), or ``None`` (see ``exact_columns``)."""
        columns = exact_columns(rows, self.dtypes)
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
