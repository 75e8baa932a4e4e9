"""Operators whose state is the current rows of their inputs, indexed by row id.

``RowStore`` keeps the live rows of one input without converting values to Python: a row is a
reference ``(chunk, position)`` into the batch it arrived in, and rows are gathered back from
those batches with Polars, so every dtype (nanosecond datetimes, objects, error companions)
round-trips exactly. A batch is dropped once none of its rows is live any more.

``KeyedOperator`` combines, id by id, the rows that N inputs currently hold under the same id
(``update_rows``, ``update_cells``, ``restrict``, ``difference``, ``intersect``,
``with_universe_of`` and zipping tables that share their ids). Processing a delta touches only
the ids it mentions: the cost is proportional to the change, not to the state.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import polars as pl

from reflow.engine.batch import DIFF, DIFF_DTYPE, ID, ID_DTYPE, concat_batches, consolidate
from reflow.engine.operator import Operator

Ref = int  # chunk number * 2**32 + position of the row in that chunk
NULL_CHUNK = -1
_SHIFT = 32
_MASK = (1 << _SHIFT) - 1
# Above this many rows, gathering goes through numpy instead of Python lists.
_BULK = 256


class RowStore:
    """The live rows of one input, by id, as references into the batches they came in.

    >>> import polars as pl
    >>> store = RowStore({"x": pl.Int64})
    >>> batch = pl.DataFrame({"_id": [1, 2], "x": [10, 20], "_diff": [1, 1]},
    ...                      schema={"_id": pl.UInt128, "x": pl.Int64, "_diff": pl.Int64})
    >>> _ = store.apply(batch)
    >>> store.gather([store.ref(2), None])["x"].to_list()
    [20, None]
    """

    def __init__(self, columns: dict[str, pl.DataType]) -> None:
        self.columns = dict(columns)
        self.rows: dict[int, Ref] = {}
        # Ids inserted more often than retracted (count above one); rare, kept aside.
        self.extra: dict[int, int] = {}
        self.chunks: dict[int, pl.DataFrame] = {
            NULL_CHUNK: pl.DataFrame(schema=self.columns).clear(1)
        }
        self.live: dict[int, int] = {}
        self._dead: set[int] = set()
        self._next_chunk = 0

    def __len__(self) -> int:
        return len(self.rows)

    def __contains__(self, row_id: int) -> bool:
        return row_id in self.rows

    def ref(self, row_id: int) -> Ref | None:
        return self.rows.get(row_id)

    def apply(
        self, delta: pl.DataFrame, ids: list[int] | None = None, replace: bool = False
    ) -> np.ndarray | None:
        """Add the rows of ``delta`` (a batch with ``_id`` and ``_diff``) to the store.

        A row's count is the sum of its diffs; its values are those of its latest insertion,
        so a retraction and a re-insertion of one id work in either order. When the batch only
        inserts new ids, returns their references (in batch order). With ``replace``, an
        insertion replaces the row with the same id instead of adding to its count.
        """
        chunk_no = self._next_chunk
        self._next_chunk += 1
        base = chunk_no << _SHIFT
        rows = self.rows
        if ids is None:
            ids = delta[ID].to_list()
        diffs = delta[DIFF]
        if diffs.min() == 1 and diffs.max() == 1 and (not rows or rows.keys().isdisjoint(ids)):
            # Only new rows (an initial load, typically): one bulk dictionary update.
            before = len(rows)
            rows.update(zip(ids, range(base, base + len(ids))))
            if len(rows) - before != len(ids):  # an id repeated inside the batch
                for row_id in ids:
                    rows.pop(row_id, None)
                self._apply_rows(delta, ids, chunk_no, replace)
                return None
            self.live[chunk_no] = len(ids)
            self.chunks[chunk_no] = delta.select(list(self.columns))
            return np.arange(base, base + len(ids), dtype=np.int64)
        self._apply_rows(delta, ids, chunk_no, replace)
        return None

    def _apply_rows(
        self, delta: pl.DataFrame, ids: list[int], chunk_no: int, replace: bool = False
    ) -> None:
        base = chunk_no << _SHIFT
        rows = self.rows
        extra = self.extra
        inserted = 0
        for position, (row_id, diff) in enumerate(zip(ids, delta[DIFF].to_list(), strict=True)):
            old = rows.get(row_id)
            if diff > 0:
                inserted += 1
                rows[row_id] = base + position
                if old is not None:
                    self._release(old >> _SHIFT)
                    if not replace:
                        extra[row_id] = extra.get(row_id, 1) + diff
                elif diff > 1:
                    extra[row_id] = diff
            elif old is not None:
                count = extra.pop(row_id, 1) + diff
                if count > 1:
                    extra[row_id] = count
                elif count <= 0:
                    del rows[row_id]
                    self._release(old >> _SHIFT)
        if inserted:
            # Only rows still referenced keep the chunk alive.
            live = sum(1 for r in dict.fromkeys(ids) if (rows.get(r, -1) >> _SHIFT) == chunk_no)
            self.chunks[chunk_no] = delta.select(list(self.columns))
            if live:
                self.live[chunk_no] = live
            else:
                self._dead.add(chunk_no)

    def _release(self, chunk_no: int) -> None:
        left = self.live.get(chunk_no, 0) - 1
        if left > 0:
            self.live[chunk_no] = left
        else:
            self.live.pop(chunk_no, None)
            self._dead.add(chunk_no)

    def collect(self) -> None:
        """Drop the batches none of whose rows is live.

        Until this is called, references to rows removed since the last call stay valid, so an
        operator can still gather the rows it has to retract.
        """
        for chunk_no in self._dead:
            if chunk_no not in self.live:
                self.chunks.pop(chunk_no, None)
        self._dead.clear()

    def gather(self, refs: Sequence[Ref | None]) -> pl.DataFrame:
        """The value columns of the referenced rows, in order; ``None`` gives a null row."""
        if isinstance(refs, np.ndarray):
            return self._gather_array(refs)
        if len(refs) > _BULK:
            return self._gather_bulk(refs)
        by_chunk: dict[int, tuple[list[int], list[int]]] = {}
        for i, ref in enumerate(refs):
            if ref is None:
                chunk, position = NULL_CHUNK, 0
            else:
                chunk, position = ref >> _SHIFT, ref & _MASK
            slots, positions = by_chunk.setdefault(chunk, ([], []))
            slots.append(i)
            positions.append(position)
        if not by_chunk:
            return pl.DataFrame(schema=self.columns)
        if len(by_chunk) == 1:
            ((chunk, (_, positions)),) = by_chunk.items()
            return self.chunks[chunk][positions]
        parts = []
        order: list[int] = []
        for chunk, (slots, positions) in by_chunk.items():
            parts.append(self.chunks[chunk][positions])
            order.extend(slots)
        stacked = pl.concat(parts, how="vertical")
        inverse = [0] * len(order)
        for at, slot in enumerate(order):
            inverse[slot] = at
        return stacked[inverse]

    def _gather_bulk(self, refs: Sequence[Ref | None]) -> pl.DataFrame:
        encoded = np.fromiter(
            ((NULL_CHUNK << _SHIFT) if r is None else r for r in refs),
            dtype=np.int64,
            count=len(refs),
        )
        return self._gather_array(encoded)

    def _gather_array(self, encoded: np.ndarray) -> pl.DataFrame:
        if len(encoded) == 0:
            return pl.DataFrame(schema=self.columns)
        chunks = encoded >> _SHIFT
        positions = encoded & _MASK
        distinct = np.unique(chunks)
        if len(distinct) == 1:
            return self.chunks[int(distinct[0])][positions]
        order = np.argsort(chunks, kind="stable")
        sorted_chunks = chunks[order]
        bounds = [*np.searchsorted(sorted_chunks, distinct, side="left").tolist(), len(order)]
        parts = []
        for k, chunk in enumerate(distinct.tolist()):
            slots = order[bounds[k]:bounds[k + 1]]
            parts.append(self.chunks[chunk][positions[slots]])
        stacked = pl.concat(parts, how="vertical")
        inverse = np.empty(len(order), dtype=np.int64)
        inverse[order] = np.arange(len(order))
        return stacked[inverse]


class KeyedRule:
    """What a ``KeyedOperator`` outputs for one id, given which inputs hold a row under it.

    ``orphan``, when given, makes an id present in input 1 but not in input 0 an error (input
    1 was promised to hold a subset of input 0's ids); it describes the id for the error log.

    ``shape(present)`` returns a hashable tag describing the output row (``None``: no row);
    ``build(tag, rows)`` makes the output value columns from the gathered rows of every input
    (``rows[i]`` is ``None`` for inputs whose values are not kept). ``uses(tag)`` lists the
    inputs whose values the output row is made of: when none of their rows changed and the
    tag is the same, the output row did not change either.
    """

    def shape(self, present: tuple[bool, ...]) -> Any:
        raise NotImplementedError

    def uses(self, tag: Any) -> Sequence[int]:
        raise NotImplementedError

    def build(self, tag: Any, rows: list[pl.DataFrame | None]) -> pl.DataFrame:
        raise NotImplementedError

    orphan: Callable[[int], str] | None = None

    def invalid(self, present: tuple[bool, ...]) -> bool:
        """Whether an id present exactly in the inputs marked in ``present`` is an error."""
        return self.orphan is not None and not present[0] and present[1]

    def message(self, row_id: int, present: tuple[bool, ...]) -> str:
        """The run-time error reported for an id with an invalid presence pattern."""
        if self.orphan is not None:
            return self.orphan(row_id)
        return f"row {row_id} is not allowed here"


class PickRule(KeyedRule):
    """The output row is the row of one input, chosen by ``choose(present)`` (or none)."""

    def __init__(
        self,
        choose: Callable[[tuple[bool, ...]], int | None],
        orphan: Callable[[int], str] | None = None,
    ) -> None:
        self.choose = choose
        self.orphan = orphan

    def shape(self, present):
        return self.choose(present)

    def uses(self, tag):
        return (tag,)

    def build(self, tag, rows):
        return rows[tag]


class OverlayRule(KeyedRule):
    """Input 0's row, with the columns ``replaced`` taken from input 1's row when it has one."""

    def __init__(
        self, replaced: Sequence[str], orphan: Callable[[int], str] | None = None
    ) -> None:
        self.replaced = list(replaced)
        self.orphan = orphan

    def shape(self, present):
        if not present[0]:
            return None
        return "overlay" if present[1] else "base"

    def uses(self, tag):
        return (0, 1) if tag == "overlay" else (0,)

    def build(self, tag, rows):
        base = rows[0]
        if tag == "overlay":
            other = rows[1]
            base = base.with_columns(other[c] for c in self.replaced)
        return base


class ZipRule(KeyedRule):
    """The columns of ``n`` inputs side by side, for ids present in all of them."""

    def __init__(self, n: int) -> None:
        self.all = tuple(range(n))

    def shape(self, present):
        return "zip" if all(present) else None

    def uses(self, tag):
        return self.all

    def build(self, tag, rows):
        return pl.concat([r for r in rows if r is not None], how="horizontal")


class EqualIdsRule(PickRule):
    """Input 0's rows, which must have exactly the ids of input 1 (``with_universe_of``)."""

    def __init__(self, describe: Callable[[int, bool], str]) -> None:
        super().__init__(lambda present: 0 if all(present) else None)
        self.describe = describe

    def invalid(self, present):
        return present[0] != present[1]

    def message(self, row_id, present):
        return self.describe(row_id, present[0])


class KeyedOperator(Operator):
    """Combines, id by id, the current rows of several inputs according to a ``KeyedRule``.

    ``keep_values[i]`` says whether input ``i``'s values are needed (otherwise only the
    presence of its ids is tracked). Output rows keep the ids of the inputs.

    >>> import polars as pl
    >>> schema = {"_id": pl.UInt128, "x": pl.Int64, "_diff": pl.Int64}
    >>> from reflow.engine.operator import RunContext
    >>> from reflow.engine.stateless import InputOperator
    >>> a, b = InputOperator("a", {"x": pl.Int64}), InputOperator("b", {"x": pl.Int64})
    >>> restrict = KeyedOperator([a, b], "restrict", {"x": pl.Int64},
    ...                          PickRule(lambda p: 0 if all(p) else None), [True, False])
    >>> left = pl.DataFrame({"_id": [1, 2], "x": [10, 20], "_diff": [1, 1]}, schema=schema)
    >>> right = pl.DataFrame({"_id": [2], "x": [0], "_diff": [1]}, schema=schema)
    >>> out = restrict.process(0, [left, right], RunContext())
    >>> out.select("_id", "x", "_diff").rows()
    [(2, 20, 1)]
    """

    stateful = True

    def __init__(
        self,
        sources: Sequence[Operator],
        name: str,
        columns: dict[str, pl.DataType],
        rule: KeyedRule,
        keep_values: Sequence[bool],
        input_columns: Sequence[dict[str, pl.DataType]] | None = None,
    ) -> None:
        super().__init__(sources, name)
        self.columns = dict(columns)
        self._column_names = list(self.columns)
        self.rule = rule
        self.keep_values = list(keep_values)
        input_columns = input_columns or [self.columns] * len(self.inputs)
        self.stores = [
            RowStore(cols) if keep else None
            for cols, keep in zip(input_columns, self.keep_values, strict=True)
        ]
        self.counts: list[dict[int, int] | None] = [
            None if keep else {} for keep in self.keep_values
        ]
        # The output shape of every presence pattern (bit i: input i has the id), as codes.
        n = len(self.inputs)
        patterns = [tuple(bool(c >> i & 1) for i in range(n)) for c in range(1 << n)]
        self._tags: list[Any] = []
        codes = []
        for pattern in patterns:
            tag = rule.shape(pattern)
            if tag is None:
                codes.append(-1)
                continue
            if tag not in self._tags:
                self._tags.append(tag)
            codes.append(self._tags.index(tag))
        self._combo_codes = np.array(codes, dtype=np.int64)
        self._uses = [
            [i for i in rule.uses(tag) if self.stores[i] is not None] for tag in self._tags
        ]
        self._invalid_combos = np.array(
            [c for c, pattern in enumerate(patterns) if rule.invalid(pattern)], dtype=np.int64
        )

    def _refs(
        self, touched: list[int], known: dict[int, np.ndarray] | None = None
    ) -> list[np.ndarray]:
        """Per input, the row reference of every touched id (-1: absent; 0: present, for
        inputs whose values are not kept)."""
        out = []
        count = len(touched)
        for i, (store, counts) in enumerate(zip(self.stores, self.counts, strict=True)):
            if known and i in known:
                out.append(known[i])
            elif not (store.rows if store is not None else counts):
                out.append(np.full(count, -1, dtype=np.int64))
            elif store is not None:
                get = store.rows.get
                out.append(np.array([get(r, -1) for r in touched], dtype=np.int64))
            else:
                out.append(np.array([0 if r in counts else -1 for r in touched], dtype=np.int64))
        return out

    def _codes(self, refs: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        combo = np.zeros(len(refs[0]), dtype=np.int64)
        for i, column in enumerate(refs):
            combo |= (column >= 0).astype(np.int64) << i
        return combo, self._combo_codes[combo]

    def process(self, time, deltas, ctx):
        id_lists = [None if d is None else d[ID].to_list() for d in deltas]
        present = [i for i, d in enumerate(deltas) if d is not None]
        single = None
        if len(present) == 1 and _unique(deltas[present[0]], id_lists[present[0]]):
            single = present[0]
            touched = id_lists[single]
        else:
            touched_map: dict[int, None] = {}
            for ids in id_lists:
                if ids is not None:
                    touched_map.update(dict.fromkeys(ids))
            touched = list(touched_map)
        old_refs = self._refs(touched)
        known: dict[int, np.ndarray] = {}
        for i, delta in enumerate(deltas):
            if delta is None:
                continue
            store = self.stores[i]
            if store is not None:
                refs = store.apply(delta, id_lists[i])
                if refs is not None and i == single:
                    known[i] = refs
            else:
                counts = self.counts[i]
                for row_id, diff in zip(id_lists[i], delta[DIFF].to_list(), strict=True):
                    total = counts.get(row_id, 0) + diff
                    if total > 0:
                        counts[row_id] = total
                    else:
                        counts.pop(row_id, None)
        new_refs = self._refs(touched, known)
        _, old_code = self._codes(old_refs)
        new_combo, new_code = self._codes(new_refs)
        if self._invalid_combos.size:
            for j in np.nonzero(np.isin(new_combo, self._invalid_combos))[0].tolist():
                present = tuple(bool(r[j] >= 0) for r in new_refs)
                ctx.report_error(self.name, self.rule.message(touched[j], present), touched[j])
        changed = old_code != new_code
        for code, uses in enumerate(self._uses):
            was = old_code == code
            for i in uses:
                changed |= was & (old_refs[i] != new_refs[i])
        if not changed.any():
            self._collect()
            return None
        touched_ids = pl.Series(ID, touched, dtype=ID_DTYPE)
        parts = []
        # Retracted output rows refer to input rows that may be gone from the stores; their
        # batches are kept until ``collect`` below, so the references are still valid here.
        for diff, codes, refs in ((-1, old_code, old_refs), (1, new_code, new_refs)):
            for code, tag in enumerate(self._tags):
                slots = np.nonzero(changed & (codes == code))[0]
                if len(slots) == 0:
                    continue
                rows: list[pl.DataFrame | None] = [None] * len(self.stores)
                for i in self._uses[code]:
                    rows[i] = self.stores[i].gather(refs[i][slots])
                values = self.rule.build(tag, rows)
                if values.columns != self._column_names:
                    values = values.select(self._column_names)
                values.insert_column(0, touched_ids.gather(slots))
                values.insert_column(
                    values.width, pl.Series(DIFF, np.full(len(slots), diff), dtype=DIFF_DTYPE)
                )
                parts.append(values)
        self._collect()
        if len(parts) == 1:  # one sign, each id once: nothing can cancel
            return parts[0]
        return consolidate(concat_batches(parts))

    def _collect(self) -> None:
        for store in self.stores:
            if store is not None:
                store.collect()


def _unique(delta: pl.DataFrame, ids: list[int]) -> bool:
    """Whether no id occurs twice in ``delta``."""
    if len(ids) <= 64:
        return len(set(ids)) == len(ids)
    return not delta[ID].is_duplicated().any()


__all__ = [
    "EqualIdsRule",
    "KeyedOperator",
    "KeyedRule",
    "OverlayRule",
    "PickRule",
    "RowStore",
    "ZipRule",
]
