"""Streams of upsert/delete events to tables and back (``Table.stream_to_table``,
``Table.to_stream``)."""

from __future__ import annotations

from typing import Any

import polars as pl

from reflow.engine.batch import DIFF, DIFF_DTYPE, ID, _row_key, consolidate, frame_from_rows
from reflow.engine.operator import Operator, RunContext
from reflow.engine.state.row_store import RowStore

_UPSERT = "\x00upsert"


class StreamToTableOperator(Operator):
    """A table from streams of events keyed by row id.

    Every inserted row of an input is an event. ``flags`` says per input which events
    upsert: a boolean column (true: upsert) or a constant. An upsert sets the row with its id
    to the event's ``columns``; any other event deletes the row with its id. Retractions of
    events are ignored (a stream only grows; an event replaced by a later one with the same
    id is retracted by its source). Of several events of one id at one time the last one
    counts, taking the inputs in order.

    >>> import polars as pl
    >>> from reflow.engine.operator import RunContext
    >>> from reflow.engine.operators.stateless import InputOperator
    >>> source = InputOperator("in", {"v": pl.Int64, "up": pl.Boolean})
    >>> op = StreamToTableOperator([source], "table", {"v": pl.Int64, "up": pl.Boolean}, ["up"])
    >>> schema = {"_id": pl.UInt128, "v": pl.Int64, "up": pl.Boolean, "_diff": pl.Int64}
    >>> batch = pl.DataFrame({"_id": [1, 2], "v": [5, 7], "up": [True, True], "_diff": [1, 1]},
    ...                      schema=schema)
    >>> op.process(0, [batch], RunContext())["v"].to_list()
    [5, 7]
    >>> batch = pl.DataFrame({"_id": [1], "v": [None], "up": [False], "_diff": [1]},
    ...                      schema=schema)
    >>> op.process(1, [batch], RunContext()).rows()
    [(1, 5, True, -1)]
    """

    state_fields = ("store",)

    stateful = True
    emits_consolidated = True

    def __init__(
        self,
        sources: list[Operator],
        name: str,
        columns: dict[str, pl.DataType],
        flags: list[str | bool],
    ) -> None:
        super().__init__(sources, name)
        self.columns = dict(columns)
        self.flags = list(flags)
        self.store = RowStore(self.columns)

    def _events(self, deltas: list[pl.DataFrame | None]) -> pl.DataFrame | None:
        parts = []
        for delta, flag in zip(deltas, self.flags, strict=True):
            if delta is None or delta.height == 0:
                continue
            inserted = delta.filter(pl.col(DIFF) > 0)
            if inserted.height == 0:
                continue
            upsert = (
                pl.lit(flag, dtype=pl.Boolean) if isinstance(flag, bool)
                else pl.col(flag).fill_null(False)
            ).alias(_UPSERT)
            values = [
                pl.col(name) if name in inserted.columns else pl.lit(None, dtype=dtype).alias(name)
                for name, dtype in self.columns.items()
            ]
            parts.append(inserted.select(ID, *values, upsert))
        if not parts:
            return None
        events = pl.concat(parts, how="vertical_relaxed") if len(parts) > 1 else parts[0]
        if events.height > 1 and events[ID].n_unique() != events.height:
            events = events.unique(ID, keep="last", maintain_order=True)
        return events

    def process(
        self, time: int, deltas: list[pl.DataFrame | None], ctx: RunContext
    ) -> pl.DataFrame | None:
        events = self._events(deltas)
        if events is None:
            return None
        ids = events[ID].to_list()
        refs = [self.store.ref(row_id) for row_id in ids]
        present = [i for i, ref in enumerate(refs) if ref is not None]
        old = None
        if present:
            old = self.store.gather([refs[i] for i in present]).with_columns(
                pl.Series(ID, [ids[i] for i in present], dtype=events[ID].dtype),
                pl.lit(-1, dtype=DIFF_DTYPE).alias(DIFF),
            ).select(ID, *self.columns, DIFF)
            self.store.apply(old)
        upserts = events.filter(pl.col(_UPSERT)).select(
            ID, *self.columns, pl.lit(1, dtype=DIFF_DTYPE).alias(DIFF)
        )
        if upserts.height:
            self.store.apply(upserts)
        if old is None:
            return upserts if upserts.height else None
        return consolidate(pl.concat([old, upserts], how="vertical_relaxed"))


