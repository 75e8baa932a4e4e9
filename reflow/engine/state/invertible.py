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
# Batches of up to FEW_ROWS rows touching at most FEW_GROUPS groups are applied in plain
# Python, from pre-aggregation to output rows (``_process_few``): the vectorized path's
# fixed cost (a dozen numpy calls per component and output column) dominates a streaming
# time that adds to one or two windows. Measured (count + int sum, two int keys, CPU per
# batch, load ~15): 100 rows in 2 / 16 groups 0.30 / 0.67 ms against 0.71 / 0.89 ms; 500 rows
# in 4 groups 0.85 against 1.00 ms; even at 250 rows in 16 groups; 1,000 rows in 2 groups
# 1.47 against 1.22 ms, 200 rows in 32 groups 1.44 against 1.23 ms.
FEW_ROWS = 512
FEW_GROUPS = 16
# From this many rows a batch is grouped by a lazy query, which Polars runs on its streaming
# engine: less CPU for large batches (1M string keys: 71 against 123 ms), a higher fixed
# cost for small ones (2,500 rows: 0.67 against 0.51 ms; even at 10,000).
LAZY_ROWS = 10_000
# Outputs of up to this many rows are built from row tuples in one constructor call instead
# of one Series per column (~10 µs each).
ROW_OUTPUT_ROWS = 256

