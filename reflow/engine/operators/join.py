"""The incremental equi-join.

Both inputs are kept in arrangements indexed by the join key. A call with deltas ``dL`` and
``dR`` emits ``dL ⋈ R + L' ⋈ dR`` where ``R`` is the right state before the call and
``L' = L + dL`` the left state after it; this counts the product ``dL ⋈ dR`` exactly once.
Each part touches only the keys present in the deltas, so the cost follows the change.

Outer joins also emit the rows of one side that have no partner, padded with nulls. Only keys
whose partner count crosses zero (or whose own rows change while it is zero) change that part,
and those are found from the per-key counts the arrangements keep.

The algebra runs on one of two paths. Large deltas go through Polars (vectorized joins with the
partner rows, or with the other side's whole log when it is not much longer than the delta's
keys). A call with a few rows runs on Python tuples (``_process_tuples``):
its keys are computed once, partner rows are read from the log as tuples and the output frame
is built once, because a Polars query costs tens of microseconds even for one row. Both paths
produce the same rows and the same ids (``pair_id`` / ``pair_id_value``).
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any, cast

import polars as pl

from reflow.engine.batch import (
    DIFF,
    DIFF_DTYPE,
    ID,
    ID_DTYPE,
    concat_batches,
    consolidate,
    frame_from_rows,
    frame_of,
    pick_columns,
    series_of,
)
from reflow.engine.gather import column_builders, columns_frame, take
from reflow.engine.ids import hash_columns
from reflow.engine.operator import EngineError, Operator, RunContext
from reflow.engine.state.key_index import KEY, KeyIndex
from reflow.engine.state.partition import Broadcast, owners
from reflow.engine.state.snapshot import Snapshottable

KeyKernel = Callable[[pl.DataFrame, RunContext], pl.Series]

# Deltas with at most this many distinct keys look their partners up key by key; larger ones
# semi-join the whole log, which is cheaper per row once the delta is big.
_LOOKUP_LIMIT = 2048
# ... unless the log is at most this many times as long as their keys: then the delta is joined
# with the whole log (measured: a log of 30k rows and 2,000 keys, 1.1 ms against 2.1 ms for
# looking the keys up; 300k rows and 2,000 keys, about even).
_WHOLE_LOG = 32
# Deltas and partner sets up to this many rows are paired in Python: a row costs a few
# microseconds that way, against a fixed cost of tens of microseconds for each of the ~10
# Polars calls of the columnar path.
_ROWWISE = 256
# ... as long as the rows of the other side they meet are at most this many.
_PARTNER_LIMIT = 512


class JoinSide(Snapshottable):
    """How one input enters the join: its key kernel and the names of its output columns.

    ``key_column``, when given, names an input column that is the key itself (no kernel runs).
    ``flag_columns`` are boolean columns that are false, not null, where the side is missing
    (the error markers of the columns above).
    ``columns`` maps the input's value columns to output column names and ``id_column`` names
    the output column holding the input row's id; ``dtypes`` gives the Polars type of every
    output column, used to pad the side with nulls in outer joins.
    """

    state_fields = ("arrangement",)
    delta_fields = ("arrangement",)

    def __init__(
        self,
        key: KeyKernel,
        columns: dict[str, str],
        id_column: str,
        dtypes: dict[str, pl.DataType],
        outer: bool,
        key_column: str | None = None,
        flag_columns: frozenset[str] = frozenset(),
    ) -> None:
        self.key = key
        self.key_column = key_column
        self.flag_columns = flag_columns
        self.keyed_schema: dict[str, pl.DataType] = {}
        self.columns = columns
        self.id_column = id_column
        self.dtypes = dtypes
        self.outer = outer
        self.arrangement = KeyIndex()

    @property
    def output_columns(self) -> list[str]:
        return [self.id_column, *self.columns.values()]

    def keys_of(self, delta: pl.DataFrame, ctx: RunContext) -> pl.Series:
        """The join key of every row of ``delta``."""
        return delta[self.key_column] if self.key_column else self.key(delta, ctx)

    def keyed(
        self, delta: pl.DataFrame, ctx: RunContext, keys: pl.Series | None = None
    ) -> pl.DataFrame:
        """The delta in arrangement form: ``_key``, the output columns and ``_diff``.
        ``keys`` are the delta's keys when they were computed already (``keys_of``)."""
        return self._arranged(delta, self.keys_of(delta, ctx) if keys is None else keys)

    def _arranged(self, delta: pl.DataFrame, keys: pl.Series) -> pl.DataFrame:
        keyed = pick_columns(delta, [(ID, self.id_column), *self.columns.items(), (DIFF, DIFF)])
        keyed.insert_column(0, keys.alias(KEY))
        return keyed

    def keyed_rows(self, delta: pl.DataFrame, keys: pl.Series) -> list[tuple]:
        """``keyed`` as row tuples (``key, id, values..., diff``), for a few rows."""
        if not self.keyed_schema:
            self.keyed_schema = {
                KEY: keys.dtype,
                self.id_column: ID_DTYPE(),
                **{dst: self.dtypes[dst] for dst in self.columns.values()},
                DIFF: DIFF_DTYPE(),
            }
        return self._arranged(delta, keys).rows()

    @property
    def null_row(self) -> tuple:
        """This side's output cells in a row where it has no partner."""
        return tuple(False if c in self.flag_columns else None for c in self.output_columns)

    def nulls(self, height: int) -> list[pl.Series]:
        """Null columns standing for this side in rows where it has no partner."""
        out = []
        for name in self.output_columns:
            if name in self.flag_columns:
                out.append(pl.Series(name, [False] * height, dtype=pl.Boolean))
            else:
                out.append(pl.Series(name, [None] * height, dtype=self.dtypes[name]))
        return out

    def rows_of(self, keys: pl.Series) -> pl.DataFrame | None:
        """The logged rows whose key is one of the distinct ``keys``, or the whole log when
        it is at most ``_WHOLE_LOG`` times as long as the keys: a join with the whole log then
        costs less than finding those rows first (callers join on the key)."""
        log = self.arrangement.log()
        if log is None or log.height <= _WHOLE_LOG * keys.len():
            return log
        if keys.len() <= _LOOKUP_LIMIT:
            return self.arrangement.lookup(keys.to_list())
        return self.arrangement.lookup_frame(keys)


