"""``pw.io.python``: feed a table from Python code, and hand a table's changes to Python code.

>>> import reflow as pw
>>> class Numbers(pw.io.python.ConnectorSubject):
...     def run(self):
...         for n in range(3):
...             self.next(n=n)
>>> t = pw.io.python.read(Numbers(), schema=pw.schema_from_types(n=int))
>>> pw.debug.compute_and_print(t.select(double=pw.this.n * 2), include_id=False)
double
0
2
4
"""

from __future__ import annotations

import ast
import functools
import hashlib
import inspect
import itertools
import json
import operator
import reprlib
import textwrap
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import polars as pl

from reflow.engine.batch import (
    DIFF,
    DIFF_DTYPE,
    ID,
    ID_DTYPE,
    concat_batches,
    frame_from_rows,
    frame_of,
    series_of,
)
from reflow.engine.ids import (
    hash_typed_columns,
    hash_typed_ids,
    hash_value_rows,
    ids_from_halves,
)
from reflow.engine.values import Pointer
from reflow.io._common import ConnectorError, add_sink, input_table, schema_dtypes
from reflow.io._formats import row_from_mapping
from reflow.io._values import BadValue, exact_columns
from reflow.plan import dtypes as dt
from reflow.plan.errors import user_frame
from reflow.runtime.batches import column_series, rows_of
from reflow.runtime.sources import LiveSource, SourceHandle

if TYPE_CHECKING:
    from reflow.api.schema import Schema
    from reflow.api.table import Table

_ADD, _REMOVE = 1, -1
_source_numbers = itertools.count()


class ConnectorSubject(ABC):
    """Subclass it and implement ``run``, which pushes rows with ``next`` (or ``next_json``,
    ``next_str``, ``next_bytes``), removes them with ``delete`` and may ``commit`` to end a
    logical time. ``run`` is called in its own thread when the pipeline starts; when it
    returns the source is closed (and a pipeline whose sources are all closed ends).

    ``session_type="upsert"`` (or a schema with a primary key) makes a row with a key that
    is already present replace it, and lets ``delete`` remove a row by its key alone.
    """

    def __init__(self, datasource_name: str = "python", session_type: str = "native") -> None:
        if session_type not in ("native", "upsert"):
            raise ConnectorError(
                f"session_type must be 'native' or 'upsert', got {session_type!r}"
            )
        self._datasource_name = datasource_name
        self._session = session_type
        self._source: PythonSource | None = None

    @abstractmethod
    def run(self) -> None:
        """Produce the data: called once, in a thread of its own."""

    def on_stop(self) -> None:  # noqa: B027 - optional hook
        """Called when the pipeline stops; release resources here."""

    def start(self) -> None:
        """Run the subject (called by the runtime)."""
        self.run()

    # --- sending data --------------------------------------------------------------------------
    def next(self, **kwargs: Any) -> None:
        """Add a row whose column values are given as keyword arguments."""
        self._source.add_row(kwargs)  # type: ignore[union-attr]

    def next_json(self, message: dict) -> None:
        """Add a row given as a dict (a parsed JSON object) of column values."""
        self._source.add_row(message)  # type: ignore[union-attr]

    def next_str(self, message: str) -> None:
        """Add a row from text: the ``data`` column of a one-column schema, else a JSON
        object."""
        row = self._source.from_text(message)  # type: ignore[union-attr]
        if row is not None:
            self._source.add_row(row)  # type: ignore[union-attr]

    def next_bytes(self, message: bytes) -> None:
        """Add a row from bytes: the ``data`` column of a one-column schema, else JSON."""
        row = self._source.from_bytes(message)  # type: ignore[union-attr]
        if row is not None:
            self._source.add_row(row)  # type: ignore[union-attr]

    def delete(self, **kwargs: Any) -> None:
        """Remove a row added earlier: by its primary key (other values are ignored) when the
        schema has one, else the row with exactly these values."""
        self._remove_inner(None, kwargs)

    def _add_inner(self, key: Pointer | None, values: dict[str, Any]) -> None:
        self._source.add(_ADD, key, values)  # type: ignore[union-attr]

    def _remove_inner(self, key: Pointer | None, values: dict[str, Any]) -> None:
        self._source.add(_REMOVE, key, values)  # type: ignore[union-attr]

    def _add(self, key: Pointer | None, message: bytes) -> None:
        row = self._source.from_bytes(message)  # type: ignore[union-attr]
        if row is not None:
            self._add_inner(key, row)

    def _remove(self, key: Pointer | None, message: bytes) -> None:
        row = self._source.from_bytes(message)  # type: ignore[union-attr]
        if row is not None:
            self._remove_inner(key, row)

    def commit(self) -> None:
        """End the current logical time: the rows sent so far enter the pipeline together."""
        self._source.flush(commit=True)  # type: ignore[union-attr]

    def close(self) -> None:
        """Say that no more rows will come; the rows sent so far are committed."""
        self._source.close()  # type: ignore[union-attr]

    @functools.cached_property
    def _deletions_enabled(self) -> bool:
        """Whether this subject may delete rows. Rows added without a primary key are kept
        only then (a deletion by value needs them): a subject whose code never calls
        ``delete``, ``_remove`` or ``_remove_inner`` keeps nothing. Override it to decide."""
        return self._session_type != "native" or _may_delete(self)

    @property
    def _session_type(self) -> str:
        return getattr(self, "_session", "native")