class ToStreamOperator(Operator):
    """The changes of a table as events: one row per id and time that changed, with the
    row's new values and ``flag`` true (an upsert), or, when the row was removed, its last
    values and ``flag`` false (a deletion).

    Events keep the ids of the rows they describe. An id holds one event at a time: a new
    event of an id retracts its previous one, so the output is a table of each id's latest
    event (``StreamToTableOperator`` reads it back by ignoring those retractions).

    >>> import polars as pl
    >>> from reflow.engine.operator import RunContext
    >>> from reflow.engine.operators.stateless import InputOperator
    >>> source = InputOperator("in", {"v": pl.Int64})
    >>> op = ToStreamOperator(source, "stream", {"v": pl.Int64}, "up")
    >>> schema = {"_id": pl.UInt128, "v": pl.Int64, "_diff": pl.Int64}
    >>> op.process(0, [pl.DataFrame({"_id": [1], "v": [5], "_diff": [1]}, schema=schema)],
    ...            RunContext()).rows()
    [(1, 5, True, 1)]
    >>> op.process(1, [pl.DataFrame({"_id": [1], "v": [5], "_diff": [-1]}, schema=schema)],
    ...            RunContext()).rows()
    [(1, 5, True, -1), (1, 5, False, 1)]
    """

    state_fields = ("events", "_time", "_pending")

    stateful = True
    emits_consolidated = True

    def __init__(
        self, source: Operator, name: str, columns: dict[str, pl.DataType], flag: str
    ) -> None:
        super().__init__([source], name)
        self.columns = dict(columns)
        self.flag = flag
        types: dict[str, pl.DataType] = {ID: pl.UInt128(), **self.columns, flag: pl.Boolean()}
        self.schema = pl.Schema({**types, DIFF: DIFF_DTYPE()})
        # The latest event of every id: its values and flag.
        self.events: dict[int, tuple] = {}
        # The changes of the current time so far, per id: the event the id had before this
        # time and the rows inserted and retracted (values -> net count).
        self._time: int | None = None
        self._pending: dict[int, tuple[tuple | None, dict[Any, list]]] = {}

    def process(
        self, time: int, deltas: list[pl.DataFrame | None], ctx: RunContext
    ) -> pl.DataFrame | None:
        (delta,) = deltas
        if delta is None:
            return None
        if time != self._time:
            self._time = time
            self._pending = {}
        names = list(self.columns)
        touched: dict[int, None] = {}
        for row_id, *values, diff in delta.select(ID, *names, DIFF).iter_rows():
            pending = self._pending.get(row_id)
            if pending is None:
                pending = self._pending[row_id] = (self.events.get(row_id), {})
            touched[row_id] = None
            key = tuple(_row_key(v) for v in values)
            entry = pending[1].setdefault(key, [tuple(values), 0])
            entry[1] += diff
        out: list[tuple] = []
        for row_id in touched:
            before, counts = self._pending[row_id]
            inserted = [values for values, count in counts.values() if count > 0]
            removed = [values for values, count in counts.values() if count < 0]
            if inserted:
                event: tuple | None = (*inserted[-1], True)
            elif removed:
                event = (*removed[-1], False)
            else:
                event = before
            current = self.events.get(row_id)
            if _same(event, current):
                continue
            if current is not None:
                out.append((row_id, *current, -1))
            if event is None:
                del self.events[row_id]
            else:
                self.events[row_id] = event
                out.append((row_id, *event, 1))
        if not out:
            return None
        return frame_from_rows(out, self.schema)


def _same(a: tuple | None, b: tuple | None) -> bool:
    """Equal events (NaN equal to NaN)."""
    if a is None or b is None:
        return a is b
    return tuple(map(_row_key, a)) == tuple(map(_row_key, b))