class JoinOperator(Operator):
    """Equi-join of two inputs; ``how`` is ``inner``, ``left``, ``right`` or ``outer``.

    Output rows carry the columns of both sides (renamed as each ``JoinSide`` says). Their id
    is the hash of the pair of input ids, or the id of one side when ``id_from`` is ``"left"``
    or ``"right"`` (then it is an error for that side's row to match more than one row).
    """

    state_fields = ("left", "right", "_id_counts", "_touched")
    # Checkpoints save the rows each side's log gained since the previous one.
    delta_fields = ("left", "right")

    emits_consolidated = True

    stateful = True

    def __init__(
        self,
        left: Operator,
        right: Operator,
        left_side: JoinSide,
        right_side: JoinSide,
        name: str,
        id_from: str | None = None,
    ) -> None:
        super().__init__([left, right], name)
        self.left = left_side
        self.right = right_side
        self.id_from = id_from
        self.columns = [ID, *left_side.output_columns, *right_side.output_columns, DIFF]
        # The input (0 or 1) whose arrangement is shared with other joins and kept up to date
        # by its owner, who inserts a delta before handing it to the joins: this join only
        # reads it (``share``).
        self.shared: int | None = None
        self._id_counts: dict[int, int] = {}
        self._touched: set[int] = set()
        self._schema: dict[str, pl.DataType] = {
            **{c: left_side.dtypes[c] for c in left_side.output_columns},
            **{c: right_side.dtypes[c] for c in right_side.output_columns},
            DIFF: DIFF_DTYPE(),
        }
        self._id_schema = pl.Schema({ID: ID_DTYPE(), **self._schema})
        # Python objects would not survive a round trip through row tuples.
        self._rowwise = all(dtype != pl.Object for dtype in self._schema.values())
        # Output frames of the tuple path are built column by column (several times faster
        # than from rows) when every column has a plain type.
        self._builders = column_builders(self._id_schema)
        self._row_id = _ROW_ID[id_from]
        self._ids: list[pl.Expr] | None = None

    def share(self, side: int, arrangement: KeyIndex) -> None:
        """Read input ``side``'s rows from ``arrangement``, kept by someone else, who inserts
        every delta of that input (in ``JoinSide.keyed`` form) *before* this join processes
        it. The join then emits ``dO ⋈ S + O ⋈ dS`` with ``S`` the shared side after the
        delta and ``O`` the other side before it. The other side must not be an outer side:
        its unmatched rows would need the shared side's counts from before the delta. (The
        shared side may be outer: its unmatched rows are found as when it is not shared.)
        """
        if (self.right, self.left)[side].outer:
            raise ValueError(f"{self.name}: the partner of an outer side cannot be shared")
        (self.left, self.right)[side].arrangement = arrangement
        self.shared = side

    # --- another number of shards ---------------------------------------------------------------
    def split_state(self, workers: int) -> list[object]:
        """Each side's rows cut by the owner of their join key (as ``partition_key``); the
        count of each output id goes with the row of the ``id_from`` side holding it."""
        if self.shared is not None:
            return super().split_state(workers)  # the shared arrangement is another's
        pieces: list[dict[str, Any]] = [{"left": None, "right": None, "ids": {}}
                                        for _ in range(workers)]
        owner_of_id: dict[int, int] = {}
        for name, side in (("left", self.left), ("right", self.right)):
            rows = side.arrangement.live_rows()
            if rows is None:
                continue
            owner = owners(hash_columns(rows.select(KEY), [KEY]), workers)
            for worker in range(workers):
                part = rows.filter(pl.Series(owner == worker))
                pieces[worker][name] = part if part.height else None
            if name == self.id_from:
                owner_of_id = dict(zip(rows[side.id_column].to_list(), owner.tolist(),
                                       strict=True))
        for row_id, count in self._id_counts.items():
            pieces[owner_of_id.get(row_id, 0)]["ids"][row_id] = count
        return list(pieces)

    def merge_state(self, pieces: list[object]) -> None:
        parts = cast("list[dict[str, Any]]", pieces)
        if self.shared is not None:
            super().merge_state(pieces)
        for name, side in (("left", self.left), ("right", self.right)):
            frames = [part[name] for part in parts if part[name] is not None]
            if frames:
                side.arrangement.insert(pl.concat(frames, how="vertical"))
        self._id_counts = {row_id: count for part in parts for row_id, count in part["ids"].items()}
        self._touched = set()

    # --- the algebra ---------------------------------------------------------------------------
    def partition_key(
        self, input_index: int, delta: pl.DataFrame, ctx: RunContext
    ) -> pl.Series | Broadcast:
        """The hash of the join key: rows that can match live in one shard."""
        side = self.left if input_index == 0 else self.right
        return hash_columns(side.keyed(delta, ctx).select(KEY), [KEY])

    def process(
        self, time: int, deltas: list[pl.DataFrame | None], ctx: RunContext
    ) -> pl.DataFrame | None:
        d_left, d_right = deltas
        if not self._rowwise or any(d is not None and d.height > _ROWWISE for d in deltas):
            return self._process_frames(d_left, d_right, ctx)
        left_keys = self.left.keys_of(d_left, ctx) if d_left is not None else None
        right_keys = self.right.keys_of(d_right, ctx) if d_right is not None else None
        if (d_left is None) != (d_right is None):
            out = self._process_one_side(d_left, d_right, left_keys, right_keys, ctx)
            if out is not _TOO_MANY:
                return cast("pl.DataFrame | None", out)
        out = self._process_tuples(d_left, d_right, left_keys, right_keys)
        if out is _TOO_MANY:  # the rows of the other side these keys meet are many
            return self._process_frames(d_left, d_right, ctx, left_keys, right_keys)
        return cast("pl.DataFrame | None", out)

    def _process_frames(
        self,
        d_left: pl.DataFrame | None,
        d_right: pl.DataFrame | None,
        ctx: RunContext,
        left_keys: pl.Series | None = None,
        right_keys: pl.Series | None = None,
    ) -> pl.DataFrame | None:
        left, right = self.left, self.right
        dl = left.keyed(d_left, ctx, left_keys) if d_left is not None else None
        dr = right.keyed(d_right, ctx, right_keys) if d_right is not None else None
        dl_keys = dl[KEY].unique() if dl is not None else None
        dr_keys = dr[KEY].unique() if dr is not None else None
        touched: list = []
        if left.outer or right.outer:
            found = [k.to_list() for k in (dl_keys, dr_keys) if k is not None]
            touched = list(dict.fromkeys(key for keys in found for key in keys))
        left_before = {k: left.arrangement.count(k) for k in touched} if right.outer else {}
        right_before = {k: right.arrangement.count(k) for k in touched} if left.outer else {}

        parts: list[pl.LazyFrame | pl.DataFrame | None] = []
        if self.shared == 1 and dr is not None and dr_keys is not None:
            # the shared right side already holds R + dR: pair dR with L first
            parts.append(self._pair(left.rows_of(dr_keys), dr))
        if dl is not None and dl_keys is not None:
            parts.append(self._pair(dl, right.rows_of(dl_keys)))
        if self.shared != 0:
            left.arrangement.insert(dl)
        if self.shared != 1:
            if dr is not None and dr_keys is not None:
                parts.append(self._pair(left.rows_of(dr_keys), dr))
            right.arrangement.insert(dr)
        if left.outer:
            parts.append(self._unmatched(left, right, dl, touched, right_before))
        if right.outer:
            parts.append(self._unmatched(right, left, dr, touched, left_before))
        # One Polars query for the pairs, the unmatched rows and the ids.
        wanted = self.columns[1:]
        queries: list[pl.LazyFrame] = [p.lazy().select(wanted) for p in parts if p is not None]
        if not queries:
            return None
        out = self._with_ids(pl.concat(queries, how="vertical_relaxed")).collect()
        return self._finish(consolidate(out)) if out.height else None

    def _process_one_side(
        self,
        d_left: pl.DataFrame | None,
        d_right: pl.DataFrame | None,
        left_keys: pl.Series | None,
        right_keys: pl.Series | None,
        ctx: RunContext,
    ) -> pl.DataFrame | object | None:
        """A few rows of one side, each key meeting at most one logged row of the other side:
        the partner rows are gathered as one frame and the output is built from the columns
        of the delta and of those rows (ids and diffs computed in Python), without a row
        tuple per output row. Returns ``_TOO_MANY`` (having changed nothing) when the call
        is not of that kind: an outer or shared side, an input whose batches may repeat a row,
        a key with several partner rows or a partner row of diff zero."""
        if self.left.outer or self.right.outer or self.shared is not None:
            return _TOO_MANY
        index = 0 if d_left is not None else 1
        side, other = (self.left, self.right) if index == 0 else (self.right, self.left)
        delta, keys = (d_left, left_keys) if index == 0 else (d_right, right_keys)
        assert delta is not None and keys is not None  # one side has a delta
        if not self.inputs[index].emits_consolidated:
            return _TOO_MANY  # rows equal but for their diff would give equal output rows
        found = other.arrangement.single_positions(keys.to_list())
        if found is None:
            return _TOO_MANY
        matched = [i for i, at in enumerate(found) if at is not None]
        partners = None
        if matched:
            partners = other.arrangement.take([cast("int", found[i]) for i in matched])
            other_diffs = partners[DIFF].to_list()
            if 0 in other_diffs:
                return _TOO_MANY
        keyed = side.keyed(delta, ctx, keys)
        own_diffs = keyed[DIFF].to_list()
        side.arrangement.insert(keyed, own_diffs)
        if partners is None:
            return None
        if len(matched) == keyed.height:
            mine = keyed
        else:
            mine = take(keyed, matched)
            own_diffs = [own_diffs[i] for i in matched]
        diffs = list(map(operator.mul, own_diffs, other_diffs))
        left, right = (mine, partners) if index == 0 else (partners, mine)
        left_ids = left[self.left.id_column].to_list()
        ids = list(map(self._row_id, left_ids, right[self.right.id_column].to_list()))
        out = frame_of([
            series_of(ID, ids, ID_DTYPE),
            *(left.get_column(c) for c in self.left.output_columns),
            *(right.get_column(c) for c in self.right.output_columns),
            series_of(DIFF, diffs, DIFF_DTYPE),
        ])
        return self._finish(out)

    def _process_tuples(
        self,
        d_left: pl.DataFrame | None,
        d_right: pl.DataFrame | None,
        left_keys: pl.Series | None,
        right_keys: pl.Series | None,
    ) -> pl.DataFrame | object | None:
        """The same algebra as ``_process_frames`` on row tuples, for a few rows; returns
        ``_TOO_MANY`` (having changed nothing) when the partner rows are too many for it."""
        left, right = self.left, self.right
        dl = [] if d_left is None or left_keys is None else left.keyed_rows(d_left, left_keys)
        dr = [] if d_right is None or right_keys is None else right.keyed_rows(d_right, right_keys)
        # Every partner row is read before the state changes: the right side's rows met by
        # ``dl`` (R, or R + dR when that side is shared and holds dR already), the left side's
        # met by ``dr`` (L; ``dL`` is added to them below, making L').
        right_rows = left_rows = None
        if dl:
            right_rows = right.arrangement.groups(dict.fromkeys([r[0] for r in dl]), _PARTNER_LIMIT)
            if right_rows is None:
                return _TOO_MANY
        if dr:
            left_rows = left.arrangement.groups(dict.fromkeys([r[0] for r in dr]), _PARTNER_LIMIT)
            if left_rows is None:
                return _TOO_MANY
        touched: list = []
        if left.outer or right.outer:
            touched = list(dict.fromkeys([r[0] for r in dl] + [r[0] for r in dr]))
        left_before = {k: left.arrangement.count(k) for k in touched} if right.outer else {}
        right_before = {k: right.arrangement.count(k) for k in touched} if left.outer else {}

        row_id = self._row_id
        rows: list[tuple] = []
        if dr and self.shared == 1:
            assert left_rows is not None  # looked up above
            rows.extend(_pair_rows(dr, left_rows, False, row_id))
        if dl:
            assert right_rows is not None  # looked up above
            rows.extend(_pair_rows(dl, right_rows, True, row_id))
            if self.shared != 0:
                left.arrangement.insert_rows(dl, left.keyed_schema)
        if dr and self.shared != 1:
            assert left_rows is not None  # looked up above
            if dl and self.shared != 0:  # (a shared left side held dL already)
                wanted = {r[0] for r in dr}
                for row in dl:
                    if row[0] in wanted:
                        left_rows.setdefault(row[0], []).append(row)
            rows.extend(_pair_rows(dr, left_rows, False, row_id))
            right.arrangement.insert_rows(dr, right.keyed_schema)
        if left.outer:
            pad = right.null_row
            for row in _unmatched_rows(left, right, dl, touched, right_before):
                rows.append((row_id(row[1], None), *row[1:-1], *pad, row[-1]))
        if right.outer:
            pad = left.null_row
            for row in _unmatched_rows(right, left, dr, touched, left_before):
                rows.append((row_id(None, row[1]), *pad, *row[1:-1], row[-1]))
        if not self._distinct_pairs(dl, dr, left_rows if dr else right_rows):
            rows = _consolidate_rows(rows)
        if not rows:
            return None
        return self._finish(self._frame(rows))

    def _distinct_pairs(
        self, dl: list[tuple], dr: list[tuple], partners: dict[object, list[tuple]] | None
    ) -> bool:
        """Whether the pairs of this call are consolidated already: the delta of one side only
        (no unmatched rows), from an operator whose output is consolidated (no two rows equal
        but for their diff, no zero diff), met by one logged row of non-zero diff per key.
        Two output rows then come from distinct delta rows, which differ in their id or
        values, so the output rows differ too."""
        if (dl and dr) or self.left.outer or self.right.outer or partners is None:
            return False
        if not self.inputs[0 if dl else 1].emits_consolidated:
            return False
        return all(len(found) == 1 and found[0][-1] != 0 for found in partners.values())

    def _frame(self, rows: list[tuple]) -> pl.DataFrame:
        """The output frame of these row tuples (id first, diff last)."""
        if self._builders is not None:
            built = columns_frame(rows, self._builders)
            if built is not None:
                return built
        return frame_from_rows(rows, self._id_schema)

    def _finish(self, out: pl.DataFrame | None) -> pl.DataFrame | None:
        if out is not None and self.id_from is not None:
            self._check_unique(out)
        return out

    def _pair(self, lrows: pl.DataFrame | None, rrows: pl.DataFrame | None) -> pl.LazyFrame | None:
        """``lrows ⋈ rrows`` (a query, collected with the rest of the call's output)."""
        if lrows is None or rrows is None:
            return None
        joined = lrows.lazy().join(
            rrows.lazy().rename({DIFF: "_rdiff"}), on=KEY, how="inner", nulls_equal=True
        )
        return joined.with_columns((pl.col(DIFF) * pl.col("_rdiff")).alias(DIFF))

    def _unmatched(
        self,
        side: JoinSide,
        other: JoinSide,
        delta: pl.DataFrame | None,
        touched: list,
        other_before: dict,
    ) -> pl.DataFrame | None:
        """Change of ``side``'s rows without a partner, over the keys of this call."""
        counts = other.arrangement
        still_alone: set = set()
        lost_partner: list = []
        found_partner: list = []
        for key in touched:
            before, after = other_before[key], counts.count(key)
            if before == 0 and after == 0:
                still_alone.add(key)
            elif before == 0:
                found_partner.append(key)
            elif after == 0:
                lost_partner.append(key)
        pieces: list[pl.DataFrame] = []
        if delta is not None and still_alone:
            if len(still_alone) == len(touched):
                pieces.append(delta)
            else:
                pieces.append(_with_keys(delta, list(still_alone)))
        if lost_partner:
            rows = side.arrangement.lookup(lost_partner)
            if rows is not None:
                pieces.append(rows)
        if found_partner:
            # The rows that were alone before this call: the current rows minus this delta.
            rows = side.arrangement.lookup(found_partner)
            if rows is not None:
                pieces.append(rows.with_columns(-pl.col(DIFF)))
            if delta is not None:
                pieces.append(_with_keys(delta, found_partner))
        alone = concat_batches(pieces)
        if alone is None:
            return None
        return alone.with_columns(other.nulls(alone.height))

    # --- ids -----------------------------------------------------------------------------------
    def _with_ids(self, frame: pl.LazyFrame) -> pl.LazyFrame:
        if self._ids is None:  # (built once: ``pair_id`` makes several literals)
            if self.id_from == "left":
                ids = pl.col(self.left.id_column)
            elif self.id_from == "right":
                ids = pl.col(self.right.id_column)
            else:
                ids = pair_id(self.left.id_column, self.right.id_column)
            self._ids = [ids.alias(ID), pl.all().exclude(DIFF), pl.col(DIFF).cast(DIFF_DTYPE)]
        return frame.select(self._ids)

    def _check_unique(self, out: pl.DataFrame) -> None:
        counts = self._id_counts
        for row_id, diff in zip(out[ID].to_list(), out[DIFF].to_list(), strict=True):
            total = counts.get(row_id, 0) + diff
            if total:
                counts[row_id] = total
            else:
                counts.pop(row_id, None)
            self._touched.add(row_id)

    def end_of_time(self, time: int, ctx: RunContext) -> None:
        if not self._touched:
            return
        touched, self._touched = self._touched, set()
        counts = self._id_counts
        for row_id in touched:
            if counts.get(row_id, 0) > 1:
                side = self.id_from
                raise EngineError(
                    f"{self.name}: id={side}.id gives several rows the id {row_id:#x} at time "
                    f"{time}: a {side} row matches more than one row of the other side"
                )