_SHORT = reprlib.Repr()
_SHORT.maxstring = _SHORT.maxother = _SHORT.maxlong = 80
_SHORT.maxdict = 20


def _short(values: Any) -> str:
    """``repr(values)`` with long strings and numbers shortened, for a message."""
    return _SHORT.repr(values)


# The Python type of the values of each column type whose columns hash as their Python
# values do (``hash_typed_columns``): values of exactly that type are stored as they are.
_EXACT_KINDS: dict[dt.DType, type] = {dt.INT: int, dt.FLOAT: float, dt.STR: str, dt.BOOL: bool}
_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1
_UNPLANNED = object()
# Up to this many rows a commit's ids are hashed to Python ints (``hash_typed_ids``), which
# the keyed state needs, and their column is built from them; bigger commits keep the
# column the hash returns.
_FEW_IDS = 128
# Up to this many rows a keyless commit of exactly typed values is built column by column
# from its tuples (``_typed_columns``); above it ``exact_columns`` is faster (CPU per commit
# of 3 and 8 columns: 0.5-0.6x at 20-60 rows, 0.7-0.9x at 512, 1.0-2x from 1,000 up).
_TYPED_ROWS = 512
# How ``_typed_keyed_batch`` reads rows: a row's values as a tuple, each column's Python type
# and Polars storage, the positions of the key columns.
_TypedPlan = tuple[Callable[[dict], tuple], list[type], list[Any], list[int]]
_DELETING_NAMES = frozenset({"delete", "_remove", "_remove_inner"})


def _may_delete(subject: ConnectorSubject) -> bool:
    """Whether the code of a subject -- the methods its class adds to ``ConnectorSubject`` and
    the functions stored on it -- mentions a deletion (when a source cannot be read: assume
    it does)."""
    code: list[Any] = [k for k in type(subject).__mro__ if k not in (ConnectorSubject, object)]
    code += [v for v in vars(subject).values() if inspect.isfunction(v) or inspect.ismethod(v)]
    for item in code:
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(item)))
        except (OSError, TypeError, SyntaxError):
            return True
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr in _DELETING_NAMES:
                return True
            if isinstance(node, ast.Constant) and node.value in _DELETING_NAMES:
                return True
    return False


def _typed_values(
    rows: list[dict], plan: _TypedPlan, check_range: bool = True
) -> tuple[list[tuple], list[tuple]] | None:
    """The rows' values as tuples in column order and the same values column by column, when
    every row has every column and every value has exactly its column's Python type (ints
    within 64 bits, unless ``check_range`` is false: the caller then catches the
    ``OverflowError`` of building the column); ``None`` otherwise (the caller takes its
    checking path)."""
    getter, kinds = plan[0], plan[1]
    try:
        tuples = list(map(getter, rows))
    except KeyError:  # a missing value (maybe with a default)
        return None
    columns = list(zip(*tuples))
    for values, kind in zip(columns, kinds, strict=True):
        if set(map(type, values)) != {kind}:
            return None
        if check_range and kind is int and (
            min(values) < _INT64_MIN or max(values) > _INT64_MAX
        ):
            return None
    return tuples, columns