_GID_CACHE_LIMIT = 4_000_000
# Key columns of at least this many rows are hashed in one Polars call rather than looked up
# key by key in the group-id cache (47k distinct words: ~12 ms against ~65 ms of CPU with a
# cold cache; about even with a warm one).
_HASH_ALL_ROWS = 8192
_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1
# What ``_process_few`` returns for a batch it leaves to the vectorized path.
_GENERAL = object()
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
        if rows.height <= FEW_ROWS and not self.distinct:
            out = self._process_few(rows, report)
            if out is not _GENERAL:
                return cast("pl.DataFrame | None", out)
        gids, key_values, sums, pairs = self._preaggregate(rows)
        return self._apply(gids, key_values, sums, pairs, report)

    # --- a few groups: plain Python -------------------------------------------------------------
    def _process_few(
        self, rows: pl.DataFrame, report: Callable[[str], None] | None
    ) -> pl.DataFrame | object | None:
        """``process`` of a batch touching at most ``FEW_GROUPS`` groups, in plain Python:
        the same running sums, results, output rows (in the same order) and reports as the
        vectorized path. Returns ``_GENERAL`` (having changed nothing but slot allocation
        and the group id cache) for a batch it does not take."""
        if any(isinstance(dtype, pl.Object) for dtype in rows.dtypes):  # no __eq__ calls
            used = [k[0] for k in self.keys] + [c for spec in self.specs for c in spec[1]]
            if any(isinstance(rows.get_column(c).dtype, pl.Object) for c in used):
                return _GENERAL
        grouped = self._few_groups(rows)
        if grouped is None:
            return _GENERAL
        gids, key_values, group_of_row = grouped
        sums = self._few_sums(rows, group_of_row, len(gids))
        slots = self._few_slots(gids, key_values)
        arrays = self.arrays
        before = [[a.item(s) for a in arrays] for s in slots]
        after = [[b + d for b, d in zip(old, delta, strict=True)]
                 for old, delta in zip(before, zip(*sums, strict=True), strict=True)]
        for state in after:
            for value, component in zip(state, self.components, strict=True):
                if component[3] is np.int64 and not _INT64_MIN <= value <= _INT64_MAX:
                    return _GENERAL  # int64 wrap-around: left to numpy
        for slot, state in zip(slots, after, strict=True):
            for array, value in zip(arrays, state, strict=True):
                array[slot] = value
        retracts: list[int] = []
        inserts: list[int] = []
        old_results: list[list[tuple[Any, bool]]] = []
        new_results: list[list[tuple[Any, bool]]] = []
        for p, (old, new) in enumerate(zip(before, after, strict=True)):
            old_res = self._few_results(old)
            new_res = self._few_results(new)
            old_results.append(old_res)
            new_results.append(new_res)
            alive_before, alive_after = old[0] > 0, new[0] > 0
            changed = alive_before != alive_after or (
                alive_before and alive_after and not all(
                    a_null == b_null and (a_null or a == b or (a != a and b != b))
                    for (a, a_null), (b, b_null) in zip(old_res, new_res, strict=True)
                )
            )
            if changed:
                if alive_before:
                    retracts.append(p)
                if alive_after:
                    inserts.append(p)
        out = None
        if retracts or inserts:
            out = self._few_frame(gids, slots, retracts, inserts, old_results, new_results)
        if report is not None and inserts:
            for c, (kind, j, _, _) in enumerate(self.components):
                if kind == _SUM_HIGH:
                    for p in inserts:
                        if _exact_int_sum(after[p][c - 1], after[p][c])[1]:
                            report(f"{self.specs[j][3]}: sum: integer overflow: the sum does "
                                   "not fit in int64")
        emptied = [slot for slot, state in zip(slots, after, strict=True) if state[0] == 0]
        if emptied:
            self._release(np.array(emptied, dtype=np.int64))
        return out

    def _few_groups(self, rows: pl.DataFrame) -> tuple[list[int], list[list], list[int]] | None:
        """The group ids of a batch's groups (in order of first appearance), their key values
        (one list per key column) and each row's group position; None past ``FEW_GROUPS``."""
        if self.cache_keys:
            row_keys = [rows.get_column(k[0]).to_list() for k in self.keys]
            keys = row_keys[0] if len(row_keys) == 1 else list(zip(*row_keys, strict=True))
            distinct = list(dict.fromkeys(keys))  # in order of first appearance
            if len(distinct) > FEW_GROUPS:
                return None
            group_of_row = _positions(keys, distinct)
            if len(row_keys) == 1:
                key_values = [distinct]
            else:
                key_values = [list(column) for column in zip(*distinct, strict=True)]
            gids = self._few_gids(rows, distinct, keys, key_values)
            if len(set(gids)) != len(gids):
                return None  # two key values with one id: the general path groups by id
            return gids, key_values, group_of_row
        row_keys, row_gids = self._row_gids(rows)
        gids = list(dict.fromkeys(row_gids))
        if len(gids) > FEW_GROUPS:
            return None
        group_of_row = _positions(row_gids, gids)
        first: dict[int, int] = {}
        for i, p in enumerate(group_of_row):
            if p not in first:
                first[p] = i
        key_values = [[column[i] for i in first.values()] for column in row_keys]
        return gids, key_values, group_of_row

    def _few_gids(self, rows: pl.DataFrame, distinct: list, keys: list,
                  key_values: list[list]) -> list[int]:
        """The group ids of the distinct keys ``distinct`` (``keys``: every row's key), hashing
        the new ones as ``_gids_of_keys`` does."""
        cache = self.gid_cache
        gids = [cache.get(key) for key in distinct]
        if None not in gids:
            return cast("list[int]", gids)
        missing = [i for i, gid in enumerate(gids) if gid is None]
        names = [k[0] for k in self.keys]
        schema = rows.schema
        if all(_exact_in_python(schema[n]) for n in names):
            part = pl.DataFrame([
                pl.Series(n, [column[i] for i in missing], dtype=schema[n])
                for n, column in zip(names, key_values, strict=True)
            ])
        else:
            first: dict[Any, int] = {}
            for i, key in enumerate(keys):
                first.setdefault(key, i)
            part = rows[[first[distinct[i]] for i in missing]]
        hashed = hash_columns(part, names, "").to_list()
        if len(cache) + len(missing) > _GID_CACHE_LIMIT:
            cache.clear()
        for i, gid in zip(missing, hashed, strict=True):
            cache[distinct[i]] = gid
            gids[i] = gid
        return cast("list[int]", gids)

    def _few_sums(self, rows: pl.DataFrame, group_of_row: list[int], size: int) -> list[list]:
        """Per component, the change of each group's running sum (as ``_preaggregate_rows``
        computes it, one column at a time)."""
        diffs = rows.get_column(DIFF).to_list()
        ok: dict[int, list[bool]] = {}
        for j, spec in enumerate(self.specs):
            if spec[2]:
                lists = [rows.get_column(c).to_list() for c in spec[2]]
                ok[j] = [not any(flags) for flags in zip(*lists, strict=True)]
        values: dict[str, list] = {}
        sums: list[list] = []
        counts: list[int] | None = None  # the row counts (_N), once computed
        high_sums: list[int] | None = None  # _SUM_HIGH, computed with the _SUM before it
        for kind, j, arg, dtype in self.components:
            good = ok.get(j)
            if good is None and kind in (_N, _CNT) and counts is not None:
                sums.append(list(counts))  # without error flags, a count counts every row
                continue
            if kind == _SUM_HIGH and high_sums is not None:
                sums.append(high_sums)
                high_sums = None
                continue
            total: list = [0] * size
            sums.append(total)
            if kind == _N:
                for p, d in zip(group_of_row, diffs, strict=True):
                    total[p] += d
                counts = total
                continue
            if good is None and kind == _SUM and dtype is np.int64:
                # Both halves of an int sum in one pass (the rows' values are Python ints).
                xs = values.get(arg)
                if xs is None:
                    xs = values[arg] = rows.get_column(arg).to_list()
                high_sums = [0] * size
                for p, d, x in zip(group_of_row, diffs, xs, strict=True):
                    if x is not None:
                        x = int(x)
                        total[p] += (x & 0xFFFFFFFF) * d
                        high_sums[p] += (x >> 32) * d
                continue
            if kind == _ERR:
                assert good is not None  # an error count exists only with error columns
                for p, d, g in zip(group_of_row, diffs, good, strict=True):
                    if not g:
                        total[p] += d
                continue
            if kind == _CNT:
                for p, d, g in zip(group_of_row, diffs, good or repeat(True), strict=False):
                    if g:
                        total[p] += d
                continue
            xs = values.get(arg)
            if xs is None:
                xs = values[arg] = rows.get_column(arg).to_list()
            triples = zip(group_of_row, diffs, xs, good or repeat(True), strict=False)
            if kind == _NN:
                for p, d, x, g in triples:
                    if g and x is not None:
                        total[p] += d
            elif kind == _SUM_HIGH:
                for p, d, x, g in triples:
                    if g and x is not None:
                        total[p] += (int(x) >> 32) * d
            elif kind == _SUM and dtype is np.int64:
                for p, d, x, g in triples:
                    if g and x is not None:
                        total[p] += (int(x) & 0xFFFFFFFF) * d
            elif kind == _SUM:
                for p, d, x, g in triples:
                    if g and x is not None and math.isfinite(x):
                        total[p] += float(x) * d
            else:
                for p, d, x, g in triples:
                    if g and x is not None and not math.isfinite(x) and (
                            _non_finite_kind(x) == kind):
                        total[p] += d
        return sums

    def _few_slots(self, gids: list[int], key_values: list[list]) -> list[int]:
        """``_slots`` as a list."""
        get = self.slot_of.get
        slots = [get(gid, -1) for gid in gids]
        new = [p for p, slot in enumerate(slots) if slot < 0]
        if new:
            allocated = self._allocate(
                [gids[p] for p in new], [[column[p] for p in new] for column in key_values]
            ).tolist()
            for p, slot in zip(new, allocated, strict=True):
                slots[p] = slot
        return slots

    def _few_results(self, state: list) -> list[tuple[Any, bool]]:
        """``_results`` of one group: ``(value, is null)`` of each output column after the
        keys."""
        out: list[tuple[Any, bool]] = []
        c = 1
        components = self.components
        for aggregate, _, errors, _, output_error, _ in self.specs:
            failed = False
            if errors:
                failed = state[c] > 0
                c += 1
            value = state[c]
            kind, dtype = components[c][0], components[c][3]
            c += 1
            if kind == _SUM and dtype is np.int64:
                value, overflow = _exact_int_sum(value, state[c])
                c += 1
                failed = failed or overflow
            null = failed
            if dtype is np.float64:
                pinf, ninf, nan = state[c] > 0, state[c + 1] > 0, state[c + 2] > 0
                c += 3
                if nan or (pinf and ninf):
                    value = math.nan
                elif pinf:
                    value = inf
                elif ninf:
                    value = -inf
            if type(aggregate) is Avg:
                count = state[c]
                c += 1
                value = value / count if count != 0 else 0.0
                null = failed or count == 0
            out.append((value, null))
            if output_error is not None:
                out.append((failed, False))
        return out

    def _few_frame(self, gids: list[int], slots: list[int], retracts: list[int],
                   inserts: list[int], old: list[list[tuple[Any, bool]]],
                   new: list[list[tuple[Any, bool]]]) -> pl.DataFrame:
        """The output rows of ``_process_few``: retractions, then insertions, in group order."""
        key_of = self.key_of
        rows = []
        for positions, results, diff in ((retracts, old, -1), (inserts, new, 1)):
            for p in positions:
                slot = slots[p]
                rows.append((gids[p], *[column[slot] for column in key_of],
                             *[None if null else value for value, null in results[p]], diff))
        if self.row_schema is not None:
            return frame_from_rows(rows, self.row_schema)
        columns = list(zip(*rows, strict=True))
        series = [pl.Series(ID, columns[0], dtype=ID_DTYPE)]
        series.extend(
            pl.Series(name, columns[i + 1], dtype=dtype, strict=False)
            for i, (name, dtype) in enumerate(self.out_columns)
        )
        series.append(pl.Series(DIFF, columns[-1], dtype=pl.Int64))
        return pl.DataFrame(series)

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
        # A filter is a Polars query: it runs only when a row is to be left out.
        key_errors = [k[1] for k in self.keys if k[1] is not None]
        if key_errors and any(_any_true(delta.get_column(c)) for c in key_errors):
            delta = delta.filter(~pl.any_horizontal(key_errors).fill_null(False))
        if self.id_column is not None and delta.get_column(self.id_column).null_count():
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
            grouped = _group_by(delta, key_columns, exprs)
            key_values = [grouped[c].to_list() for c in key_columns]
            gids = self._gids_of_keys(grouped, key_values)
            by = key_columns
        else:
            frame = delta.with_columns(self._gid_series(delta).alias("\x00gid"))
            grouped = _group_by(
                frame, ["\x00gid"], [*(pl.col(c).first() for c in key_columns), *exprs]
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


def _any_true(flags: pl.Series) -> bool:
    """Whether an error-flag column may hold a true value (a column of nulls holds none)."""
    if flags.dtype == pl.Boolean:
        return bool(flags.any())
    return flags.dtype != pl.Null


def _positions(values: list, distinct: list) -> list[int]:
    """The position in ``distinct`` of each of ``values`` (each of which it holds)."""
    if len(distinct) == 1:
        return [0] * len(values)
    index = {value: position for position, value in enumerate(distinct)}
    return list(map(index.__getitem__, values))


def _exact_int_sum(low: int, high: int) -> tuple[int, bool]:
    """``_exact_int_sums`` of one group, on Python ints."""
    carry = low // _SPLIT
    high += carry
    low -= carry * _SPLIT
    if high < -(1 << 31) or high >= (1 << 31):
        return 0, True
    return high * _SPLIT + low, False


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


def _group_by(frame: pl.DataFrame, by: list[str], aggs: list[pl.Expr]) -> pl.DataFrame:
    """``frame.group_by(by).agg(aggs)``; a large frame's through Polars' streaming engine."""
    if frame.height >= LAZY_ROWS:
        return frame.lazy().group_by(by).agg(aggs).collect()
    return frame.group_by(by).agg(aggs)