# Pair ids: a 128-bit multiply-xorshift mix of the two ids, written once for Polars (whole
# batches) and once for Python ints (a few rows); both give the same value for the same pair.
_MIX_1 = 0x9E3779B97F4A7C15F39CC0605CEDC835
_MIX_2 = 0xC2B2AE3D27D4EB4F165667B19E3779F9
_ABSENT = 0x5EED_0000_0000_0000_0000_0000_0000_0101  # stands for the id of a missing side
_MOD = 2**128
_HALF = 2**64
_MASK = _MOD - 1


def pair_id(left: str, right: str) -> pl.Expr:
    """The id of the joined row made of the rows with ids in columns ``left`` and ``right``."""
    u128 = ID_DTYPE

    def lit(value: int) -> pl.Expr:
        return pl.lit(value, dtype=u128)

    mixed = pl.col(left).fill_null(lit(_ABSENT)) * lit(_MIX_1) + pl.col(right).fill_null(
        lit(_ABSENT)
    )
    mixed = mixed.xor(mixed // lit(_HALF))
    mixed = mixed * lit(_MIX_2)
    return mixed.xor(mixed // lit(_HALF))


def pair_id_value(left: int | None, right: int | None) -> int:
    """``pair_id`` for one pair of Python ints.

    >>> import polars as pl
    >>> frame = pl.DataFrame({"l": [3, None, 2**127 + 5], "r": [5, 7, 2**128 - 1]},
    ...                      schema={"l": pl.UInt128, "r": pl.UInt128})
    >>> frame.select(pair_id("l", "r"))["l"].to_list() == [pair_id_value(3, 5),
    ...     pair_id_value(None, 7), pair_id_value(2**127 + 5, 2**128 - 1)]
    True
    """
    mixed = ((_ABSENT if left is None else left) * _MIX_1 + (
        _ABSENT if right is None else right)) & _MASK
    mixed ^= mixed >> 64
    mixed = (mixed * _MIX_2) & _MASK
    return mixed ^ (mixed >> 64)


def _left_id(left: int | None, right: int | None) -> int | None:
    return left


def _right_id(left: int | None, right: int | None) -> int | None:
    return right


# The id of an output row from its input rows' ids, for each ``id_from``.
_ROW_ID: dict[str | None, Callable[[int | None, int | None], int | None]] = {
    None: pair_id_value, "left": _left_id, "right": _right_id,
}
# What ``_process_tuples`` returns when a call is better left to the columnar path.
_TOO_MANY = object()
def _unmatched_rows(
    side: JoinSide, other: JoinSide, delta: list[tuple], touched: list, other_before: dict
) -> list[tuple]:
    """``JoinOperator._unmatched`` on row tuples (``key, id, values..., diff``)."""
    counts = other.arrangement
    out: list[tuple] = []
    alone_before: set = set()
    for key in touched:
        before, after = other_before[key], counts.count(key)
        if before == 0 and after == 0:
            alone_before.add(key)
        elif before == 0:
            # Rows alone before this call leave: the current rows minus this call's delta.
            out.extend((*r[:-1], -r[-1]) for r in side.arrangement.lookup_rows([key]))
            out.extend(r for r in delta if r[0] == key)
        elif after == 0:
            out.extend(side.arrangement.lookup_rows([key]))
    out.extend(r for r in delta if r[0] in alone_before)
    return out


def _pair_rows(
    delta: list[tuple],
    partners: dict[object, list[tuple]],
    left_is_delta: bool,
    row_id: Callable[[int | None, int | None], int | None],
) -> list[tuple]:
    """``delta ⋈ partners`` as output row tuples (id, left values, right values, diff);
    ``delta`` rows are ``key, id, values..., diff`` and ``partners`` holds such rows by key."""
    out: list[tuple] = []
    if not partners:
        return out
    append = out.append
    get = partners.get
    for row in delta:
        found = get(row[0])
        if found is None:
            continue
        values, diff = row[1:-1], row[-1]
        for other in found:
            if left_is_delta:
                append((row_id(row[1], other[1]), *values, *other[1:-1], diff * other[-1]))
            else:
                append((row_id(other[1], row[1]), *other[1:-1], *values, diff * other[-1]))
    return out


def _consolidate_rows(rows: list[tuple]) -> list[tuple]:
    """Merge row tuples (diff last) that are equal but for their diff; drop zero totals."""
    totals: dict = {}
    get = totals.get
    try:
        for row in rows:
            values = row[:-1]
            totals[values] = get(values, 0) + row[-1]
    except TypeError:  # list cells
        return _consolidate_by_text(rows)
    if len(totals) == len(rows):  # nothing merged
        return [row for row in rows if row[-1] != 0]
    return [(*values, total) for values, total in totals.items() if total != 0]


def _consolidate_by_text(rows: list[tuple]) -> list[tuple]:
    """``_consolidate_rows`` for rows that cannot be hashed, compared by their text form."""
    totals: dict[str, list] = {}
    for row in rows:
        values = row[:-1]
        key = repr(values)
        entry = totals.get(key)
        if entry is None:
            totals[key] = [values, row[-1]]
        else:
            entry[1] += row[-1]
    return [(*values, total) for values, total in totals.values() if total != 0]


def _with_keys(frame: pl.DataFrame, keys: list) -> pl.DataFrame:
    """The rows of ``frame`` whose ``_key`` is one of ``keys`` (null keys included)."""
    wanted = pl.DataFrame({KEY: pl.Series(keys, dtype=frame.schema[KEY])})
    return frame.join(wanted, on=KEY, how="semi", nulls_equal=True)
