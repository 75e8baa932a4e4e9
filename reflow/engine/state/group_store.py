"""The columnar tier of the reduce operator's state.

``ColumnarGroups`` keeps every input row of the groups it owns in one Polars frame sorted by
group id (``_gid``) and one output record per group, written by large batches in vectorized
passes. A group can be *taken* by the Python tier (its rows and record are handed over once,
then ignored here) and is given back when a later large batch touches it.

Row frame columns: ``_gid``, ``_id``, the grouping keys, ``v0..`` (argument values),
``f0..`` (per-aggregate error flags, or null when the arguments cannot fail), ``_time``,
``_sort``, ``_mult`` (multiplicity). Rows are sorted by ``_slot``, the low 64 bits of the group
id (much cheaper to sort than 128 bits); a group's rows are found through the span of its slot
and picked out by their full id.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import cast

import numpy as np
import polars as pl

from reflow.engine.batch import ID, ID_DTYPE
from reflow.engine.state.snapshot import Snapshottable

_LOW_BITS = (1 << 64) - 1


def out_column(position: int) -> str:
    """The name aggregations give output column ``position`` before it gets its real name."""
    return f"\x00out{position}"


def slot_expr() -> pl.Expr:
    """The ``_slot`` of a row: the low 64 bits of its group id."""
    return (pl.col("_gid") % (1 << 64)).cast(pl.UInt64).alias("_slot")


class ColumnarGroups(Snapshottable):
    """Group rows and output records held as Polars frames, indexed by group id."""

    state_fields = ("rows", "layout", "ranges", "records", "index", "moved")

    def __init__(
        self,
        key_columns: Sequence[str],
        out_columns: Sequence[tuple[str, pl.DataType]],
        aggregations: Sequence[pl.Expr],
    ) -> None:
        self.key_columns = list(key_columns)
        self.out_columns = list(out_columns)
        self.aggregations = list(aggregations)
        self.rows: pl.DataFrame | None = None
        self.layout: tuple = ()
        self.ranges: dict[int, tuple[int, int]] = {}
        self.records: pl.DataFrame | None = None
        self.index: dict[int, int] = {}
        self.moved: set[int] = set()

    def row_count(self) -> int:
        return 0 if self.rows is None else self.rows.height

    # --- handing a group to the Python tier ---------------------------------------------------
    def take(self, gid: int) -> tuple[tuple | None, list[tuple]] | None:
        """``(output record, rows)`` of group ``gid``, which from now on belongs to the caller;
        ``None`` when this tier does not hold the group."""
        if gid in self.moved:
            return None
        span = self.ranges.get(gid & _LOW_BITS)
        position = self.index.get(gid)
        if span is None and position is None:
            return None
        self.moved.add(gid)
        output = None
        if position is not None:
            assert self.records is not None  # the group has a position in the records
            output = tuple(self.records.row(position)[1:])
        rows: list[tuple] = []
        if span is not None:
            assert self.rows is not None  # the group has a span in the rows
            i_gid, i_id, values, flags, i_time, i_sort, i_mult = self.layout
            for row in self.rows.slice(span[0], span[1]).rows():
                if row[i_gid] != gid:
                    continue
                rows.append((
                    row[i_id],
                    row[values],
                    tuple(bool(f) for f in row[flags]),
                    row[i_time],
                    row[i_sort],
                    row[i_mult],
                ))
        return output, rows

    def _set_rows(self, rows: pl.DataFrame) -> None:
        self.rows = rows
        names = rows.columns
        values = [i for i, c in enumerate(names) if c.startswith("v") and c[1:].isdigit()]
        flags = [i for i, c in enumerate(names) if c.startswith("f") and c[1:].isdigit()]
        self.layout = (
            names.index("_gid"),
            names.index(ID),
            slice(values[0], values[-1] + 1) if values else slice(0, 0),
            slice(flags[0], flags[-1] + 1) if flags else slice(0, 0),
            names.index("_time"),
            names.index("_sort"),
            names.index("_mult"),
        )

    # --- another number of shards ---------------------------------------------------------------
    def split(self, owner: Callable[[pl.Series], np.ndarray], workers: int) -> list[dict]:
        """The rows and records of the groups still held here (not moved to the Python tier),
        cut among ``workers`` shards by ``owner`` of their group ids, for ``merge``."""
        rows, records = self.rows, self.records
        if self.moved:
            moved = pl.Series(list(self.moved), dtype=ID_DTYPE).implode()
            rows = None if rows is None else rows.filter(~pl.col("_gid").is_in(moved))
            records = None if records is None else records.filter(~pl.col(ID).is_in(moved))
        def cut(frame: pl.DataFrame | None, column: str) -> list[pl.DataFrame | None]:
            if frame is None:
                return [None] * workers
            owned = owner(frame[column])
            return [frame.filter(pl.Series(owned == worker)) for worker in range(workers)]

        return [{"rows": r, "records": g}
                for r, g in zip(cut(rows, "_gid"), cut(records, ID), strict=True)]

    def merge(self, pieces: list[dict]) -> None:
        """Load the groups of ``pieces`` (``split`` of tiers holding other groups) into this
        empty tier."""
        rows = [piece["rows"] for piece in pieces if piece["rows"] is not None]
        records = [piece["records"] for piece in pieces if piece["records"] is not None]
        if rows:
            merged = pl.concat(rows, how="vertical").sort("_slot")
            self._set_rows(merged)
            runs = merged["_slot"].rle().struct.unnest()
            lengths = runs["len"]
            starts = lengths.cum_sum() - lengths
            self.ranges = dict(zip(runs["value"].to_list(),
                                   zip(starts.to_list(), lengths.to_list(), strict=True),
                                   strict=True))
        if records:
            self.records = pl.concat(records, how="vertical")
            self.index = dict(zip(self.records[ID].to_list(), range(self.records.height),
                                  strict=True))
        self.moved = set()

    # --- large batches ---------------------------------------------------------------------------
    def apply(
        self,
        frame: pl.DataFrame,
        affected: pl.Series,
        returned_rows: pl.DataFrame | None,
        returned_outputs: list[tuple[int, tuple]],
        returned_gids: Sequence[int],
    ) -> tuple[pl.DataFrame, pl.DataFrame]:
        """Merge a batch of rows (``_mult`` = diff) and the groups the Python tier gives back,
        recompute the affected groups, and return ``(new records, old records)`` of them."""
        in_affected = pl.col("_gid").is_in(affected.implode())
        stale = list(self.moved.intersection(affected.to_list())) if self.moved else []
        stale_series = pl.Series(stale, dtype=ID_DTYPE)
        touched = rest = None
        if self.rows is not None and self.rows.height:
            existing = self.rows
            if stale:
                existing = existing.filter(~pl.col("_gid").is_in(stale_series.implode()))
            touched = existing.filter(in_affected)
            rest = existing.filter(~in_affected)
        parts = [p for p in (touched, returned_rows) if p is not None and p.height]
        # Rows repeating a row id need no merging: every aggregation here weighs rows by their
        # multiplicity, so two copies count like one row of multiplicity two.
        needs_merge = bool(parts) or bool((frame["_mult"] < 0).any())
        if needs_merge:
            combined = pl.concat(
                [p.select(frame.columns).cast(frame.schema) for p in parts] + [frame],
                how="vertical_relaxed",
            )
            others = [c for c in frame.columns if c not in ("_gid", ID, "_mult", "_slot")]
            merged = (
                combined.group_by(["_gid", ID], maintain_order=True)
                .agg(
                    pl.col("_mult").sum(),
                    *(pl.col(c).filter(pl.col("_mult") > 0).last() for c in others),
                )
                .filter(pl.col("_mult") != 0)
                .with_columns(slot_expr())
                .select(frame.columns)
            )
        else:
            merged = frame
        if rest is not None and rest.height:
            rows = pl.concat([rest, merged.cast(rest.schema)]).sort("_slot")
        else:
            rows = merged.sort("_slot")
        self._set_rows(rows)
        # Rows are sorted by slot, so each slot is one run: its span comes from run lengths.
        runs = rows["_slot"].rle().struct.unnest()
        lengths = runs["len"]
        starts = lengths.cum_sum() - lengths
        self.ranges = dict(
            zip(runs["value"].to_list(),
                zip(starts.to_list(), lengths.to_list(), strict=True),
                strict=True)
        )

        smallest = cast("int | None", rows["_mult"].min())
        live = rows if smallest is not None and smallest > 0 else rows.filter(pl.col("_mult") > 0)
        if rest is not None and rest.height:
            live = live.filter(in_affected)
        # Grouping by the sorted 64-bit slot is much cheaper than by the 128-bit id; it is
        # exact unless two groups share a slot, which is checked for.
        shared_slot = live.select(
            ((pl.col("_slot") == pl.col("_slot").shift(1))
             & (pl.col("_gid") != pl.col("_gid").shift(1))).any()
        ).item()
        if shared_slot:
            grouped, group_id = live.group_by("_gid"), []
        else:
            grouped = live.set_sorted("_slot").group_by("_slot", maintain_order=True)
            group_id = [pl.col("_gid").first()]
        new_records = (
            grouped
            .agg(
                *group_id,
                *(pl.col(k).first().alias(out_column(i)) for i, k in enumerate(self.key_columns)),
                *self.aggregations,
            )
            .select(
                pl.col("_gid").alias(ID),
                *((pl.col(out_column(i)) if dtype == pl.Object
                   else pl.col(out_column(i)).cast(dtype)).alias(name)
                  for i, (name, dtype) in enumerate(self.out_columns)),
            )
        )
        old_parts = []
        if self.records is not None and self.records.height:
            old = self.records.filter(pl.col(ID).is_in(affected.implode()))
            if stale:
                old = old.filter(~pl.col(ID).is_in(stale_series.implode()))
            old_parts.append(old)
            kept = self.records.filter(~pl.col(ID).is_in(affected.implode()))
        else:
            kept = None
        if returned_outputs:
            old_parts.append(self._records_frame(returned_outputs))
        schema = {ID: ID_DTYPE(), **dict(self.out_columns)}
        old_records = (
            pl.concat(old_parts, how="vertical_relaxed") if old_parts
            else pl.DataFrame(schema=schema)
        )
        self.records = (
            pl.concat([kept, new_records], how="vertical_relaxed")
            if kept is not None and kept.height else new_records
        )
        self.index = dict(zip(self.records[ID].to_list(), range(self.records.height),
                              strict=True))
        self.moved.difference_update(stale)
        self.moved.difference_update(returned_gids)
        return new_records, old_records

    def _records_frame(self, outputs: list[tuple[int, tuple]]) -> pl.DataFrame:
        series = [pl.Series(ID, [gid for gid, _ in outputs], dtype=ID_DTYPE)]
        for position, (name, dtype) in enumerate(self.out_columns):
            series.append(
                pl.Series(name, [row[position] for _, row in outputs], dtype=dtype, strict=False)
            )
        return pl.DataFrame(series)
