"""As-of join: each row of the driving side is paired with the row of the other side with the
same key whose time is the closest before it (backward), after it (forward) or either
(nearest); a partner with the same time counts as before and as after. Among partners with
equal times, backward takes the one with the largest id, forward the smallest.

Both sides are kept as live rows; a change touching key ``k`` recomputes the pairs of ``k``
with one vectorized ``join_asof`` over that key's rows and emits the difference with the
previous pairs of ``k``. The cost of a change is proportional to the size of its key's group.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal, cast

import polars as pl

from reflow.engine.batch import DIFF, ID, ID_DTYPE, concat_batches, consolidate, negate
from reflow.engine.ids import hash_columns
from reflow.engine.operator import Operator, RunContext
from reflow.engine.state.partition import Broadcast

KEY = "_pw_k"
TIME = "_pw_t"
_SIDE_TIME = ("_pw_lt", "_pw_rt")
_Direction = Literal["backward", "forward", "nearest"]  # the strategies of join_asof
SIDES = ("left", "right")


def _append(frame: pl.DataFrame, extra: pl.DataFrame | None) -> pl.DataFrame:
    """``frame`` and ``extra`` one after the other, without copying until chunks pile up."""
    if extra is None or extra.height == 0:
        return frame
    out = pl.concat([frame, extra.select(frame.columns)], how="vertical_relaxed",
                    rechunk=False)
    return out.rechunk() if out.n_chunks() > 32 else out


class AsofJoinOperator(Operator):
    """``how`` is ``"left"`` (one output per left row), ``"right"`` (one per right row),
    ``"outer"`` (both) or ``"inner"`` (left rows that found a partner).

    Inputs carry ``_pw_k`` (the hashed equality key) and ``_pw_t`` (physical time); the
    output has the columns of ``columns`` (``left.id``, ``left.<name>``, ``right.id``, ...),
    where ``renames[side]`` maps an input column to its output name.
    """

    state_fields = ("live", "output")

    stateful = True

    def __init__(
        self,
        left: Operator,
        right: Operator,
        name: str,
        renames: tuple[Mapping[str, str], Mapping[str, str]],
        columns: Mapping[str, pl.DataType],
        how: str,
        direction: str,
    ) -> None:
        super().__init__([left, right], name)
        self.renames = renames
        self.columns = dict(columns)
        self.how = how
        self.direction = direction
        self.live: list[pl.DataFrame | None] = [None, None]
        self.output: pl.DataFrame | None = None

    def _prepare(self, side: int, delta: pl.DataFrame) -> pl.DataFrame:
        rename = self.renames[side]
        return delta.select(
            pl.col(ID),
            pl.col(ID).alias(f"{SIDES[side]}.id"),
            *(pl.col(src).alias(dst) for src, dst in rename.items()),
            pl.col(KEY),
            pl.col(TIME).alias(_SIDE_TIME[side]),
            pl.col(DIFF),
        )

    def partition_key(
        self, input_index: int, delta: pl.DataFrame, ctx: RunContext
    ) -> pl.Series | Broadcast:
        """The equality key: rows that can be paired live in one shard."""
        return hash_columns(delta, [KEY])

    def process(
        self, time: int, deltas: list[pl.DataFrame | None], ctx: RunContext
    ) -> pl.DataFrame | None:
        prepared = [
            self._prepare(side, delta) if delta is not None else None
            for side, delta in enumerate(deltas)
        ]
        touched = pl.concat([p[KEY] for p in prepared if p is not None]).unique().implode()
        in_touched = pl.col(KEY).is_in(touched)
        subs: list[pl.DataFrame | None] = []
        for side in (0, 1):
            live, change = self.live[side], prepared[side]
            if live is None:  # the first rows of this side
                if change is not None:
                    merged = consolidate(change)
                    self.live[side] = merged if merged is not None else change.clear()
                    change = merged
                subs.append(change)
                continue
            sub = live.filter(in_touched)
            if change is not None:
                # only the touched keys' rows are merged with the change
                merged = consolidate(pl.concat([sub, change], how="vertical_relaxed"))
                sub = merged if merged is not None else change.clear()
                self.live[side] = _append(live.filter(~in_touched), sub)
            subs.append(sub)
        new = self._pairs(subs)
        old = None
        if self.output is not None:
            old = self.output.filter(in_touched)
            self.output = _append(self.output.filter(~in_touched), new)
        else:
            self.output = new
        emitted = concat_batches([negate(old) if old is not None else None, new])
        if emitted is None:
            return None
        return consolidate(emitted.select(ID, *self.columns, DIFF))

    def _pairs(self, subs: list[pl.DataFrame | None]) -> pl.DataFrame | None:
        parts = []
        if self.how in ("left", "outer", "inner"):
            parts.append(self._driven(0, subs, keep_unmatched=self.how != "inner"))
        if self.how in ("right", "outer"):
            parts.append(self._driven(1, subs, keep_unmatched=True))
        return concat_batches(parts)

    def _driven(self, side: int, subs: list[pl.DataFrame | None],
                keep_unmatched: bool) -> pl.DataFrame | None:
        driver, other = subs[side], subs[1 - side]
        if driver is None or driver.height == 0:
            return None
        driver = driver.drop(ID)
        mine, theirs = _SIDE_TIME[side], _SIDE_TIME[1 - side]
        other_names = [f"{SIDES[1 - side]}.id", *self.renames[1 - side].values()]
        timed = driver.filter(pl.col(mine).is_not_null()).sort(mine)
        untimed = driver.filter(pl.col(mine).is_null())
        if other is not None and other.height:
            other_id = f"{SIDES[1 - side]}.id"
            candidates = other.filter(pl.col(theirs).is_not_null()).drop(ID, DIFF).sort(
                [theirs, other_id])
            if timed.height:
                joined = timed.join_asof(
                    candidates,
                    left_on=mine,
                    right_on=theirs,
                    by=KEY,
                    strategy=cast(_Direction, self.direction),
                    check_sortedness=False,
                )
            else:
                joined = timed.with_columns(
                    pl.lit(None, dtype=candidates.schema[c]).alias(c)
                    for c in [*other_names, theirs]
                )
        else:
            joined = timed.with_columns(
                pl.lit(None, dtype=self.columns[c]).alias(c) for c in other_names
            )
        rows = concat_batches([joined.select(driver.columns + other_names), untimed.with_columns(
            pl.lit(None, dtype=self.columns[c]).alias(c) for c in other_names
        ).select(driver.columns + other_names)])
        if rows is None:
            return None
        if not keep_unmatched:
            rows = rows.filter(pl.col(f"{SIDES[1 - side]}.id").is_not_null())
        ids = hash_columns(rows, [f"{SIDES[side]}.id"], f"asof-{SIDES[side]}")
        return rows.select(
            ids.cast(ID_DTYPE).alias(ID),
            pl.col(KEY),
            *(pl.col(c).cast(dtype) if dtype != pl.Object else pl.col(c)
              for c, dtype in self.columns.items()),
            pl.col(DIFF),
        )


class AsofNowJoinOperator(Operator):
    """Answers each left row once, against the right side's state at the time it arrives.

    A left insertion is paired with every right row of its key (``how="left"`` keeps it with
    empty right columns when there is none); the answer is never revised when the right side
    changes later. Deleting the left row retracts exactly the answer it was given.
    """

    state_fields = ("right", "answers")

    stateful = True

    def __init__(
        self,
        left: Operator,
        right: Operator,
        name: str,
        renames: tuple[Mapping[str, str], Mapping[str, str]],
        columns: Mapping[str, pl.DataType],
        how: str,
        id_from_left: bool = False,
    ) -> None:
        super().__init__([left, right], name)
        self.renames = renames
        self.columns = dict(columns)
        self.how = how
        self.id_from_left = id_from_left
        self.right: pl.DataFrame | None = None
        self.answers: pl.DataFrame | None = None

    def _prepare(self, side: int, delta: pl.DataFrame) -> pl.DataFrame:
        return delta.select(
            pl.col(ID),
            pl.col(ID).alias(f"{SIDES[side]}.id"),
            *(pl.col(src).alias(dst) for src, dst in self.renames[side].items()),
            pl.col(KEY),
            pl.col(DIFF),
        )

    def partition_key(
        self, input_index: int, delta: pl.DataFrame, ctx: RunContext
    ) -> pl.Series | Broadcast:
        """The equality key: a query meets the right rows of its key in one shard."""
        return hash_columns(delta, [KEY])

    def process(
        self, time: int, deltas: list[pl.DataFrame | None], ctx: RunContext
    ) -> pl.DataFrame | None:
        left, right = deltas
        if right is not None:
            prepared = self._prepare(1, right)
            merged = prepared if self.right is None else pl.concat(
                [self.right, prepared], how="vertical_relaxed")
            self.right = consolidate(merged)
            if self.right is None:
                self.right = prepared.clear()
        if left is None:
            return None
        left = self._prepare(0, left)
        out = []
        deleted = left.filter(pl.col(DIFF) < 0)
        if deleted.height and self.answers is not None:
            gone = pl.col("left.id").is_in(deleted["left.id"].implode())
            out.append(negate(self.answers.filter(gone)))
            self.answers = self.answers.filter(~gone)
        inserted = left.filter(pl.col(DIFF) > 0).drop(ID)
        if inserted.height:
            answer = self._answer(inserted)
            if answer is not None:
                self.answers = concat_batches([self.answers, answer])
                out.append(answer)
        emitted = concat_batches(out)
        return consolidate(emitted) if emitted is not None else None

    def _answer(self, inserted: pl.DataFrame) -> pl.DataFrame | None:
        right_names = ["right.id", *self.renames[1].values()]
        if self.right is not None and self.right.height:
            candidates = self.right.select(KEY, *right_names)
            joined = inserted.join(candidates, on=KEY,
                                   how="left" if self.how == "left" else "inner")
        elif self.how == "left":
            joined = inserted.with_columns(
                pl.lit(None, dtype=self.columns[c]).alias(c) for c in right_names)
        else:
            return None
        if joined.height == 0:
            return None
        if self.id_from_left:
            ids = joined["left.id"]
        else:
            ids = hash_columns(joined, ["left.id", "right.id"], "asof-now")
        return joined.select(
            ids.cast(ID_DTYPE).alias(ID),
            *(pl.col(c).cast(dtype) if dtype != pl.Object else pl.col(c)
              for c, dtype in self.columns.items()),
            pl.col(DIFF),
        )
