"""Reduce state for invertible reducers only (count, sum, avg).

When every reducer of a reduce is invertible, a group's result depends only on a few running
sums (its row count, the sum of its values, ...), so the input rows need not be kept at all.
``InvertibleGroups`` holds those sums in numpy arrays indexed by a dense *slot* per group and
processes a batch of any size the same way:

1. the batch is pre-aggregated per group: one vectorized Polars ``group_by`` for most batches,
   a plain Python loop for tiny ones (where Polars' fixed per-call cost dominates);
2. the per-group sums are added to the arrays once per distinct group of the batch;
3. the results before and after are computed for those groups only (vectorized), and
   ``-old``/``+new`` rows are emitted for the groups whose result changed.

A group whose row count drops to zero disappears and frees its slot. There is one state
representation for all batch sizes, so nothing moves between representations.

Per reducer the running sums are: count -> [count]; int sum -> [sum of the low 32 bits, sum
of the high 32 bits] (exact: a total beyond int64 is an error value, reported); float sum ->
[sum, counts of inf, -inf and NaN]; avg -> [sum, counts of non-finite values, count of
non-null values]; plus, for reducers whose arguments can hold error values, the count of rows
with an error (the result is an error while it is positive). Float sums are maintained
incrementally, so they can differ from a from-scratch sum in the last bits, as for any
incremental sum.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from itertools import repeat
from math import inf
from typing import Any, cast

import numpy as np
import polars as pl

from reflow.engine.batch import DIFF, ID, ID_DTYPE, frame_from_rows
from reflow.engine.ids import hash_columns
from reflow.engine.state.aggregates import Avg, Count, CountDistinct, Sum, distinct_key
from reflow.engine.state.partition import PARTIAL_KEY, owners
from reflow.engine.state.snapshot import Snapshottable

# Batches of at most this many rows are pre-aggregated in Python rather than with Polars.
TINY_ROWS = 32
# Up to this many rows, groups are numbered in Python and summed with numpy: a Polars
# ``group_by`` has a fixed cost of ~0.5-1 ms (measured: 1,000 rows 0.3 ms against 1.0 ms;
# even at ~3,000 rows with cold group-id caches).
SMALL_ROWS = 2048
# Outputs of up to this many rows are built from row tuples in one constructor call instead
# of one Series per column (~10 µs each).
ROW_OUTPUT_ROWS = 256

_GID_CACHE_LIMIT = 4_000_000
# Key columns of at least this many rows are hashed in one Polars call rather than looked up
# key by key in the group-id cache (47k distinct words: ~12 ms against ~65 ms of CPU with a
# cold cache; about even with a warm one).
_HASH_ALL_ROWS = 8192
_INITIAL_CAPACITY = 1024

# Component kinds.
_N = "n"  # rows of the group (with any multiplicity, errors included)
_ERR = "err"  # rows whose arguments hold an error value
_CNT = "cnt"  # rows without error (count)
_SUM = "sum"  # sum of non-null values of rows without error
# Int sums are kept exactly as two int64 sums, of the values' high 32 bits (signed) and of
# their low 32 bits (unsigned), which cannot overflow for any realistic number of rows: a total
# beyond int64 is then an error value instead of a wrapped-around number.
_SUM_HIGH = "sum_high"
_SPLIT = 1 << 32
_NN = "nn"  # number of non-null values of rows without error (avg)
# Float sums add up finite values only and count the non-finite ones apart, so that retracting
# an infinity or a NaN gives back the sum of the remaining values (inf - inf would be NaN).
_PINF = "pinf"
_NINF = "ninf"
_NAN = "nan"
_NON_FINITE = (_PINF, _NINF, _NAN)
# count_distinct: the number of distinct values with a positive count; the counts per value are
# kept in a dict per group, updated once per distinct (group, value) pair of a batch.
_DISTINCT = "distinct"


def supports(aggregates: Sequence[Any], dtypes: Sequence[pl.DataType]) -> bool:
    """Whether reducers ``aggregates`` with output types ``dtypes`` can all be kept as
    running sums. A reduce with no reducers (``groupby(k).reduce(k)``, distinct keys) needs
    only the row count of each group."""
    for aggregate, dtype in zip(aggregates, dtypes, strict=True):
        kind = type(aggregate)
        if kind is Count:
            ok = dtype == pl.Int64
        elif kind is Sum:
            ok = (dtype == pl.Int64 and aggregate.zero == 0 and type(aggregate.zero) is int) or (
                dtype == pl.Float64 and aggregate.zero == 0 and not isinstance(aggregate.zero, bool)
            )
        elif kind is Avg:
            ok = dtype == pl.Float64
        elif kind is CountDistinct:
            ok = dtype == pl.Int64
        else:
            ok = False
        if not ok:
            return False
    return True


class InvertibleGroups(Snapshottable):
    """Running sums per group, updated by batches of ``(_id, key columns, argument columns,
    error flags, _diff)``.

    ``keys`` are ``(input column, error column or None, output column, dtype)``; ``specs`` are
    ``(aggregate, argument columns, error columns, output column, output error column or None,
    dtype)``. The group id is the hash of the key values, the value of ``id_column`` or
    ``global_id``, as in ``ReduceOperator``.
    """

    state_fields = (
        "value_counts", "capacity", "arrays", "slot_of", "gid_of", "key_of", "free", "gid_cache"
    )
    # Ids, keys and counts only: each pickled in one call (see ``Snapshottable``).
    plain_fields = ("value_counts", "slot_of", "gid_of", "key_of", "free", "gid_cache")

    def __init__(
        self,
        keys: Sequence[tuple[str, str | None, str, pl.DataType]],
        specs: Sequence[tuple[Any, list[str], list[str], str, str | None, pl.DataType]],
        *,
        id_column: str | None,
        global_id: int | None,
        cache_keys: bool,
    ) -> None:
        self.keys = list(keys)
        self.specs = list(specs)
        self.id_column = id_column
        self.global_id = global_id
        self.cache_keys = cache_keys
        # Components: (kind, spec index, argument column or "" for none, numpy dtype).
        components: list[tuple[str, int, str, Any]] = [(_N, -1, "", np.int64)]
        for j, (aggregate, args, errors, _, _, dtype) in enumerate(self.specs):
            if errors:
                components.append((_ERR, j, "", np.int64))
            if type(aggregate) is Count:
                components.append((_CNT, j, "", np.int64))
            elif type(aggregate) is CountDistinct:
                components.append((_DISTINCT, j, "", np.int64))
            elif type(aggregate) is Sum and dtype != pl.Float64:
                components.append((_SUM, j, args[0], np.int64))
                components.append((_SUM_HIGH, j, args[0], np.int64))
            else:
                components.append((_SUM, j, args[0], np.float64))
                components.extend((kind, j, args[0], np.int64) for kind in _NON_FINITE)
                if type(aggregate) is Avg:
                    components.append((_NN, j, args[0], np.int64))
        self.components = components
        # count_distinct specs: spec index -> component index, and per slot the count of each
        # value (values as tuples of hashable cells).
        self.distinct = {j: i for i, (kind, j, _, _) in enumerate(components) if kind == _DISTINCT}
        self.value_counts: dict[int, dict[int, dict]] = {j: {} for j in self.distinct}
        self.capacity = _INITIAL_CAPACITY
        self.arrays = [np.zeros(self.capacity, dtype=c[3]) for c in components]
        self.slot_of: dict[int, int] = {}  # group id -> slot
        self.gid_of: list[int] = []  # slot -> group id
        self.key_of: list[list] = [[] for _ in self.keys]  # key column -> slot -> value
        self.free: list[int] = []
        self.gid_cache: dict[Any, int] = {}  # key value(s) -> group id
        self.out_columns: list[tuple[str, pl.DataType]] = [(k[2], k[3]) for k in self.keys]
        for spec in self.specs:
            self.out_columns.append((spec[3], spec[5]))
            if spec[4] is not None:
                self.out_columns.append((spec[4], pl.Boolean()))
        # Row tuples only for key types whose Python values go back unchanged.
        self.row_schema = (
            pl.Schema({ID: ID_DTYPE(), **dict(self.out_columns), DIFF: pl.Int64()})
            if all(_exact_in_python(k[3]) or k[3] == ID_DTYPE for k in self.keys) else None
        )

    # --- snapshots ----------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """The state, without the key -> group id cache (``load_state`` rebuilds it from the
        groups: its entries are hashes of the keys)."""
        fields = super().state()
        fields["gid_cache"] = {}
        return fields

    def load_state(self, fields: dict[str, Any]) -> None:
        super().load_state(fields)
        if self.cache_keys and not self.gid_cache:
            free = set(self.free)
            live = [s for s in range(len(self.gid_of)) if s not in free]
            gid_of = self.gid_of
            if len(self.key_of) == 1:
                column = self.key_of[0]
                self.gid_cache = {column[s]: gid_of[s] for s in live}
            else:
                self.gid_cache = {tuple(c[s] for c in self.key_of): gid_of[s] for s in live}

    # --- another number of shards ---------------------------------------------------------------
    def split(self, workers: int) -> list[dict[str, Any]]:
        """The groups cut by owner among ``workers`` shards (by group id; every group of a
        reduce without keys is in partition 0): per shard, its groups' ids, keys, running
        sums and value counts, for ``merge``."""
        free = set(self.free)
        live = np.array([s for s in range(len(self.gid_of)) if s not in free], dtype=np.int64)
        gids = [self.gid_of[s] for s in live.tolist()]
        if self.keys or self.id_column is not None:
            owner = owners(gids, workers)
        else:
            owner = np.zeros(len(gids), dtype=np.int64)
        pieces = []
        for worker in range(workers):
            mine = live[owner == worker]
            slots = mine.tolist()
            pieces.append({
                "gids": [self.gid_of[s] for s in slots],
                "keys": [[column[s] for s in slots] for column in self.key_of],
                "arrays": [array[mine] for array in self.arrays],
                "value_counts": {j: [store.get(s) for s in slots]
                                 for j, store in self.value_counts.items()},
            })
        return pieces

    def merge(self, pieces: list[dict[str, Any]]) -> None:
        """Load the groups of ``pieces`` (``split`` of shards holding other groups) into
        this empty state, in dense slots."""
        gids = [gid for piece in pieces for gid in piece["gids"]]
        self.gid_of = gids
        self.slot_of = {gid: slot for slot, gid in enumerate(gids)}
        self.key_of = [[key for piece in pieces for key in piece["keys"][c]]
                       for c in range(len(self.keys))]
        self.free = []
        self.capacity = max(_INITIAL_CAPACITY, len(gids))
        arrays = []
        for c, array in enumerate(self.arrays):
            values = np.concatenate([array[:0], *(piece["arrays"][c] for piece in pieces)])
            full = np.zeros(self.capacity, dtype=array.dtype)
            full[:values.size] = values
            arrays.append(full)
        self.arrays = arrays
        for j in self.value_counts:
            counts = [c for piece in pieces for c in piece["value_counts"][j]]
            self.value_counts[j] = {slot: c for slot, c in enumerate(counts) if c is not None}
        self.gid_cache = {}
        self.load_state({})  # rebuilds the key -> group id cache

    # --- entry point --------------------------------------------------------------------------
    def process(
        self, delta: pl.DataFrame, report: Callable[[str], None] | None = None
    ) -> pl.DataFrame | None:
        """Apply a batch and return the changes of the output (or ``None``); ``report``
        receives a message for every group whose new result is an error by itself."""
        rows = self._grouped_rows(delta)
        if rows is None:
            return None
        gids, key_values, sums, pairs = self._preaggregate(rows)
        return self._apply(gids, key_values, sums, pairs, report)

    # --- combining the parts of a batch held by several workers --------------------------------
    @property
    def combinable(self) -> bool:
        """Whether the per-group sums of the parts of a batch add up exactly to the batch's:
        every running sum is an integer (a float total depends on the order of the additions)
        and no reducer is count_distinct (which needs the values themselves)."""
        return not self.distinct and all(c[3] is np.int64 for c in self.components)

    def partials(self, delta: pl.DataFrame) -> pl.DataFrame | None:
        """``delta`` pre-aggregated: one row per group, with its group id (``PARTIAL_KEY``),
        its key columns and one column per running sum (None: no row counts). Any number of
        these, from any split of the rows, are applied at once by ``process_partials``.

        >>> from reflow.engine.state.aggregates import Count
        >>> groups = InvertibleGroups([("w", None, "w", pl.String())],
        ...                           [(Count(), [], [], "c", None, pl.Int64())],
        ...                           id_column=None, global_id=None, cache_keys=True)
        >>> rows = pl.DataFrame({"w": ["a", "b", "a"], "_diff": [1, 1, 1]})
        >>> part = groups.partials(rows)
        >>> part.height
        2
        >>> groups.process_partials([part[:1], part]).sort("w")[["w", "c"]].rows()
        [('a', 4), ('b', 1)]
        """
        rows = self._grouped_rows(delta)
        if rows is None:
            return None
        gids, key_values, sums, _ = self._preaggregate(rows)
        columns = [pl.Series(PARTIAL_KEY, gids, dtype=ID_DTYPE)]
        columns += [pl.Series(k[0], values, dtype=rows.schema[k[0]])
                    for k, values in zip(self.keys, key_values, strict=True)]
        columns += [pl.Series(f"\x00c{i}", np.asarray(sum_, dtype=np.int64))
                    for i, sum_ in enumerate(sums)]
        return pl.DataFrame(columns)

    def process_partials(
        self, parts: Sequence[pl.DataFrame | None], report: Callable[[str], None] | None = None
    ) -> pl.DataFrame | None:
        """Apply the ``partials`` of the parts of one batch and return the changes of the
        output, as ``process`` of the whole batch does."""
        present = [p for p in parts if p is not None and p.height]
        if not present:
            return None
        frame = present[0]
        if len(present) > 1:
            sums = [f"\x00c{i}" for i in range(len(self.components))]
            frame = pl.concat(present).group_by(PARTIAL_KEY, maintain_order=True).agg(
                *(pl.col(k[0]).first() for k in self.keys), pl.col(sums).sum()
            )
        gids = frame[PARTIAL_KEY].to_list()
        key_values = [frame[k[0]].to_list() for k in self.keys]
        totals = [frame[f"\x00c{i}"].to_numpy() for i in range(len(self.components))]
        return self._apply(gids, key_values, totals, {}, report)

    def _grouped_rows(self, delta: pl.DataFrame) -> pl.DataFrame | None:
        """The rows of ``delta`` that belong to a group (no error in the key, an id present)."""
        key_errors = [k[1] for k in self.keys if k[1] is not None]
        if key_errors:
            delta = delta.filter(~pl.any_horizontal(key_errors).fill_null(False))
        if self.id_column is not None:
            delta = delta.filter(pl.col(self.id_column).is_not_null())
        return delta if delta.height else None

    def _preaggregate(self, delta: pl.DataFrame) -> tuple:
        used = [k[0] for k in self.keys] + [c for spec in self.specs for c in spec[1]]
        if delta.height <= TINY_ROWS or any(delta.schema[c] == pl.Object for c in used):
            return self._preaggregate_rows(delta)
        if delta.height <= SMALL_ROWS and not self.distinct:
            return self._preaggregate_numpy(delta)
        return self._preaggregate_frame(delta)

    # --- pre-aggregation ------------------------------------------------------------------------
    def _preaggregate_frame(self, delta: pl.DataFrame) -> tuple:
        """Per-group sums of a batch with one Polars ``group_by`` (and one more per
        count_distinct, giving the net change of each (group, value) pair)."""
        diff = pl.col(DIFF)
        flags = {}
        exprs = []
        for j, spec in enumerate(self.specs):
            if spec[2]:
                flags[j] = pl.any_horizontal([pl.col(c) for c in spec[2]]).fill_null(False)
        for i, (kind, j, arg, dtype) in enumerate(self.components):
            ok = ~flags[j] if j in flags else None
            if kind == _N or kind == _DISTINCT:
                expr = diff  # _DISTINCT: a placeholder, computed from the pairs
            elif kind == _ERR:
                expr = pl.when(flags[j]).then(diff).otherwise(0)
            else:
                cond = ok
                if kind != _CNT:
                    present = pl.col(arg).is_not_null()
                    if kind == _SUM and dtype == np.float64:
                        present = present & pl.col(arg).cast(pl.Float64).is_finite()
                    elif kind in _NON_FINITE:
                        x = pl.col(arg).cast(pl.Float64)
                        present = present & (
                            x.is_nan() if kind == _NAN else x == (inf if kind == _PINF else -inf)
                        )
                    cond = present if cond is None else cond & present
                if kind == _SUM and dtype == np.float64:
                    value = pl.col(arg).cast(pl.Float64) * diff
                    zero = pl.lit(0, dtype=pl.Float64)
                elif kind in (_SUM, _SUM_HIGH):
                    high = pl.col(arg).cast(pl.Int64) // _SPLIT
                    part = high if kind == _SUM_HIGH else pl.col(arg).cast(pl.Int64) - high * _SPLIT
                    value = part * diff
                    zero = pl.lit(0, dtype=pl.Int64)
                else:
                    value, zero = diff, pl.lit(0, dtype=pl.Int64)
                expr = value if cond is None else pl.when(cond).then(value).otherwise(zero)
            exprs.append(expr.sum().alias(f"\x00c{i}"))
        key_columns = [k[0] for k in self.keys]
        if self.cache_keys:
            frame = delta
            grouped = delta.group_by(key_columns).agg(exprs)
            key_values = [grouped[c].to_list() for c in key_columns]
            gids = self._gids_of_keys(grouped, key_values)
            by = key_columns
        else:
            frame = delta.with_columns(self._gid_series(delta).alias("\x00gid"))
            grouped = frame.group_by("\x00gid").agg(
                *(pl.col(c).first() for c in key_columns), *exprs
            )
            gids = grouped["\x00gid"].to_list()
            key_values = [grouped[c].to_list() for c in key_columns]
            by = ["\x00gid"]
        sums = [grouped[f"\x00c{i}"].to_numpy() for i in range(len(self.components))]
        for c in self.distinct.values():
            sums[c] = np.zeros(len(gids), dtype=np.int64)
        pairs = {}
        if self.distinct:
            position = dict(zip(gids, range(len(gids)), strict=True))
            for j in self.distinct:
                args = self.specs[j][1]
                counted = frame.filter(~flags[j]) if j in flags else frame
                net = counted.group_by([*by, *args]).agg(diff.sum()).filter(diff != 0)
                if self.cache_keys:
                    group_keys = [net[c].to_list() for c in key_columns]
                    owners = self._gids_of_keys(net, group_keys)
                else:
                    owners = net["\x00gid"].to_list()
                values = zip(*(net[c].to_list() for c in args), strict=True)
                pairs[j] = (
                    [position[gid] for gid in owners],
                    [tuple(distinct_key(v) for v in value) for value in values],
                    net[DIFF].to_list(),
                )
        return gids, key_values, sums, pairs

    def _preaggregate_numpy(self, delta: pl.DataFrame) -> tuple:
        """Per-group sums of a small batch with numpy: groups numbered through a dict of group
        ids, sums by ``np.bincount``/``np.add.at`` (no count_distinct)."""
        row_keys, row_gids = self._row_gids(delta)
        gids = list(dict.fromkeys(row_gids))  # in order of first appearance
        position = dict(zip(gids, range(len(gids))))
        group_of_row = np.fromiter(
            map(position.__getitem__, row_gids), dtype=np.int64, count=len(row_gids)
        )
        first_rows = np.unique(group_of_row, return_index=True)[1].tolist()
        key_values = [[column[i] for i in first_rows] for column in row_keys]
        n_groups = len(gids)
        diffs = delta[DIFF].to_numpy()
        failed: dict[int, np.ndarray] = {}
        for j, spec in enumerate(self.specs):
            if spec[2]:
                failed[j] = np.logical_or.reduce(
                    [delta[c].fill_null(False).to_numpy() for c in spec[2]]
                )

        def count(weights: np.ndarray) -> np.ndarray:
            return np.bincount(group_of_row, weights=weights, minlength=n_groups).astype(np.int64)

        arrays = []
        for kind, j, arg, dtype in self.components:
            ok = ~failed[j] if j in failed else None
            if kind == _N:
                arrays.append(count(diffs))
                continue
            if kind == _ERR:
                arrays.append(count(np.where(failed[j], diffs, 0)))
                continue
            if kind == _CNT:
                arrays.append(count(diffs if ok is None else np.where(ok, diffs, 0)))
                continue
            column = delta[arg]
            present = np.ones(len(diffs), dtype=bool) if ok is None else ok
            if column.null_count():
                present = present & ~column.is_null().to_numpy()
                column = column.fill_null(0)
            if kind in (_SUM, _SUM_HIGH) and dtype == np.int64:
                x = column.cast(pl.Int64).to_numpy()
                high = x // _SPLIT
                values = (high if kind == _SUM_HIGH else x - high * _SPLIT) * diffs
                total = np.zeros(n_groups, dtype=np.int64)
                np.add.at(total, group_of_row, np.where(present, values, 0))
                arrays.append(total)
                continue
            x = column.cast(pl.Float64).to_numpy()
            if kind == _SUM:
                keep = present & np.isfinite(x)
                arrays.append(np.bincount(
                    group_of_row, weights=np.where(keep, x * diffs, 0.0), minlength=n_groups
                ))
            elif kind == _NN:
                arrays.append(count(np.where(present, diffs, 0)))
            else:
                hit = np.isnan(x) if kind == _NAN else x == (inf if kind == _PINF else -inf)
                arrays.append(count(np.where(present & hit, diffs, 0)))
        return gids, key_values, arrays, {}

    def _preaggregate_rows(self, delta: pl.DataFrame) -> tuple:
        """Per-group sums of a tiny batch in plain Python (no Polars call but ``to_list``)."""
        diffs = delta[DIFF].to_list()
        key_columns = [k[0] for k in self.keys]
        row_keys, row_gids = self._row_gids(delta)
        columns: dict[str, list] = {}
        for spec in self.specs:
            for name in spec[1]:
                if name not in columns:
                    columns[name] = delta[name].to_list()
        changes: dict[int, dict[tuple, int]] = {j: {} for j in self.distinct}
        flags: dict[int, list[bool]] = {}
        for j, spec in enumerate(self.specs):
            if spec[2]:
                lists = [delta[c].to_list() for c in spec[2]]
                flags[j] = [any(values) for values in zip(*lists, strict=True)]
        position: dict[int, int] = {}
        gids: list[int] = []
        key_values: list[list] = [[] for _ in key_columns]
        width = len(self.components)
        sums: list[list] = [[] for _ in range(width)]
        for i, gid in enumerate(row_gids):
            p = position.get(gid)
            if p is None:
                p = position[gid] = len(gids)
                gids.append(gid)
                for column, values in zip(key_values, row_keys, strict=True):
                    column.append(values[i])
                for column in sums:
                    column.append(0)
            d = diffs[i]
            for c, (kind, j, arg, dtype) in enumerate(self.components):
                if kind == _N:
                    sums[c][p] += d
                    continue
                failed = j in flags and bool(flags[j][i])
                if kind == _ERR:
                    if failed:
                        sums[c][p] += d
                elif failed:
                    continue
                elif kind == _CNT:
                    sums[c][p] += d
                elif kind == _DISTINCT:
                    value = tuple(distinct_key(columns[a][i]) for a in self.specs[j][1])
                    pair = changes[j]
                    pair[p, value] = pair.get((p, value), 0) + d
                else:
                    x = columns[arg][i]
                    if x is None:
                        continue
                    if kind == _NN:
                        sums[c][p] += d
                    elif kind == _SUM_HIGH:
                        sums[c][p] += (int(x) >> 32) * d
                    elif kind == _SUM:
                        if dtype != np.float64:
                            sums[c][p] += (int(x) & 0xFFFFFFFF) * d
                        elif math.isfinite(x):
                            sums[c][p] += float(x) * d
                    elif not math.isfinite(x) and _non_finite_kind(x) == kind:
                        sums[c][p] += d
        arrays = [
            np.array(column, dtype=component[3])
            for column, component in zip(sums, self.components, strict=True)
        ]
        pairs = {}
        for j, pair in changes.items():
            nonzero = [(key, d) for key, d in pair.items() if d]
            pairs[j] = (
                [key[0] for key, _ in nonzero], [key[1] for key, _ in nonzero],
                [d for _, d in nonzero],
            )
        return gids, key_values, arrays, pairs

    def _row_gids(self, delta: pl.DataFrame) -> tuple[list[list], list[int]]:
        """The key values (one list per key column) and the group id of every row."""
        row_keys = [delta[k[0]].to_list() for k in self.keys]
        if self.cache_keys:
            return row_keys, self._gids_of_keys(delta, row_keys)
        if not self.keys and self.id_column is None and self.global_id is not None:
            return row_keys, [self.global_id] * delta.height  # one group: no Polars call
        return row_keys, self._gid_series(delta).to_list()

    def _gid_series(self, frame: pl.DataFrame) -> pl.Series:
        if self.id_column is not None:
            return frame[self.id_column].cast(ID_DTYPE)
        if not self.keys:
            return pl.repeat(self.global_id, frame.height, dtype=ID_DTYPE, eager=True)
        return hash_columns(frame, [k[0] for k in self.keys], "")

    def _gids_of_keys(self, frame: pl.DataFrame, key_values: list[list]) -> list[int]:
        """Group ids of the rows of ``frame`` (key values ``key_values``), hashing only the keys
        not seen before."""
        cache = self.gid_cache
        keys = key_values[0] if len(key_values) == 1 else list(zip(*key_values, strict=True))
        if frame.height >= _HASH_ALL_ROWS:
            hashed = hash_columns(frame, [k[0] for k in self.keys], "").to_list()
            if len(cache) + len(keys) > _GID_CACHE_LIMIT:
                cache.clear()
            cache.update(zip(keys, hashed, strict=True))
            return cast("list[int]", hashed)
        gids = [cache.get(key) for key in keys]
        if None in gids:
            # Hash each new key once, from the first row that holds it.
            first: dict[Any, int] = {}
            for i, gid in enumerate(gids):
                if gid is None and keys[i] not in first:
                    first[keys[i]] = i
            names = [k[0] for k in self.keys]
            if len(first) == frame.height:
                part = frame
            elif all(_exact_in_python(frame.schema[n]) for n in names):
                # A few new keys: their columns rebuilt from the values (no gather query).
                rows = list(first.values())
                part = pl.DataFrame([
                    pl.Series(n, [column[i] for i in rows], dtype=frame.schema[n])
                    for n, column in zip(names, key_values, strict=True)
                ])
            else:
                part = frame[list(first.values())]
            hashed = hash_columns(part, names, "").to_list()
            if len(cache) + len(first) > _GID_CACHE_LIMIT:
                cache.clear()
            cache.update(zip(first, hashed, strict=True))
            gids = [cache[key] if gid is None else gid for key, gid in zip(keys, gids)]
        return cast("list[int]", gids)  # every None was filled in

    # --- state update -------------------------------------------------------------------------
    def _slots(self, gids: list[int], key_values: list[list]) -> np.ndarray:
        """The slot of each group of ``gids`` (distinct, as pre-aggregation makes them),
        allocating the slots of the new ones in bulk."""
        slot_of = self.slot_of
        if not slot_of:
            return self._allocate(gids, key_values)
        slots = np.fromiter(
            map(slot_of.get, gids, repeat(-1, len(gids))), dtype=np.int64, count=len(gids)
        )
        new = np.flatnonzero(slots < 0)
        if new.size:
            if new.size == len(gids):
                return self._allocate(gids, key_values)
            rows = new.tolist()
            slots[new] = self._allocate(
                [gids[i] for i in rows], [[column[i] for i in rows] for column in key_values]
            )
        return slots

    def _allocate(self, gids: list[int], keys: list[list]) -> np.ndarray:
        """Slots for the new groups ``gids`` with key values ``keys`` (one list per key
        column): freed slots first, then new ones at the end (the arrays grow once)."""
        count = len(gids)
        reused = min(count, len(self.free))
        slots = np.empty(count, dtype=np.int64)
        if reused:
            taken = self.free[len(self.free) - reused:]
            del self.free[len(self.free) - reused:]
            slots[:reused] = taken
            gid_of = self.gid_of
            for slot, gid in zip(taken, gids, strict=False):
                gid_of[slot] = gid
            for column, values in zip(self.key_of, keys, strict=True):
                for slot, key in zip(taken, values, strict=False):
                    column[slot] = key
        if reused < count:
            start = len(self.gid_of)
            end = start + count - reused
            if end > self.capacity:
                while end > self.capacity:
                    self.capacity *= 2
                self.arrays = [
                    np.concatenate([a, np.zeros(self.capacity - a.size, dtype=a.dtype)])
                    for a in self.arrays
                ]
            slots[reused:] = np.arange(start, end, dtype=np.int64)
            self.gid_of.extend(gids[reused:] if reused else gids)
            for column, values in zip(self.key_of, keys, strict=True):
                column.extend(values[reused:] if reused else values)
        self.slot_of.update(zip(gids, slots.tolist(), strict=True))
        return slots

    def _apply(
        self, gids: list[int], key_values: list[list], sums: list, pairs: dict,
        report: Callable[[str], None] | None = None,
    ) -> pl.DataFrame | None:
        slots = self._slots(gids, key_values)
        if pairs:
            self._count_values(slots, sums, pairs)
        before = [a[slots] for a in self.arrays]
        with np.errstate(over="ignore", invalid="ignore"):
            for array, delta in zip(self.arrays, sums, strict=True):
                array[slots] += delta
        after = [a[slots] for a in self.arrays]
        alive_before = before[0] > 0
        alive_after = after[0] > 0
        old = self._results(before)
        new = self._results(after)
        changed = alive_before != alive_after
        both = alive_before & alive_after
        for (old_values, old_nulls), (new_values, new_nulls) in zip(old, new, strict=True):
            same = (old_nulls == new_nulls) & (
                old_nulls | (old_values == new_values) | _both_nan(old_values, new_values)
            )
            changed |= both & ~same
        retract = np.flatnonzero(changed & alive_before)
        insert = np.flatnonzero(changed & alive_after)
        out = None
        if retract.size or insert.size:
            out = self._frame(slots, retract, insert, old, new)
        if report is not None and insert.size:
            self._report_overflows(after, insert, report)
        emptied = after[0] == 0
        if emptied.any():
            self._release(slots[emptied])
        return out

    def _count_values(self, slots: np.ndarray, sums: list, pairs: dict) -> None:
        """Apply the net change of each (group, value) pair to the counts per value, and set
        the change of each group's number of distinct values in ``sums``."""
        slot_list = slots.tolist()
        for j, (positions, values, diffs) in pairs.items():
            store = self.value_counts[j]
            change = sums[self.distinct[j]]
            for p, value, d in zip(positions, values, diffs, strict=True):
                counts = store.get(slot_list[p])
                if counts is None:
                    counts = store[slot_list[p]] = {}
                before = counts.get(value, 0)
                after = before + d
                if after:
                    counts[value] = after
                else:
                    del counts[value]
                change[p] += (after > 0) - (before > 0)

    def _release(self, slots: np.ndarray) -> None:
        for array in self.arrays:
            array[slots] = 0
        for store in self.value_counts.values():
            for slot in slots.tolist():
                store.pop(slot, None)
        slot_list = slots.tolist()
        slot_of, gid_of = self.slot_of, self.gid_of
        for slot in slot_list:
            del slot_of[gid_of[slot]]
        for column in self.key_of:
            for slot in slot_list:
                column[slot] = None
        self.free.extend(slot_list)

    def _report_overflows(
        self, state: list[np.ndarray], rows: np.ndarray, report: Callable[[str], None]
    ) -> None:
        """Report each group among ``rows`` whose int sum no longer fits in int64."""
        for c, (kind, j, _, _) in enumerate(self.components):
            if kind == _SUM_HIGH:
                _, overflow = _exact_int_sums(state[c - 1][rows], state[c][rows])
                for _ in range(int(overflow.sum())):
                    report(f"{self.specs[j][3]}: sum: integer overflow: the sum does not fit "
                           "in int64")

    def _results(self, state: list[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
        """``(values, null mask)`` of each output column after the keys (reducer results and
        their error flags), for the groups whose running sums are ``state``."""
        out = []
        c = 1
        size = state[0].size
        no_nulls = np.zeros(size, dtype=bool)
        for aggregate, _, errors, _, output_error, _ in self.specs:
            failed = no_nulls
            if errors:
                failed = state[c] > 0
                c += 1
            values = state[c]
            c += 1
            if self.components[c - 1][0] == _SUM and values.dtype == np.int64:
                values, overflow = _exact_int_sums(values, state[c])
                c += 1
                failed = failed | overflow
            nulls = failed
            if values.dtype == np.float64:
                pinf, ninf, nan = state[c] > 0, state[c + 1] > 0, state[c + 2] > 0
                c += 3
                values = np.where(
                    nan | (pinf & ninf), np.nan,
                    np.where(pinf, np.inf, np.where(ninf, -np.inf, values)),
                )
            if type(aggregate) is Avg:
                count = state[c]
                c += 1
                nonzero = count != 0
                with np.errstate(divide="ignore", invalid="ignore"):
                    values = np.where(nonzero, values / np.where(nonzero, count, 1), 0.0)
                nulls = failed | ~nonzero
            out.append((values, nulls))
            if output_error is not None:
                out.append((failed, no_nulls))
        return out

    def _frame(
        self,
        slots: np.ndarray,
        retract: np.ndarray,
        insert: np.ndarray,
        old: list[tuple[np.ndarray, np.ndarray]],
        new: list[tuple[np.ndarray, np.ndarray]],
    ) -> pl.DataFrame:
        picked = np.concatenate([slots[retract], slots[insert]]).tolist()
        gid_of = self.gid_of
        if self.row_schema is not None and len(picked) <= ROW_OUTPUT_ROWS:
            return self._frame_from_rows(picked, retract, insert, old, new)
        columns = [pl.Series(ID, [gid_of[s] for s in picked], dtype=ID_DTYPE)]
        for (name, dtype), key_column in zip(self.out_columns, self.key_of, strict=False):
            columns.append(
                pl.Series(name, [key_column[s] for s in picked], dtype=dtype, strict=False)
            )
        results = self.out_columns[len(self.keys):]
        for (name, dtype), (old_values, old_nulls), (new_values, new_nulls) in zip(
            results, old, new, strict=True
        ):
            values = np.concatenate([old_values[retract], new_values[insert]])
            series = pl.Series(name, values).cast(dtype)
            nulls = np.flatnonzero(np.concatenate([old_nulls[retract], new_nulls[insert]]))
            if nulls.size:
                series = series.scatter(nulls, None)
            columns.append(series)
        diffs = np.concatenate([
            np.full(retract.size, -1, dtype=np.int64), np.ones(insert.size, dtype=np.int64)
        ])
        columns.append(pl.Series(DIFF, diffs))
        return pl.DataFrame(columns)


    def _frame_from_rows(
        self,
        picked: list[int],
        retract: np.ndarray,
        insert: np.ndarray,
        old: list[tuple[np.ndarray, np.ndarray]],
        new: list[tuple[np.ndarray, np.ndarray]],
    ) -> pl.DataFrame:
        """``_frame`` for a few rows: one tuple per row, one constructor call."""
        columns: list[list] = [[self.gid_of[s] for s in picked]]
        columns.extend([key_column[s] for s in picked] for key_column in self.key_of)
        for (old_values, old_nulls), (new_values, new_nulls) in zip(old, new, strict=True):
            values = np.concatenate([old_values[retract], new_values[insert]]).tolist()
            nulls = np.concatenate([old_nulls[retract], new_nulls[insert]])
            if nulls.any():
                values = [None if null else v for v, null in zip(values, nulls.tolist())]
            columns.append(values)
        columns.append([-1] * retract.size + [1] * insert.size)
        return frame_from_rows(list(zip(*columns)), cast(pl.Schema, self.row_schema))


def _exact_int_sums(low: np.ndarray, high: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The int64 totals ``high * 2**32 + low`` and where they do not fit in int64."""
    carry = low // _SPLIT
    high = high + carry
    low = low - carry * _SPLIT  # now in [0, 2**32)
    overflow = (high < -(1 << 31)) | (high >= (1 << 31))
    with np.errstate(over="ignore"):
        values = np.where(overflow, 0, high * _SPLIT + low)
    return values, overflow


def _non_finite_kind(x: float) -> str:
    if x != x:
        return _NAN
    return _PINF if x > 0 else _NINF


def _both_nan(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if a.dtype.kind != "f":
        return np.zeros(a.size, dtype=bool)
    return np.isnan(a) & np.isnan(b)


def _exact_in_python(dtype: pl.DataType) -> bool:
    """Whether a column of ``dtype`` survives a round trip through Python values unchanged
    (datetimes would lose their nanoseconds)."""
    return dtype.is_integer() or dtype.is_float() or dtype in (pl.String, pl.Boolean)
