"""Order-aware stateful operators: sorting (neighbour pointers) and deduplication.

``SortOperator`` keeps every row in a sorted container keyed by ``(instance, key, id)``. A
change moves only the changed rows and re-emits only the rows whose neighbours changed: the
neighbours of a removed row (in the old order) and of an inserted row (in the new order).

``DeduplicateOperator`` keeps, per instance, the last value its acceptor accepted and the row
that carried it; it looks at rows in arrival order.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import numpy as np
import polars as pl
from sortedcontainers import SortedList

from reflow.engine.batch import DIFF, DIFF_DTYPE, ID, ID_DTYPE, consolidate
from reflow.engine.ids import hash_columns, hash_values
from reflow.engine.operator import Operator, RunContext
from reflow.engine.state.partition import Broadcast, owners, single_partition
from reflow.engine.state.row_store import Ref, RowStore

PREV = "prev"
NEXT = "next"


def sortable_values(series: pl.Series) -> list[Any]:
    """Python values of ``series`` that compare like the column (``None`` first)."""
    if series.dtype.is_temporal():
        series = series.to_physical()
    if series.dtype.is_float():
        # NaN sorts after every number, as Polars sorts it.
        return [(0,) if v is None else (2,) if v != v else (1, v) for v in series.to_list()]
    return [(0,) if v is None else (1, v) for v in series.to_list()]


class SortOperator(Operator):
    """For every row, the ids of the previous and next rows in ``key`` order within instance.

    Rows with equal keys are ordered by id. The input batch has the columns ``key_column``
    and, if given, ``instance_column``; with ``value_columns`` the output also carries those
    columns of the row and, prefixed by ``prev_prefix``, of the previous row (for
    ``pw.ordered.diff``).

    >>> import polars as pl
    >>> from reflow.engine.operator import RunContext
    >>> from reflow.engine.operators.stateless import InputOperator
    >>> source = InputOperator("in", {"k": pl.Int64})
    >>> op = SortOperator(source, "sort", "k")
    >>> batch = pl.DataFrame({"_id": [1, 2, 3], "k": [30, 10, 20], "_diff": [1, 1, 1]},
    ...                      schema={"_id": pl.UInt128, "k": pl.Int64, "_diff": pl.Int64})
    >>> sorted(op.process(0, [batch], RunContext()).select("_id", "prev", "next").rows())
    [(1, 3, None), (2, None, 3), (3, 2, 1)]
    """

    state_fields = ("order", "entries", "extra", "store")

    stateful = True

    def __init__(
        self,
        source: Operator,
        name: str,
        key_column: str,
        instance_column: str | None = None,
        value_columns: dict[str, pl.DataType] | None = None,
        prev_prefix: str = "\x00prev_",
    ) -> None:
        super().__init__([source], name)
        self.key_column = key_column
        self.instance_column = instance_column
        self.value_columns = dict(value_columns or {})
        self.prev_prefix = prev_prefix
        self.order = SortedList()
        self.entries: dict[int, tuple] = {}  # id -> (instance, key, id)
        self.extra: dict[int, int] = {}  # ids inserted more often than retracted
        self.store = RowStore(self.value_columns) if self.value_columns else None

    def _instances(self, delta: pl.DataFrame) -> list[Any]:
        if self.instance_column is None:
            return [0] * delta.height
        return hash_columns(delta, [self.instance_column]).to_list()

    def _neighbours(self, entry: tuple) -> tuple[int | None, int | None]:
        """Ids of the rows before and after ``entry`` (which is in the order)."""
        order = self.order
        at = order.bisect_left(entry)
        prev = order[at - 1] if at > 0 else None
        nxt = order[at + 1] if at + 1 < len(order) else None
        return (
            prev[2] if prev is not None and prev[0] == entry[0] else None,
            nxt[2] if nxt is not None and nxt[0] == entry[0] else None,
        )

    def _around(self, entry: tuple) -> list[int]:
        """Ids of the rows on both sides of where ``entry`` is or would be."""
        order = self.order
        at = order.bisect_left(entry)
        out = []
        if at > 0:
            out.append(order[at - 1][2])
        end = at + 1 if at < len(order) and order[at] == entry else at
        if end < len(order):
            out.append(order[end][2])
        return out

    def _outputs(self, candidates: list[int]) -> dict[int, tuple]:
        """The output row (prev, next, own row, previous row) of every present candidate."""
        out: dict[int, tuple] = {}
        entries = self.entries
        store = self.store
        for row_id in candidates:
            entry = entries.get(row_id)
            if entry is None:
                continue
            prev, nxt = self._neighbours(entry)
            if store is None:
                out[row_id] = (prev, nxt, None, None)
            else:
                out[row_id] = (prev, nxt, store.ref(row_id),
                               None if prev is None else store.ref(prev))
        return out

    def partition_key(
        self, input_index: int, delta: pl.DataFrame, ctx: RunContext
    ) -> pl.Series | Broadcast:
        """The instance: a sorted sequence lives in one shard."""
        if self.instance_column is None:
            return single_partition(delta)
        return hash_columns(delta, [self.instance_column])

    def process(
        self, time: int, deltas: list[pl.DataFrame | None], ctx: RunContext
    ) -> pl.DataFrame | None:
        (delta,) = deltas
        assert delta is not None  # a one-input operator runs only when its input changed
        if not self.entries and self._bulk_ok(delta):
            return self._bulk_load(delta)
        ids = delta[ID].to_list()
        diffs = delta[DIFF].to_list()
        keys = sortable_values(delta[self.key_column])
        instances = self._instances(delta)
        entries = self.entries
        extra = self.extra
        before: dict[int, tuple | None] = {}
        after: dict[int, tuple | None] = {}
        for row_id, diff, key, instance in zip(ids, diffs, keys, instances, strict=True):
            if row_id not in before:
                before[row_id] = after[row_id] = entries.get(row_id)
            current = after[row_id]
            if diff > 0:
                if current is not None or diff > 1:
                    extra[row_id] = extra.get(row_id, 0 if current is None else 1) + diff
                after[row_id] = (instance, key, row_id)
            elif current is not None:
                count = extra.pop(row_id, 1) + diff
                if count > 1:
                    extra[row_id] = count
                elif count <= 0:
                    after[row_id] = None
        # Rows whose neighbours may change: the touched rows and the rows next to where a
        # touched row was or goes, all found in the old order.
        candidates = dict.fromkeys(before)
        for row_id, old in before.items():
            if old is not None:
                candidates.update(dict.fromkeys(self._around(old)))
            new = after[row_id]
            if new is not None and new != old:
                candidates.update(dict.fromkeys(self._around(new)))
        candidate_ids = list(candidates)
        old_out = self._outputs(candidate_ids)
        order = self.order
        for row_id, old in before.items():
            new = after[row_id]
            if old != new:
                if old is not None:
                    order.remove(old)
                if new is not None:
                    order.add(new)
                    entries[row_id] = new
                else:
                    del entries[row_id]
        if self.store is not None:
            self.store.apply(delta, ids)
        new_out = self._outputs(candidate_ids)
        return self._emit(candidate_ids, old_out, new_out)

    def _emit(
        self,
        candidates: list[int],
        old_out: dict[int, tuple],
        new_out: dict[int, tuple],
    ) -> pl.DataFrame | None:
        out_ids: list[int] = []
        out_rows: list[tuple] = []
        out_diffs: list[int] = []
        for row_id in candidates:
            old = old_out.get(row_id)
            new = new_out.get(row_id)
            if old == new:
                continue
            if old is not None:
                out_ids.append(row_id)
                out_rows.append(old)
                out_diffs.append(-1)
            if new is not None:
                out_ids.append(row_id)
                out_rows.append(new)
                out_diffs.append(1)
        store = self.store
        if not out_ids:
            if store is not None:
                store.collect()
            return None
        frame = pl.DataFrame(
            {
                ID: pl.Series(out_ids, dtype=ID_DTYPE),
                PREV: pl.Series([r[0] for r in out_rows], dtype=ID_DTYPE),
                NEXT: pl.Series([r[1] for r in out_rows], dtype=ID_DTYPE),
            }
        )
        if store is not None:
            own = store.gather([r[2] for r in out_rows])
            prev_rows = store.gather([r[3] for r in out_rows])
            prev_rows = prev_rows.rename({c: self.prev_prefix + c for c in prev_rows.columns})
            frame = pl.concat([frame, own, prev_rows], how="horizontal")
            store.collect()
        frame = frame.with_columns(pl.Series(DIFF, out_diffs, dtype=DIFF_DTYPE))
        return consolidate(frame)

    # --- the first batch, in one vectorized pass --------------------------------------------
    def _bulk_ok(self, delta: pl.DataFrame) -> bool:
        if delta.height < 64 or delta.schema[self.key_column] == pl.Object:
            return False
        if any(dtype == pl.Object for dtype in self.value_columns.values()):
            return False
        diffs = delta[DIFF]
        return diffs.min() == 1 and diffs.max() == 1 and not delta[ID].is_duplicated().any()

    def _bulk_load(self, delta: pl.DataFrame) -> pl.DataFrame:
        key = delta[self.key_column]
        if key.dtype.is_temporal():
            key = key.to_physical()
        if self.instance_column is None:
            instance = pl.Series("_instance", [0] * delta.height, dtype=pl.Int64)
        else:
            instance = hash_columns(delta, [self.instance_column]).alias("_instance")
        frame = pl.DataFrame({ID: delta[ID], "_instance": instance, "_key": key})
        frame = frame.with_row_index("_row").sort(
            ["_instance", "_key", ID], nulls_last=False, maintain_order=True
        )
        same_prev = pl.col("_instance") == pl.col("_instance").shift(1)
        same_next = pl.col("_instance") == pl.col("_instance").shift(-1)
        out = frame.select(
            ID,
            pl.when(same_prev).then(pl.col(ID).shift(1)).alias(PREV),
            pl.when(same_next).then(pl.col(ID).shift(-1)).alias(NEXT),
            "_row",
            same_prev.fill_null(False).alias("_has_prev"),
        )
        ids = out[ID].to_list()
        keys = sortable_values(frame["_key"])
        entries = list(zip(frame["_instance"].to_list(), keys, ids, strict=True))
        self.order.update(entries)
        self.entries.update(zip(ids, entries))
        result = out.select(ID, PREV, NEXT)
        if self.store is not None:
            self.store.apply(delta)
            values = delta.select(list(self.value_columns))[out["_row"]]
            previous = values.shift(1).with_columns(
                pl.when(out["_has_prev"]).then(pl.col(c)).otherwise(None).alias(c)
                for c in values.columns
            )
            previous = previous.rename({c: self.prev_prefix + c for c in previous.columns})
            result = pl.concat([result, values, previous], how="horizontal")
        return result.with_columns(pl.lit(1, dtype=DIFF_DTYPE).alias(DIFF))


class DeduplicateOperator(Operator):
    """Per instance, the row whose value was accepted last; output ids hash the instance.

    Rows are looked at in arrival order (batch order within one time). The first row of an
    instance is always accepted; a later row replaces the kept one when
    ``acceptor(new_value, kept_value)`` is true. Retractions of input rows are ignored: a
    decision, once taken, stands until a newer accepted value replaces it.

    >>> import polars as pl
    >>> from reflow.engine.operator import RunContext
    >>> from reflow.engine.operators.stateless import InputOperator
    >>> source = InputOperator("in", {"v": pl.Int64})
    >>> op = DeduplicateOperator(source, "dedup", {"v": pl.Int64}, "v", None,
    ...                          lambda new, old: new > old, lambda s: s.to_list())
    >>> batch = pl.DataFrame({"_id": [1, 2, 3], "v": [5, 3, 7], "_diff": [1, 1, 1]},
    ...                      schema={"_id": pl.UInt128, "v": pl.Int64, "_diff": pl.Int64})
    >>> op.process(0, [batch], RunContext())["v"].to_list()
    [7]
    """

    state_fields = ("kept_values", "store")

    stateful = True

    def __init__(
        self,
        source: Operator,
        name: str,
        columns: dict[str, pl.DataType],
        value_column: str,
        instance_column: str | None,
        acceptor: Callable[[Any, Any], bool],
        to_python: Callable[[pl.Series], list[Any]],
        skip_column: str | None = None,
    ) -> None:
        super().__init__([source], name)
        self.columns = dict(columns)
        self.value_column = value_column
        self.instance_column = instance_column
        self.acceptor = acceptor
        self.to_python = to_python
        self.skip_column = skip_column
        self.kept_values: dict[int, Any] = {}
        self.store = RowStore(self.columns)
        self._no_instance = hash_values([])

    def split_state(self, workers: int) -> list[object]:
        """The kept value and row of each instance, cut by the owner of the instance's hash
        (their key here, and the route of its rows)."""

        def owner(instances: list[int]) -> np.ndarray:
            if self.instance_column is None:
                return np.zeros(len(instances), dtype=np.int64)  # one instance, partition 0
            return owners(instances, workers)

        rows = self.store.split(owner, workers)
        instances = list(self.kept_values)
        values: list[dict[int, Any]] = [{} for _ in range(workers)]
        for instance, worker in zip(instances, owner(instances).tolist(), strict=True):
            values[worker][instance] = self.kept_values[instance]
        return [{"rows": rows[w], "values": values[w]} for w in range(workers)]

    def merge_state(self, pieces: list[object]) -> None:
        parts = cast("list[dict[str, Any]]", pieces)
        self.kept_values = {k: v for part in parts for k, v in part["values"].items()}
        frames = [part["rows"] for part in parts if part["rows"].height]
        if frames:
            self.store.apply(pl.concat(frames, how="vertical"), replace=True)

    def partition_key(
        self, input_index: int, delta: pl.DataFrame, ctx: RunContext
    ) -> pl.Series | Broadcast:
        """The instance: its kept row lives in one shard."""
        if self.instance_column is None:
            return single_partition(delta)
        return hash_columns(delta, [self.instance_column])

    def process(
        self, time: int, deltas: list[pl.DataFrame | None], ctx: RunContext
    ) -> pl.DataFrame | None:
        (delta,) = deltas
        assert delta is not None  # a one-input operator runs only when its input changed
        diffs = delta[DIFF]
        inserted = delta if (diffs > 0).all() else delta.filter(pl.col(DIFF) > 0)
        if self.skip_column is not None and inserted[self.skip_column].any():
            inserted = inserted.filter(~pl.col(self.skip_column).fill_null(False))
        if inserted.height == 0:
            return None
        if self.instance_column is None:
            instances = [self._no_instance] * inserted.height
        else:
            instances = hash_columns(inserted, [self.instance_column]).to_list()
        values = self.to_python(inserted[self.value_column])
        kept = self.kept_values
        accepted_rows: list[int] = []
        changed: dict[int, Ref | None] = {}
        for position, (instance, value) in enumerate(zip(instances, values, strict=True)):
            if instance in kept:
                try:
                    accept = bool(self.acceptor(value, kept[instance]))
                except Exception as exc:  # noqa: BLE001 - a user exception is a row error
                    ctx.report_error(self.name, f"acceptor failed: {exc!r}",
                                     inserted[ID][position])
                    continue
                if not accept:
                    continue
            if instance not in changed:
                changed[instance] = self.store.ref(instance)
            kept[instance] = value
            accepted_rows.append(position)
        if not accepted_rows:
            return None
        # Only the last accepted row of each instance is kept.
        last = list({instances[i]: i for i in accepted_rows}.values())
        accepted = inserted[last]
        accepted.replace_column(
            accepted.get_column_index(ID),
            pl.Series(ID, [instances[i] for i in last], dtype=ID_DTYPE),
        )
        self.store.apply(accepted, replace=True)
        out_ids: list[int] = []
        refs: list[Ref | None] = []
        out_diffs: list[int] = []
        for instance, old in changed.items():
            if old is not None:
                out_ids.append(instance)
                refs.append(old)
                out_diffs.append(-1)
            out_ids.append(instance)
            refs.append(self.store.ref(instance))
            out_diffs.append(1)
        rows = self.store.gather(refs)
        rows.insert_column(0, pl.Series(ID, out_ids, dtype=ID_DTYPE))
        rows.insert_column(rows.width, pl.Series(DIFF, out_diffs, dtype=DIFF_DTYPE))
        self.store.collect()
        return consolidate(rows) if len(out_ids) > len(changed) else rows


__all__ = ["DeduplicateOperator", "SortOperator", "sortable_values"]
