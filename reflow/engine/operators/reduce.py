"""The incremental group-and-reduce operator.

A reduce made only of invertible reducers (count, sum, avg over numbers) keeps running sums
per group and nothing else (``invertible.py``): every batch, whatever its size, is
pre-aggregated per group and applied once per distinct group it touches. The rest of this
module is the general path, for any other combination of reducers.

State of the general path, per group (identified by its 128-bit output id, the *gid*):

- the multiset of the group's live input rows (row id -> values, error flags, arrival time,
  sort key, multiplicity),
- invertible accumulators (count, sum, avg), error counts and stateful reducer states,
- for reducers that pick one row (min, max, argmin, argmax, any, earliest, latest), the
  winning row, found again by scanning the group only when that row is deleted,
- the output row last emitted for the group.

It lives in two tiers (see ``group_store.py``): a columnar tier written by large batches in
one vectorized pass (Polars ``group_by``) and a Python tier holding the groups touched by small
batches, which are moved ("materialized") from the columnar tier on first touch. The Python
tier wins when a group is in both.

A small batch without retractions takes a shortcut (``_insert_only``): each group's new rows
are stored in one step and the batch winner of every picking reducer is found once per group,
then compared with the group's stored winner, instead of both being done row by row.

For each batch the operator finds the affected groups, updates their state, recomputes only
their aggregates and emits ``-old``/``+new`` for the groups whose output changed; a group whose
last row is retracted disappears. The cost of a batch is proportional to the batch, plus the
size of a touched group when the group must be scanned: on its first touch after a large batch
(moving it to the Python tier), when its winning row is deleted, and on every change for the
reducers recomputed from all rows (tuple, sorted_tuple, ndarray, unique,
udf_reducer without ``retract``). It never depends on the number of other groups.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from itertools import repeat
from operator import itemgetter
from typing import Any, cast

import numpy as np
import polars as pl

from reflow.engine.batch import DIFF, ID, ID_DTYPE, consolidate, frame_from_rows
from reflow.engine.ids import hash_columns
from reflow.engine.operator import Operator, RunContext
from reflow.engine.state.aggregates import (
    KIND_ACC,
    KIND_ROWS,
    KIND_STATEFUL,
    Aggregate,
    AggregateError,
    AnyValue,
    Max,
    Min,
)
from reflow.engine.state.group_store import ColumnarGroups, out_column, slot_expr
from reflow.engine.state.invertible import InvertibleGroups, supports
from reflow.engine.state.partition import Broadcast, owners, single_partition
from reflow.engine.state.snapshot import Snapshottable

# Batches of at least BULK_MIN_ROWS rows and at least 1/BULK_STATE_RATIO of the rows held take
# the vectorized path (which rewrites the columnar state, so it must not run for small changes
# to a large state).
BULK_MIN_ROWS = 4096
BULK_STATE_RATIO = 4
# Whether small batches without retractions take ``_insert_only`` (off: every batch goes row
# by row, the reference the insert-only path is tested against).
INSERT_ONLY_PATH = True


@dataclass
class AggregateSpec:
    """One reducer of a reduce: its implementation, input columns and output column."""

    aggregate: Aggregate
    args: list[str]
    error_columns: list[str]
    output: str
    output_error: str | None
    dtype: pl.DataType


@dataclass(frozen=True)
class KeySpec:
    """A grouping column: input column, its error companion (if any), output column."""

    column: str
    error_column: str | None
    output: str
    dtype: pl.DataType


_FAILED = object()
_LOW_BITS = (1 << 64) - 1
_GID_CACHE_LIMIT = 4_000_000
_CACHEABLE_KEYS = (
    pl.Int64(), pl.Int32(), pl.UInt64(), pl.UInt32(), pl.String(), pl.Boolean(), pl.UInt128(),
)


class _Group:
    """The Python-tier state of one group."""

    __slots__ = ("accs", "best", "errs", "keys", "n", "output", "rows", "states")

    def __init__(self, keys: tuple, specs: Sequence[AggregateSpec]) -> None:
        self.keys = keys
        # row id -> (values, error flags, arrival time, sort key, multiplicity): tuples of plain
        # values, which the garbage collector stops tracking (lists would be rescanned by every
        # full collection, a cost that grows with the state).
        self.rows: dict[int, tuple] = {}
        self.n = 0
        self.errs = [0] * len(specs)
        # Per aggregate kind: an accumulator (KIND_ACC), a state (KIND_STATEFUL) or None.
        self.accs: list[Any] = [s.aggregate.acc_new() if s.aggregate.kind == KIND_ACC else None
                     for s in specs]
        self.states: list[Any] = [
            s.aggregate.state_new() if s.aggregate.kind == KIND_STATEFUL else None for s in specs
        ]
        # For aggregates picking one row: [key, row id, result] of the winning row, or None
        # when it must be found again by scanning the group.
        self.best: list[list | None] = [None] * len(specs)
        self.output: tuple | None = None


class ReduceOperator(Operator):
    """Groups rows by key and maintains one output row per non-empty group.

    ``keys`` give the grouping columns (also copied to the output); the group id is the hash of
    their values, or the value of ``id_column`` when given, or ``global_id`` when there are no
    keys. Rows whose key holds an error value are left out. ``project``, if given, computes the
    key and argument columns from the input batch first (a row-wise kernel; its output need not
    be consolidated, since an update that changes nothing here leaves the groups unchanged).
    """

    state_fields = ("overlay", "gid_cache", "columnar", "invertible")

    emits_consolidated = True

    stateful = True

    def __init__(
        self,
        source: Operator,
        name: str,
        *,
        keys: Sequence[KeySpec],
        aggregates: Sequence[AggregateSpec],
        id_column: str | None = None,
        global_id: int | None = None,
        sort_column: str | None = None,
        project: Callable[[pl.DataFrame, RunContext], pl.DataFrame] | None = None,
    ) -> None:
        super().__init__([source], name)
        self.project = project
        self.keys = list(keys)
        self.specs = list(aggregates)
        self.id_column = id_column
        self.global_id = global_id
        self.sort_column = sort_column
        flat: list[str] = []
        for spec in self.specs:
            for column in spec.args:
                if column not in flat:
                    flat.append(column)
        self.flat = flat
        self.positions = [tuple(flat.index(c) for c in spec.args) for spec in self.specs]
        # Per reducer: 1 for max, -1 for min (of one argument), else 0.
        self.extremes = [
            1 if type(s.aggregate) is Max else -1 if type(s.aggregate) is Min else 0
            for s in self.specs
        ]
        self.uses_time = any(getattr(s.aggregate, "uses_time", False) for s in self.specs)
        self.has_rows_kind = any(s.aggregate.kind == KIND_ROWS for s in self.specs)
        self.ordered = any(getattr(s.aggregate, "ordered", False) for s in self.specs)
        self.has_stateful = any(s.aggregate.kind == KIND_STATEFUL for s in self.specs)
        # Insert-only batches of reduces without stateful reducers take ``_insert_only``;
        # the values ordered to pick winners are checked for NaN there.
        self.insert_capable = not self.has_stateful
        self.winner_columns = sorted({
            s.args[0] for s in self.specs
            if s.aggregate.key is not None and s.args and not s.aggregate.uses_time
        })
        self.bulk_capable = not self.has_stateful and all(
            s.aggregate.polars([f"v{i}" for i in range(len(s.args))]) is not None
            for s in self.specs
        )
        self.out_columns: list[tuple[str, pl.DataType]] = [(k.output, k.dtype) for k in keys]
        for spec in self.specs:
            self.out_columns.append((spec.output, spec.dtype))
            if spec.output_error is not None:
                self.out_columns.append((spec.output_error, pl.Boolean()))
        self.row_schema = (
            None if any(dtype == pl.Object for _, dtype in self.out_columns)
            else pl.Schema({ID: ID_DTYPE(), **dict(self.out_columns), DIFF: pl.Int64()})
        )
        self.overlay: dict[int, _Group] = {}
        # key values -> group id, for key types whose Python equality matches their hashing
        # (floats are left out: 0.0 == -0.0 but they hash apart).
        self.cache_keys = (
            bool(self.keys) and id_column is None
            and all(k.dtype in _CACHEABLE_KEYS for k in self.keys)
        )
        self.gid_cache: dict[Any, int] = {}  # keyed by the value when there is one key
        self.columnar: ColumnarGroups | None = None
        # Reduces made of count/sum/avg only keep running sums per group, for every batch size.
        self.invertible: InvertibleGroups | None = None
        if supports([s.aggregate for s in self.specs], [s.dtype for s in self.specs]) and all(
            k.dtype != pl.Object for k in self.keys
        ):
            self.invertible = InvertibleGroups(
                [(k.column, k.error_column, k.output, k.dtype) for k in self.keys],
                [(s.aggregate, s.args, s.error_columns, s.output, s.output_error, s.dtype)
                 for s in self.specs],
                id_column=id_column, global_id=global_id, cache_keys=self.cache_keys,
            )

    def new_state(self, field: str) -> Snapshottable:
        if field != "columnar":
            return super().new_state(field)
        return self._new_columnar()

    def _new_columnar(self) -> ColumnarGroups:
        return ColumnarGroups(
            [_key_column(i) for i in range(len(self.keys))], self.out_columns,
            self._aggregations(),
        )

    # --- another number of shards -----------------------------------------------------------
    def split_state(self, workers: int) -> list[object]:
        """The groups cut by owner (the group id routes a group, as ``partition_key``), each
        tier apart: the Python tier's groups move whole, the columnar tier's rows and records
        as filtered frames, the running sums by slot."""

        def owner(gids: pl.Series) -> np.ndarray:
            if self.keys or self.id_column is not None:
                return owners(gids, workers)
            return np.zeros(gids.len(), dtype=np.int64)  # one group, in partition 0

        gids = list(self.overlay)
        owner_of = owner(pl.Series(gids, dtype=ID_DTYPE)).tolist()
        overlays: list[dict[int, _Group]] = [{} for _ in range(workers)]
        for gid, worker in zip(gids, owner_of, strict=True):
            overlays[worker][gid] = self.overlay[gid]
        columnar = None if self.columnar is None else self.columnar.split(owner, workers)
        sums = self.invertible.split(workers) if self.invertible is not None else None
        return [{"overlay": overlays[w],
                 "columnar": None if columnar is None else columnar[w],
                 "invertible": None if sums is None else sums[w]}
                for w in range(workers)]

    def merge_state(self, pieces: list[object]) -> None:
        parts = cast("list[dict[str, Any]]", pieces)
        self.overlay = {gid: group for part in parts for gid, group in part["overlay"].items()}
        columnar = [part["columnar"] for part in parts if part["columnar"] is not None]
        self.columnar = None
        if columnar:
            self.columnar = self._new_columnar()
            self.columnar.merge(columnar)
        self.gid_cache = {}  # a cache: filled again on use
        if self.invertible is not None:
            self.invertible.merge([part["invertible"] for part in parts])

    # --- entry point ------------------------------------------------------------------------
    def partition_key(
        self, input_index: int, delta: pl.DataFrame, ctx: RunContext
    ) -> pl.Series | Broadcast:
        """The group id of each row: a group lives in one shard."""
        frame = self.project(delta, ctx) if self.project is not None else delta
        if self.id_column is not None:
            return frame[self.id_column]
        if not self.keys:
            return single_partition(frame)
        return hash_columns(frame, [k.column for k in self.keys])

    @property
    def combines(self) -> bool:
        """Reduces kept as integer running sums (count, int sum) combine on each worker."""
        return self.invertible is not None and self.invertible.combinable

    def combine(self, delta: pl.DataFrame, ctx: RunContext) -> pl.DataFrame | None:
        """The running sums of ``delta`` per group, keyed by group id."""
        assert self.invertible is not None
        frame = self.project(delta, ctx) if self.project is not None else delta
        return self.invertible.partials(frame)

    def process_combined(
        self, time: int, parts: list[pl.DataFrame | None], ctx: RunContext
    ) -> pl.DataFrame | None:
        assert self.invertible is not None
        return self.invertible.process_partials(
            parts, lambda message: ctx.report_error(self.name, message)
        )

    def process(
        self, time: int, deltas: list[pl.DataFrame | None], ctx: RunContext
    ) -> pl.DataFrame | None:
        (delta,) = deltas
        if delta is None or delta.height == 0:
            return None
        if self.project is not None:
            delta = self.project(delta, ctx)
        if self.invertible is not None:
            return self.invertible.process(
                delta, lambda message: ctx.report_error(self.name, message)
            )
        delta = _net_changes(delta)
        if delta is None:
            return None
        if self._use_bulk(delta):
            return self._process_bulk(delta, time, ctx)
        return self._process_small(delta, time, ctx)

    def _use_bulk(self, delta: pl.DataFrame) -> bool:
        if delta.height < BULK_MIN_ROWS or not self.bulk_capable:
            return False
        schema = delta.schema
        columns = [k.column for k in self.keys] + self.flat
        if self.sort_column is not None:
            columns.append(self.sort_column)
        if any(schema[c] == pl.Object for c in columns):
            return False
        state_rows = self.columnar.row_count() if self.columnar is not None else 0
        return delta.height * BULK_STATE_RATIO >= state_rows

    # --- group ids ------------------------------------------------------------------------------
    def _gids(self, frame: pl.DataFrame) -> pl.Series:
        if self.id_column is not None:
            return frame[self.id_column].cast(ID_DTYPE)
        if not self.keys:
            return pl.repeat(self.global_id, frame.height, dtype=ID_DTYPE, eager=True)
        return hash_columns(frame, [k.column for k in self.keys], "")

    # --- small batches: the Python tier -------------------------------------------------------
    def _small_gids(self, delta: pl.DataFrame, key_values: list[list]) -> list[int]:
        """Group ids of a small batch: from the cache of key -> id where possible, since one
        hashing call costs more than the rest of a one-row update."""
        if not self.cache_keys:
            return self._gids(delta).to_list()
        cache = self.gid_cache
        keys = key_values[0] if len(key_values) == 1 else list(zip(*key_values, strict=True))
        gids = [cache.get(key) for key in keys]
        if None in gids:
            missing = [i for i, gid in enumerate(gids) if gid is None]
            hashed = hash_columns(delta[missing], [k.column for k in self.keys], "").to_list()
            if len(cache) > _GID_CACHE_LIMIT:
                cache.clear()
            for i, gid in zip(missing, hashed, strict=True):
                gids[i] = gid
                cache[keys[i]] = gid
        return cast("list[int]", gids)  # every None was filled in

    def _remember_gids(self, records: pl.DataFrame) -> None:
        if not self.cache_keys or records.height == 0:
            return
        if len(self.gid_cache) + records.height > _GID_CACHE_LIMIT:
            self.gid_cache.clear()
            if records.height > _GID_CACHE_LIMIT:
                return
        columns = [records[k.output].to_list() for k in self.keys]
        keys = columns[0] if len(columns) == 1 else zip(*columns, strict=True)
        self.gid_cache.update(zip(keys, records[ID].to_list(), strict=True))

    def _process_small(
        self, delta: pl.DataFrame, time: int, ctx: RunContext
    ) -> pl.DataFrame | None:
        ids = delta[ID].to_list()
        diffs = delta[DIFF].to_list()
        key_values = [delta[k.column].to_list() for k in self.keys]
        gids = self._small_gids(delta, key_values)
        key_errors = [delta[k.error_column].to_list() for k in self.keys if k.error_column]
        values = [delta[c].to_list() for c in self.flat]
        errors = [[delta[c].to_list() for c in spec.error_columns] for spec in self.specs]
        sort_values = delta[self.sort_column].to_list() if self.sort_column else None
        can_fail = any(errors)
        no_flags = (False,) * len(self.specs)
        value_rows = list(zip(*values)) if values else [()] * delta.height
        retracts = any(d < 0 for d in diffs)
        if not retracts and self._insert_only_applies(delta, errors):
            return self._insert_only(
                delta, time, ctx, ids, diffs, gids, key_values, key_errors, value_rows,
                sort_values,
            )
        by_group: dict[int, list[int]] = {}
        for i in range(delta.height):
            if gids[i] is None or any(err[i] for err in key_errors):
                continue
            by_group.setdefault(gids[i], []).append(i)
        out: list[tuple[int, tuple, int]] = []
        for gid, rows in by_group.items():
            group = self._group(gid, tuple(col[rows[0]] for col in key_values))
            # Retractions first, so that an update (-old, +new) of one row id is applied in
            # order whatever the order of the batch.
            if retracts:
                rows.sort(key=lambda i: diffs[i] > 0)
            changes: list[list] = [[] for _ in self.specs] if self.has_stateful else []
            for i in rows:
                flags = (
                    tuple(any(col[i] for col in errs) for errs in errors) if can_fail
                    else no_flags
                )
                self._apply(
                    group, ids[i], value_rows[i], flags, time,
                    sort_values[i] if sort_values is not None else None, diffs[i], changes,
                )
            _revise_output(out, gid, group, self._output(group, changes, ctx))
            if group.n == 0 and not group.rows and not self.has_stateful:
                del self.overlay[gid]
        return self._batch(out)

    def _insert_only_applies(self, delta: pl.DataFrame, errors: list[list[list]]) -> bool:
        """Whether a batch without retractions can take ``_insert_only``: no argument holds an
        error, and the values ordered to pick winners are neither objects nor NaN (NaN makes
        the order of comparisons matter)."""
        if not (INSERT_ONLY_PATH and self.insert_capable):
            return False
        if any(any(col) for errs in errors for col in errs):
            return False
        for column in self.winner_columns:
            dtype = delta.schema[column]
            if dtype == pl.Object:
                return False
            if dtype.is_float() and delta[column].is_nan().any():
                return False
        return True

    def _insert_only(
        self, delta: pl.DataFrame, time: int, ctx: RunContext, ids: list, diffs: list,
        gids: list, key_values: list[list], key_errors: list[list], value_rows: list[tuple],
        sort_values: list | None,
    ) -> pl.DataFrame | None:
        """A batch of insertions: each group's rows are stored in one step and the batch
        winner of every picking reducer is found by one ``min``/``max`` over the group's rows
        (in C), then compared with the group's stored winner once per group instead of once per
        row. A group that already holds one of the batch's row ids (a multiplicity change)
        takes the per-row path."""
        by_group: dict[int, list[int]] = {}
        if key_errors or None in gids:
            for i, gid in enumerate(gids):
                if gid is not None and not any(err[i] for err in key_errors):
                    by_group.setdefault(gid, []).append(i)
        else:
            for i, gid in enumerate(gids):
                by_group.setdefault(gid, []).append(i)
        unit = sum(diffs) == len(diffs)  # every row inserted once
        no_flags = (False,) * len(self.specs)
        sorts = sort_values if sort_values is not None else repeat(None)
        entries = list(zip(value_rows, repeat(no_flags), repeat(time), sorts, diffs))
        pickers = self._batch_pickers(delta, ids, time, sort_values)
        acc_specs = [j for j, s in enumerate(self.specs) if s.aggregate.kind == KIND_ACC]
        out: list[tuple[int, tuple, int]] = []
        for gid, rows in by_group.items():
            group = self._group(gid, tuple(col[rows[0]] for col in key_values))
            stored = group.rows
            if len(rows) == 1:
                row_ids: tuple = (ids[rows[0]],)
                new_entries: tuple = (entries[rows[0]],)
            else:
                take = itemgetter(*rows)
                row_ids, new_entries = take(ids), take(entries)
            if not stored.keys().isdisjoint(row_ids):
                for i in rows:
                    self._apply(group, ids[i], value_rows[i], no_flags, time,
                                sort_values[i] if sort_values is not None else None,
                                diffs[i], [])
            else:
                first = not stored
                stored.update(zip(row_ids, new_entries))
                group.n += len(rows) if unit else sum(diffs[i] for i in rows)
                for j in acc_specs:
                    aggregate, pos = self.specs[j].aggregate, self.positions[j]
                    acc = group.accs[j]
                    for i in rows:
                        aggregate.acc_add(acc, tuple(value_rows[i][p] for p in pos), diffs[i])
                for j, pick, column in pickers:
                    best = group.best[j]
                    if best is None and not first:
                        continue  # found again by scanning the group when asked
                    w = pick(rows)
                    if best is not None and column is not None:
                        # max/min without None: values compare as their keys do
                        value, held = column[w], best[2]
                        if held is not None and not (
                            held < value if self.extremes[j] > 0 else value < held
                        ):
                            continue
                    aggregate = self.specs[j].aggregate
                    candidate = (ids[w], tuple(value_rows[w][p] for p in self.positions[j]),
                                 time, sort_values[w] if sort_values is not None else None)
                    key = cast(Callable, aggregate.key)(candidate)
                    if best is None or key < best[0]:
                        group.best[j] = [key, ids[w], aggregate.pick(candidate)]
            _revise_output(out, gid, group, self._output(group, [], ctx))
        return self._batch(out)

    def _batch_pickers(
        self, delta: pl.DataFrame, ids: list, time: int, sort_values: list | None
    ) -> list[tuple[int, Callable[[list[int]], int], list | None]]:
        """Per picking reducer: its position, a function giving the index of the winning row
        among a group's batch rows (the smallest ``aggregate.key``; among equal max/min values
        the first row wins, as row by row) and, for max/min over values without None, the
        values."""
        pickers: list[tuple[int, Callable[[list[int]], int], list | None]] = []
        columns: dict[str, list] = {}
        for j, spec in enumerate(self.specs):
            aggregate = spec.aggregate
            if aggregate.key is None:
                continue
            kind = type(aggregate)
            if kind is AnyValue:
                pickers.append((j, partial(min, key=ids.__getitem__), None))
                continue
            name = spec.args[0]
            column = columns.get(name)
            if column is None:
                column = columns[name] = delta[name].to_list()
            if kind in (Max, Min) and None not in column:
                pick = partial(max if kind is Max else min, key=column.__getitem__)
                pickers.append((j, pick, column))
                continue
            sorts = sort_values
            positions = self.positions[j]
            values = [delta[spec.args[p]].to_list() for p in range(len(positions))]
            key = cast(Callable, aggregate.key)

            def row_key(i: int, key: Callable = key, values: list = values,
                        sorts: list | None = sorts) -> Any:
                return key((ids[i], tuple(v[i] for v in values), time,
                            sorts[i] if sorts is not None else None))

            pickers.append((j, partial(min, key=row_key), None))
        return pickers

    def _group(self, gid: int, keys: tuple) -> _Group:
        group = self.overlay.get(gid)
        if group is not None:
            return group
        group = _Group(keys, self.specs)
        if self.columnar is not None:
            stored = self.columnar.take(gid)
            if stored is not None:
                output, rows = stored
                assert output is not None  # a group with stored rows has its output record
                group.keys = output[: len(self.keys)]
                group.output = output
                for row_id, vals, flags, time, sort, mult in rows:
                    self._apply(group, row_id, vals, flags, time, sort, mult, [])
        self.overlay[gid] = group
        return group

    def _apply(self, group: _Group, row_id: int, vals: tuple, flags: tuple, time: int,
               sort: Any, diff: int, changes: list[list]) -> None:
        row = group.rows.get(row_id)
        # The first live row of an empty group is its winner for every picking reducer
        # (no scan of the group needed when its output is computed).
        first = diff > 0 and not group.rows
        if row is None:
            group.rows[row_id] = (vals, flags, time, sort, diff)
            live_after = diff > 0
        else:
            if diff < 0:
                vals, flags = row[0], row[1]
            mult = row[4] + diff
            live_after = mult > 0
            if mult == 0:
                del group.rows[row_id]
            else:
                group.rows[row_id] = (row[0], row[1], row[2], row[3], mult)
        group.n += diff
        for j, spec in enumerate(self.specs):
            if flags[j]:
                group.errs[j] += diff
                continue
            kind = spec.aggregate.kind
            if kind == KIND_ACC:
                spec.aggregate.acc_add(
                    group.accs[j], tuple(vals[p] for p in self.positions[j]), diff
                )
            elif kind == KIND_STATEFUL and changes:
                changes[j].append((tuple(vals[p] for p in self.positions[j]), diff))
            else:
                best = group.best[j]
                if best is None:
                    if first and spec.aggregate.key is not None:
                        aggregate = spec.aggregate
                        candidate = (row_id, tuple(vals[p] for p in self.positions[j]), time,
                                     sort)
                        group.best[j] = [cast(Callable, aggregate.key)(candidate), row_id,
                                         aggregate.pick(candidate)]
                    continue
                if diff < 0:
                    if row_id == best[1]:
                        group.best[j] = None  # the winner left: rescan when asked
                elif live_after:
                    aggregate = spec.aggregate
                    extreme = self.extremes[j]
                    if extreme:
                        # max/min of one value: two values compare as their keys do, so the
                        # key is built only for a new winner (None goes the general way)
                        value, held = vals[self.positions[j][0]], best[2]
                        if value is not None and held is not None and not (
                            held < value if extreme > 0 else value < held
                        ):
                            continue
                    candidate = (row_id, tuple(vals[p] for p in self.positions[j]), time, sort)
                    key = cast(Callable, aggregate.key)(candidate)  # a winner implies a key
                    if key < best[0]:
                        group.best[j] = [key, row_id, aggregate.pick(candidate)]

    def _output(self, group: _Group, changes: list[list], ctx: RunContext) -> tuple | None:
        for j, spec in enumerate(self.specs):
            if changes and changes[j] and group.states[j] is not _FAILED:
                try:
                    group.states[j] = spec.aggregate.state_apply(group.states[j], changes[j])
                except Exception as exc:  # noqa: BLE001 - user code: the cell becomes an error
                    group.states[j] = _FAILED
                    ctx.report_error(self.name, _message(spec, exc), exception=exc)
        if group.n <= 0:
            return None
        result: list[Any] = list(group.keys)
        live = None
        projected: dict[tuple, list] = {}
        for j, spec in enumerate(self.specs):
            aggregate = spec.aggregate
            value, failed = None, group.errs[j] > 0
            if not failed:
                try:
                    if aggregate.kind == KIND_ACC:
                        value = aggregate.acc_result(group.accs[j])
                    elif aggregate.kind == KIND_STATEFUL:
                        if group.states[j] is _FAILED:
                            failed = True
                        else:
                            value = aggregate.state_result(group.states[j])
                    else:
                        best = group.best[j] if aggregate.key is not None else None
                        if best is not None:
                            value = best[2]
                        else:
                            if live is None:
                                live = self._live_rows(group)
                            pos = self.positions[j]
                            rows = projected.get(pos)
                            if rows is None:
                                rows = projected[pos] = _project(live, pos, len(self.flat))
                            if aggregate.key is None:
                                value = aggregate.compute(rows)
                            else:
                                winner = min(rows, key=aggregate.key)
                                value = aggregate.pick(winner)
                                group.best[j] = [aggregate.key(winner), winner[0], value]
                except Exception as exc:  # noqa: BLE001 - user code: the cell becomes an error
                    failed, value = True, None
                    ctx.report_error(self.name, _message(spec, exc), exception=exc)
            result.append(value)
            if spec.output_error is not None:
                result.append(failed)
        return tuple(result)

    def _live_rows(self, group: _Group) -> list[tuple]:
        live = []
        for row_id, (vals, _, time, sort, mult) in group.rows.items():
            for _ in range(mult):
                live.append((row_id, vals, time, sort))
        if self.ordered:
            live.sort(key=lambda r: (r[3] is not None, r[3], r[0]))
        return live

    def _batch(self, out: list[tuple[int, tuple, int]]) -> pl.DataFrame | None:
        if not out:
            return None
        if self.row_schema is not None:
            # One constructor call for the whole batch: several times cheaper than building
            # one Series per column, which matters for one-row updates.
            return frame_from_rows(
                [(gid, *row, diff) for gid, row, diff in out], self.row_schema
            )
        series = [pl.Series(ID, [gid for gid, _, _ in out], dtype=ID_DTYPE)]
        for position, (name, dtype) in enumerate(self.out_columns):
            cells = [row[position] for _, row, _ in out]
            if dtype == pl.Object:
                series.append(pl.Series(name, cells, dtype=pl.Object))
            else:
                series.append(pl.Series(name, cells, dtype=dtype, strict=False))
        series.append(pl.Series(DIFF, [diff for _, _, diff in out], dtype=pl.Int64))
        return pl.DataFrame(series)

    # --- large batches: the columnar tier -----------------------------------------------------
    def _process_bulk(
        self, delta: pl.DataFrame, time: int, ctx: RunContext
    ) -> pl.DataFrame | None:
        frame = self._prepare(delta, time)
        affected = frame["_gid"].unique()
        exported_rows, exported_outputs, exported = self._export_overlay(affected, frame.schema)
        if self.columnar is None:
            self.columnar = self._new_columnar()
        new_records, old_records = self.columnar.apply(
            frame, affected, exported_rows, exported_outputs, exported
        )
        self._remember_gids(new_records)
        changes = _difference(old_records, new_records, self.out_columns)
        self._report_own_failures(changes, ctx)
        return changes

    def _report_own_failures(self, changes: pl.DataFrame | None, ctx: RunContext) -> None:
        """Report new error cells of reducers that fail by themselves (an int sum beyond
        int64) when no argument can hold an error (else an argument's error is the cause)."""
        if changes is None:
            return
        for spec in self.specs:
            if (spec.output_error is None or spec.error_columns
                    or spec.aggregate.polars_failed(spec.args) is None):
                continue
            failed = changes.filter((pl.col(DIFF) > 0) & pl.col(spec.output_error))
            for _ in range(failed.height):
                ctx.report_error(self.name, f"{spec.output}: {spec.aggregate.name}: result "
                                 "does not fit in int64 (integer overflow)")

    def _prepare(self, delta: pl.DataFrame, time: int) -> pl.DataFrame:
        key_errors = [pl.col(k.error_column) for k in self.keys if k.error_column]
        if key_errors:
            delta = delta.filter(~pl.any_horizontal(key_errors).fill_null(False))
        if self.id_column is not None:
            delta = delta.filter(pl.col(self.id_column).is_not_null())
        flags = []
        for j, spec in enumerate(self.specs):
            if spec.error_columns:
                flag = pl.any_horizontal([pl.col(c) for c in spec.error_columns]).fill_null(False)
            else:
                flag = pl.lit(None, dtype=pl.Boolean)  # cannot fail: nothing to store
            flags.append(flag.alias(f"f{j}"))
        columns = [
            self._gids(delta).alias("_gid"),
            pl.col(ID),
            *(pl.col(k.column).alias(_key_column(i)) for i, k in enumerate(self.keys)),
            *(pl.col(c).alias(f"v{i}") for i, c in enumerate(self.flat)),
            *flags,
            (pl.lit(time, dtype=pl.Int64) if self.uses_time else pl.lit(None, dtype=pl.Int64))
            .alias("_time"),
            (pl.col(self.sort_column) if self.sort_column else pl.lit(None)).alias("_sort"),
            pl.col(DIFF).alias("_mult"),
        ]
        return delta.select(columns).with_columns(slot_expr())

    def _aggregations(self) -> list[pl.Expr]:
        """Polars aggregations of the reducers, named ``out_column(position)`` by their
        position among the output columns."""
        exprs = []
        position = len(self.keys)
        for j, spec in enumerate(self.specs):
            args = [f"v{self.flat.index(c)}" for c in spec.args]
            value = spec.aggregate.polars(args)
            failed = pl.col(f"f{j}").fill_null(False).any()
            own_failure = spec.aggregate.polars_failed(args)
            if own_failure is not None:
                failed = failed | own_failure
            value = pl.when(failed).then(None).otherwise(value)
            exprs.append(value.cast(spec.dtype).alias(out_column(position)))
            position += 1
            if spec.output_error is not None:
                exprs.append(failed.alias(out_column(position)))
                position += 1
        return exprs

    def _export_overlay(
        self, affected: pl.Series, schema: pl.Schema
    ) -> tuple[pl.DataFrame | None, list[tuple[int, tuple]], list[int]]:
        """Move the Python-tier groups touched by a large batch back to columnar form."""
        if not self.overlay:
            return None, [], []
        wanted = list(set(affected.to_list()) & self.overlay.keys())
        if not wanted:
            return None, [], []
        data: dict[str, list] = {name: [] for name in schema}
        outputs = []
        for gid in wanted:
            group = self.overlay.pop(gid)
            if group.output is not None:
                outputs.append((gid, group.output))
            for row_id, (vals, flags, time, sort, mult) in group.rows.items():
                data["_gid"].append(gid)
                data["_slot"].append(gid & _LOW_BITS)
                data[ID].append(row_id)
                for i, key in enumerate(group.keys):
                    data[_key_column(i)].append(key)
                for i, value in enumerate(vals):
                    data[f"v{i}"].append(value)
                for j, flag in enumerate(flags):
                    data[f"f{j}"].append(flag)
                data["_time"].append(time)
                data["_sort"].append(sort)
                data["_mult"].append(mult)
        rows = pl.DataFrame(
            [pl.Series(name, data[name], dtype=dtype, strict=False)
             for name, dtype in schema.items()]
        )
        return rows, outputs, wanted


def _net_changes(delta: pl.DataFrame) -> pl.DataFrame | None:
    """``delta`` consolidated when a row id occurs in it more than once with the same sign
    (several changes of one row within a time), where the per-row state, keyed by row id, would
    otherwise pair a retraction with the wrong values; a retraction and an insertion of one id
    (an update) need nothing."""
    if delta.height <= 64:
        ids = delta[ID].to_list()
        if len(set(ids)) == len(ids):
            return delta
        signs = [(row_id, diff > 0) for row_id, diff in zip(ids, delta[DIFF].to_list(),
                                                            strict=True)]
        repeated = len(set(signs)) != len(signs)
    else:
        repeated = delta.select(
            pl.struct(pl.col(ID), pl.col(DIFF) > 0).is_duplicated().any()
        ).item()
    return consolidate(delta) if repeated else delta


def _project(live: list[tuple], positions: tuple, width: int) -> list[tuple]:
    """``live`` rows with only the values at ``positions``."""
    if positions == tuple(range(width)):
        return live
    if len(positions) == 1:
        (p,) = positions
        return [(rid, (vals[p],), t, s) for rid, vals, t, s in live]
    return [(rid, tuple(vals[p] for p in positions), t, s) for rid, vals, t, s in live]


def _key_column(position: int) -> str:
    """The name of a grouping key in the columnar tier (apart from any user column name)."""
    return f"\x00key{position}"


def _revise_output(out: list[tuple], gid: Any, group: Any, new: tuple | None) -> None:
    """Appends to ``out`` the change from ``group``'s current output row to ``new`` (a
    retraction and an insertion, either absent when that side is ``None``) and records it."""
    old = group.output
    if not _same(old, new):
        if old is not None:
            out.append((gid, old, -1))
        if new is not None:
            out.append((gid, new, 1))
        group.output = new


def _same(a: tuple | None, b: tuple | None) -> bool:
    if a is None or b is None:
        return a is b
    try:
        return bool(a == b)
    except (TypeError, ValueError):  # e.g. numpy arrays compare element-wise
        return len(a) == len(b) and all(_same_cell(x, y) for x, y in zip(a, b, strict=True))


def _same_cell(x: Any, y: Any) -> bool:
    try:
        return bool(x == y)
    except (TypeError, ValueError):
        import numpy as np

        return isinstance(x, np.ndarray) and isinstance(y, np.ndarray) and np.array_equal(x, y)


def _message(spec: AggregateSpec, exc: Exception) -> str:
    if isinstance(exc, AggregateError):
        return f"{spec.output}: {exc}"
    return f"{spec.output}: {spec.aggregate.name}: {type(exc).__name__}: {exc}"


def _difference(
    old: pl.DataFrame, new: pl.DataFrame, out_columns: list[tuple[str, pl.DataType]]
) -> pl.DataFrame | None:
    """``-old`` for rows that changed or disappeared, ``+new`` for rows that changed or
    appeared; rows equal in both cancel."""
    columns = [ID, *(name for name, _ in out_columns)]
    if old.height and new.height:
        retract = old.join(new, on=columns, how="anti", nulls_equal=True)
        insert = new.join(old, on=columns, how="anti", nulls_equal=True)
    else:
        retract, insert = old, new
    parts = []
    if retract.height:
        parts.append(retract.select(columns).with_columns(pl.lit(-1, dtype=pl.Int64).alias(DIFF)))
    if insert.height:
        parts.append(insert.select(columns).with_columns(pl.lit(1, dtype=pl.Int64).alias(DIFF)))
    if not parts:
        return None
    return pl.concat(parts) if len(parts) > 1 else parts[0]