class _Event:
    """A buffered change other than a plain keyless addition (those are buffered as the bare
    dict of values, which keeps ``next`` cheap)."""

    __slots__ = ("diff", "key", "values")

    def __init__(self, diff: int, key: Any, values: dict) -> None:
        self.diff = diff
        self.key = key
        self.values = values


class PythonSource(LiveSource):
    """Buffers what a subject sends and turns it into batches at each commit."""

    def __init__(
        self,
        subject: ConnectorSubject,
        dtypes: dict[str, dt.DType],
        defaults: dict[str, Any],
        primary_key: list[str] | None,
        autocommit_ms: int | None,
        name: str,
    ) -> None:
        self.subject = subject
        self.dtypes = dtypes
        self.defaults = defaults
        self.primary_key = primary_key
        self.keyed = bool(primary_key) or subject._session_type == "upsert"
        self.autocommit = None if autocommit_ms is None else autocommit_ms / 1000
        self.name = name
        self.rows_read = 0
        self._salt = f"python:{name}:{next(_source_numbers)}"
        self._id_high = np.uint64(
            int.from_bytes(hashlib.blake2b(self._salt.encode(), digest_size=8).digest(), "little")
        )
        self._seq = 0
        # Plain additions are buffered as their dict of values, anything else as an _Event.
        self._buffer: list[dict | _Event] = []
        self._events = 0  # how many _Event entries the buffer holds
        self._first = 0.0
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._handle: SourceHandle | None = None
        self._closed = False
        self._thread: threading.Thread | None = None
        # keyed: id -> the row's values in column order (a tuple takes a fraction of the
        # memory of a dict, which counts when every key of a long stream stays)
        self._state: dict[int, tuple] = {}
        self._live: list[pl.DataFrame] = []  # unkeyed: batches of rows added
        self._plan: object = _UNPLANNED  # see ``_typed_plan``
        self._received = 0  # rows and deletions the subject sent, for persistence offsets
        self._skip = 0  # on a restart: how many of the replayed ones were already delivered
        self._resumed_at = 0  # on a restart: the offset it resumed from
        self._rebuilding = False  # while rebuilding: bad rows were reported before
        self._durable = False
        self._resumed = False

    # --- fed by the subject's thread -----------------------------------------------------------
    def add_row(self, values: dict) -> None:
        """Buffer a plain addition (no key): the per-row cost of ``next``. Without the lock:
        only the subject's thread appends to the buffer, always at its end, and a flush takes
        a prefix of it (``_take``), never the list itself, so no row can be appended to a list
        already taken. What was received and what a restart skips is counted by the flush."""
        buffer = self._buffer
        if not buffer:
            self._first = time.monotonic()
        buffer.append(values)

    def add(self, diff: int, key: Any, values: dict) -> None:
        with self._lock:  # with the count of events, which ``_take`` reads under the lock
            if not self._buffer:
                self._first = time.monotonic()
            self._buffer.append(_Event(diff, key, values))
            self._events += 1

    def from_text(self, message: str) -> dict | None:
        """The row a text message stands for; ``None`` (reported) when it is not one."""
        if list(self.dtypes) == ["data"]:
            return {"data": message}
        return self._json_row(message)

    def from_bytes(self, message: bytes) -> dict | None:
        """The row a bytes message stands for; ``None`` (reported) when it is not one."""
        if list(self.dtypes) == ["data"]:
            base = self.dtypes["data"].strip_optional()
            if base == dt.BYTES:
                return {"data": message}
            try:
                return {"data": message.decode("utf-8")}
            except UnicodeDecodeError as exc:
                self._bad_message(message, f"invalid UTF-8 ({exc.reason})")
                return None
        return self._json_row(message)

    def _json_row(self, message: str | bytes) -> dict | None:
        try:
            document = json.loads(message)
        except (ValueError, RecursionError) as exc:
            reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
            self._bad_message(message, f"invalid JSON ({reason})")
            return None
        if not isinstance(document, dict):
            self._bad_message(message, "expected a JSON object")
            return None
        return document

    def _bad_message(self, message: str | bytes, reason: str) -> None:
        """Report a message that is not a row (shown shortened)."""
        self._report(f"message {_short(message)}: {reason}")

    def _report(self, message: str) -> None:
        if not self._rebuilding:  # a replayed row's error was reported when it was delivered
            self._handle.report_error(message)  # type: ignore[union-attr]

    def close(self) -> None:
        with self._flush_lock:
            if self._closed:
                return
            self._flush_locked(commit=True)
            self._closed = True
            if self._handle is not None:
                self._handle.close()

    # --- run loop side -------------------------------------------------------------------------
    def check(self) -> None:
        if getattr(self.subject, "_source", None) not in (None, self):
            raise ConnectorError(f"{self.name}: a ConnectorSubject can feed only one table")

    def start(self, handle: SourceHandle) -> None:
        # Each run (each pw.run or pw.debug call) runs the subject again from the start, as
        # Pathway does: the rows it sends get the same ids as in the previous run.
        with self._flush_lock, self._lock:
            self._closed = False
            self._buffer, self._events = [], 0
            if not self._resumed:  # a restart keeps the state ``resume`` restored
                self._seq, self._state, self._live = 0, {}, []
            self._resumed = False
        self._handle = handle
        self.subject._source = self
        self._thread = threading.Thread(
            target=self._run, name=f"reflow-{self.name}", daemon=True
        )
        self._thread.start()

    def _run(self) -> None:
        try:
            self.subject.start()
        except Exception as exc:  # noqa: BLE001 - the run loop re-raises it
            self._handle.fail(exc)  # type: ignore[union-attr]
            return
        self.close()

    def tick(self, now: float) -> None:
        if self.autocommit is not None and self._buffer and now - self._first >= self.autocommit:
            # The run loop never waits for a flush of the subject's thread (which may itself
            # wait for the loop to take its backlog): that flush commits anyway.
            if self._flush_lock.acquire(blocking=False):
                try:
                    self._flush_locked(commit=True)
                finally:
                    self._flush_lock.release()

    def stop(self) -> None:
        try:
            self.subject.on_stop()
        finally:
            if self._thread is not None and self._thread is not threading.current_thread():
                self._thread.join(timeout=1)
            self.flush(commit=True)

    def flush(self, commit: bool) -> None:
        with self._flush_lock:
            self._flush_locked(commit)

    def _flush_locked(self, commit: bool) -> None:
        if self._closed or self._handle is None:
            return
        events, special, replayed, replayed_special, received = self._take()
        if replayed:
            self._rebuild(replayed, replayed_special)
        if events:
            for batch in self._to_batches(events, special):
                self._handle.push(batch)
        if commit:
            # The offset is a count: a restart rebuilds the rest from the subject's replay.
            self._handle.commit(offset={"received": received} if self._durable else None)

    def _take(self) -> tuple[list[dict | _Event], int, list[dict | _Event], int, int]:
        """Take what the buffer holds: the events to deliver and how many of them are not
        plain additions, the replayed events a restart skips (the first ones the subject sends
        again, as many as were delivered before) and how many of them are not plain
        additions, and the offset (rows and deletions received so far)."""
        with self._lock:
            buffer = self._buffer
            taken = len(buffer)
            events = buffer[:taken]  # ``add_row`` may append meanwhile, after these
            del buffer[:taken]
            special, self._events = self._events, 0
            self._received += taken
            replayed: list[dict | _Event] = []
            replayed_special = 0
            if self._skip and taken:
                skipped = min(self._skip, taken)
                self._skip -= skipped
                replayed, events = events[:skipped], events[skipped:]
                if special:
                    replayed_special = sum(type(e) is _Event for e in replayed)
                    special -= replayed_special
            # While the subject replays what was delivered before, the offset stays put.
            received = max(self._received, self._resumed_at)
        return events, special, replayed, replayed_special, received

    def _rebuild(self, events: list[dict | _Event], special: int) -> None:
        """Turn replayed events into batches without delivering them: the ids, keyed rows and
        live rows they leave are those of the run that delivered them."""
        rows_read = self.rows_read
        self._rebuilding = True
        try:
            self._to_batches(events, special)
        finally:
            self._rebuilding = False
            self.rows_read = rows_read

    def use_checkpoints(self, scope: str = "") -> None:
        self._durable = True

    def resume(self, offset: object) -> None:
        """On a restart the subject runs again from its beginning: the first rows and
        deletions it sends, as many as were committed before, are not delivered again but
        rebuild the source's state (row ids, keyed rows, rows kept for deletions)."""
        self._skip = self._resumed_at = offset["received"]  # type: ignore[index]
        if "live" not in offset:  # type: ignore[operator]
            return
        # A checkpoint of an earlier version holds the state itself (values as dicts in
        # older ones still): the replayed events only need to be skipped.
        self._seq = offset["seq"]  # type: ignore[index]
        names = list(self.dtypes)
        self._state = {
            key: tuple(v[n] for n in names) if isinstance(v, dict) else v
            for key, v in offset["state"].items()  # type: ignore[index]
        }
        self._live = list(offset["live"])  # type: ignore[index]
        self._resumed = True

    # --- turning events into batches -----------------------------------------------------------
    def _to_batches(self, events: list[dict | _Event], special: int) -> list[pl.DataFrame]:
        if special == 0 and not self.keyed:
            batch = self._added(events)  # type: ignore[arg-type]
            return [] if batch is None else [self._keep(batch)]
        if special == 0:
            typed = self._typed_keyed_batch(events)  # type: ignore[arg-type]
            if typed is not None:
                return [typed]
        changes = [
            (e.diff, e.key, e.values) if type(e) is _Event else (_ADD, None, e) for e in events
        ]
        if self.keyed or any(key is not None for _, key, _ in changes):
            return self._keyed_batches(changes)  # type: ignore[arg-type]
        out: list[pl.DataFrame] = []
        start = 0
        for i in range(len(changes) + 1):
            if i == len(changes) or changes[i][0] == _REMOVE:
                if i > start:
                    batch = self._added([e[2] for e in changes[start:i]])  # type: ignore[misc]
                    if batch is not None:
                        out.append(self._keep(batch))
                if i < len(changes):
                    removal = self._removal(changes[i][2])  # type: ignore[arg-type]
                    if removal is not None:
                        out.append(removal)
                start = i + 1
        return out

    def _keep(self, batch: pl.DataFrame) -> pl.DataFrame:
        """Remember added rows while deletions by value may need them."""
        if self.subject._deletions_enabled:
            self._live.append(batch)
        return batch

    def _added(self, rows: list[dict]) -> pl.DataFrame | None:
        columns = self._typed_columns(rows)
        if columns is None:
            columns = exact_columns(rows, self.dtypes)
        if columns is None:
            good = []
            for row in rows:
                try:
                    good.append(row_from_mapping(row, self.dtypes, self.defaults))
                except BadValue as exc:
                    self._report(f"row {_short(row)}: {exc}")
            if not good:
                return None
            columns = [column_series(n, [r[n] for r in good], d) for n, d in self.dtypes.items()]
        n = columns[0].len()
        ids = self._row_ids(n)
        self.rows_read += n
        if n <= _FEW_IDS:
            diffs = series_of(DIFF, [1] * n, DIFF_DTYPE)
        else:
            diffs = pl.Series(DIFF, np.ones(n, dtype=np.int64))
        return frame_of([ids, *columns, diffs])

    def _typed_columns(self, rows: list[dict]) -> list[pl.Series] | None:
        """The columns of keyless additions whose values all have exactly their column's
        Python type (see ``_typed_keyed_batch``), each built from its list of values in one
        call; ``None`` sends the rows through ``exact_columns`` and the checking path."""
        plan = self._typed_plan()
        if plan is None or not rows or len(rows) > _TYPED_ROWS:
            return None
        typed = _typed_values(rows, plan, check_range=False)
        if typed is None:
            return None
        storages = plan[2]
        try:
            return [
                series_of(name, list(values), storage)
                for name, values, storage in zip(self.dtypes, typed[1], storages, strict=True)
            ]
        except OverflowError:  # an int beyond 64 bits: reported by the checking path
            return None

    def _row_ids(self, n: int) -> pl.Series:
        """Ids of the next ``n`` keyless rows: unique and deterministic per source and
        sequence number (the high half names the source, the low half is a bijective mix of
        the row's sequence number)."""
        low = np.arange(self._seq, self._seq + n, dtype=np.uint64)
        self._seq += n
        low ^= low >> np.uint64(30)
        low *= np.uint64(0xBF58_476D_1CE4_E5B9)
        low ^= low >> np.uint64(27)
        low *= np.uint64(0x94D0_49BB_1331_11EB)
        low ^= low >> np.uint64(31)
        if n <= _FEW_IDS:  # the same ids as ``ids_from_halves``, without its arrays
            high = int(self._id_high) << 64
            return series_of(ID, [high | value for value in low.tolist()], ID_DTYPE)
        return ids_from_halves(np.full(n, self._id_high, dtype=np.uint64), low)

    def _removal(self, values: dict) -> pl.DataFrame | None:
        try:
            row = row_from_mapping(values, self.dtypes, self.defaults)
        except BadValue as exc:
            self._report(f"delete {_short(values)}: {exc}")
            return None
        live = concat_batches(self._live)
        if live is not None:
            mask = pl.Series([True] * live.height)
            for name in self.dtypes:
                column = live[name]
                if column.dtype == pl.Object:
                    mask &= pl.Series([v == row[name] for v in column.to_list()])
                else:
                    mask &= column.eq_missing(pl.Series([row[name]], dtype=column.dtype))
            hits = live.filter(mask)
        else:
            hits = None
        if hits is None or hits.height == 0:
            reason = "no such row is present"
            if not self.subject._deletions_enabled:
                reason += (" (rows added without a key are kept for deletions only when the "
                           "subject's _deletions_enabled is True; its code was not seen to "
                           "delete: override _deletions_enabled)")
            self._report(f"delete {_short(values)}: {reason}")
            return None
        victim = hits[:1]
        self._live = [live.filter(live[ID] != victim[ID][0])]  # type: ignore[union-attr,index]
        return victim.with_columns(pl.lit(-1, dtype=DIFF_DTYPE).alias(DIFF))

    def _typed_keyed_batch(self, rows: list[dict]) -> pl.DataFrame | None:
        """The batch of keyed additions whose values all have exactly their column's Python
        type (int, float, str, bool; ints within 64 bits) and whose keys are not repeated
        within the commit: a new key's row is inserted, a present key's row replaced (its old
        row retracted just before, as ``_keyed_batches`` does). Built column by column, with
        the ids hashed in one call; ``None`` sends the rows through ``_keyed_batches``,
        which also handles deletions and repeated keys and reports bad values."""
        plan = self._typed_plan()
        if plan is None:
            return None
        _, _, storages, key_positions = plan
        typed = _typed_values(rows, plan)
        if typed is None:
            return None
        tuples, columns = typed
        names = list(self.dtypes)
        series: list[pl.Series | None] = [None] * len(names)
        for position in key_positions:
            series[position] = series_of(
                names[position], list(columns[position]), storages[position]
            )
        keys = [cast("pl.Series", series[position]) for position in key_positions]
        ids: pl.Series | None = None
        if len(tuples) <= _FEW_IDS:  # ids as Python ints, their column built once
            id_list = hash_typed_ids(keys)
        else:
            ids = hash_typed_columns(keys)
            id_list = ids.to_list()
        n = len(id_list)
        if len(set(id_list)) != n:
            return None
        state = self._state
        olds = list(map(state.get, id_list))
        state.update(zip(id_list, tuples))
        self.rows_read += n
        if olds.count(None) == n:  # every key new: the columns as they came
            for position, values in enumerate(columns):
                if series[position] is None:
                    series[position] = series_of(names[position], list(values), storages[position])
            diffs = series_of(DIFF, [1] * n, pl.Int64)
            id_column = series_of(ID, id_list, ID_DTYPE) if ids is None else ids.alias(ID)
            return frame_of([id_column, *cast("list[pl.Series]", series), diffs])
        out: list[tuple] = []
        for row_id, old, new in zip(id_list, olds, tuples, strict=True):
            if old is not None:
                out.append((row_id, *old, -1))
            out.append((row_id, *new, 1))
        schema = self._batch_schema
        try:  # column by column: a fraction of the row constructor's cost
            return frame_of([
                series_of(name, list(values), dtype)
                for name, values, dtype in zip(schema, zip(*out), schema.values(), strict=True)
            ])
        except (TypeError, OverflowError, pl.exceptions.PolarsError):
            return frame_from_rows(out, schema)  # a kept row of another type: converted

    def _typed_plan(self) -> _TypedPlan | None:
        """For ``_typed_keyed_batch``: the values of a row as a tuple, each column's Python
        type and storage, and the positions of the key columns; ``None`` when a column is
        not a plain int, float, str or bool (cached)."""
        if self._plan is not _UNPLANNED:
            return self._plan  # type: ignore[return-value]
        names = list(self.dtypes)
        found = [_EXACT_KINDS.get(self.dtypes[name]) for name in names]
        kinds = [kind for kind in found if kind is not None]
        plan: _TypedPlan | None = None
        if len(kinds) == len(names):
            keys = self.primary_key or names
            getter: Callable[[dict], tuple]
            if len(names) == 1:
                only = names[0]
                getter = lambda row: (row[only],)  # noqa: E731 - itemgetter of one name: no tuple
            else:
                getter = cast("Callable[[dict], tuple]", operator.itemgetter(*names))
            storages = [self.dtypes[name].polars() for name in names]
            plan = (getter, kinds, storages, [names.index(k) for k in keys])
        self._plan = plan
        return plan

    @functools.cached_property
    def _batch_schema(self) -> pl.Schema:
        """The schema of this source's batches."""
        columns: dict[str, Any] = {ID: ID_DTYPE}
        columns.update((n, d.polars()) for n, d in self.dtypes.items())
        columns[DIFF] = DIFF_DTYPE
        return pl.Schema(columns)

    def _keyed_batches(self, events: list[tuple[int, Any, dict]]) -> list[pl.DataFrame]:
        # First the typed rows and what each row's id is hashed from (in one call for all).
        prepared: list[tuple[int, dict, dict | None, int]] = []
        to_hash: list[tuple[int, list]] = []
        names = self.primary_key or list(self.dtypes)
        for diff, key, values in events:
            try:
                if diff == _REMOVE and self.primary_key and key is None:
                    row = None
                    hashed = [values[k] for k in self.primary_key]
                else:
                    row = row_from_mapping(values, self.dtypes, self.defaults)
                    if key is not None:
                        prepared.append((diff, values, row, int(key)))
                        continue
                    hashed = [row[k] for k in names]
            except (BadValue, KeyError) as exc:
                self._report(f"row {_short(values)}: {exc}")
                continue
            to_hash.append((len(prepared), hashed))
            prepared.append((diff, values, row, 0))
        hashed_ids = hash_value_rows([key_values for _, key_values in to_hash])
        for (position, _), row_id in zip(to_hash, hashed_ids, strict=True):
            diff, values, row, _ = prepared[position]
            prepared[position] = (diff, values, row, row_id)
        ids: list[int] = []
        rows: list[tuple] = []
        diffs: list[int] = []
        names = list(self.dtypes)
        for diff, values, row, row_id in prepared:
            old = self._state.get(row_id)
            if diff == _ADD:
                if old is not None:
                    ids.append(row_id)
                    rows.append(old)
                    diffs.append(-1)
                new = tuple([row[n] for n in names])  # type: ignore[index]
                self._state[row_id] = new
                ids.append(row_id)
                rows.append(new)
                diffs.append(1)
                self.rows_read += 1
            elif old is None:
                self._report(f"delete {_short(values)}: no row with this key is present")
            else:
                del self._state[row_id]
                ids.append(row_id)
                rows.append(old)
                diffs.append(-1)
        if not ids:
            return []
        columns = [
            column_series(n, [r[i] for r in rows], d)
            for i, (n, d) in enumerate(self.dtypes.items())
        ]
        return [
            pl.DataFrame(
                [
                    pl.Series(ID, ids, dtype=ID_DTYPE),
                    *columns,
                    pl.Series(DIFF, diffs, dtype=DIFF_DTYPE),
                ]
            )
        ]


def read(
    subject: ConnectorSubject,
    *,
    schema: type[Schema] | None = None,
    format: str | None = None,
    autocommit_duration_ms: int | None = 1500,
    name: str | None = None,
    max_backlog_size: int | None = None,
    **kwargs: Any,
) -> Table:
    """A table fed by ``subject`` while the pipeline runs.

    Rows sent within ``autocommit_duration_ms`` of each other (unless ``commit`` is called)
    enter the pipeline at one logical time. Rows that do not fit the schema are skipped and
    reported in ``pw.global_error_log()``. When the pipeline falls behind by more than
    ``max_backlog_size`` rows (default 1,000,000), the subject's ``next`` waits.
    """
    where = user_frame()
    if schema is None and format in ("raw", "binary"):
        dtypes: dict[str, dt.DType] = {"data": dt.BYTES if format == "binary" else dt.STR}
        defaults: dict[str, Any] = {}
        primary_key = None
    else:
        dtypes = schema_dtypes(schema, "pw.io.python.read")
        defaults = schema.default_values()  # type: ignore[union-attr]
        primary_key = schema.primary_key_columns()  # type: ignore[union-attr]
    label = name or f"python {type(subject).__name__}"
    source = PythonSource(subject, dtypes, defaults, primary_key, autocommit_duration_ms, label)
    source.max_backlog_rows = max_backlog_size  # type: ignore[attr-defined]
    return input_table(dtypes, source, where)


class ConnectorObserver(ABC):
    """Receives the changes of a table written with ``pw.io.python.write``."""

    @abstractmethod
    def on_change(self, key: Pointer, row: dict[str, Any], time: int, is_addition: bool) -> None:
        """One row was added (``is_addition``) or removed at logical ``time``."""

    def on_time_end(self, time: int) -> None:  # noqa: B027 - optional hook
        """Every change of logical ``time`` has been delivered."""

    def on_end(self) -> None:  # noqa: B027 - optional hook
        """The run ended; no more changes will come."""


def write(
    table: Table, observer: ConnectorObserver, *, name: str | None = None, sort_by: Any = None
) -> None:
    """Hand every change of ``table`` to ``observer`` (removals of a time before additions).

    >>> import reflow as pw
    >>> class Printer(pw.io.python.ConnectorObserver):
    ...     def on_change(self, key, row, time, is_addition):
    ...         print(row, is_addition)
    ...     def on_end(self):
    ...         print("done")
    >>> t = pw.debug.table_from_markdown('''
    ... x
    ... 7
    ... ''')
    >>> pw.io.python.write(t, Printer())
    >>> pw.run()
    {'x': 7} True
    done
    """
    columns = table._node.columns

    def on_time(time: int, delta: pl.DataFrame) -> None:
        changes = sorted(rows_of(columns, delta), key=lambda change: change[2] > 0)
        for key, row, diff in changes:
            for _ in range(abs(diff)):
                observer.on_change(key=key, row=row, time=time, is_addition=diff > 0)

    add_sink(
        table,
        name or f"python {type(observer).__name__}",
        on_time,
        on_time_end=observer.on_time_end,
        on_end=observer.on_end,
    )


__all__ = ["ConnectorObserver", "ConnectorSubject", "read", "write"]
