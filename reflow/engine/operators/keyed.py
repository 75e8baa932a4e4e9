"""Operators whose state is the current rows of their inputs, indexed by row id
(``reflow.engine.state.row_store.RowStore``).

``KeyedOperator`` combines, id by id, the rows that N inputs currently hold under the same id
(``update_rows``, ``update_cells``, ``restrict``, ``difference``, ``intersect``,
``with_universe_of`` and zipping tables that share their ids). Processing a delta touches only
the ids it mentions: the cost is proportional to the change, not to the state.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import repeat
from typing import Any, cast

import numpy as np
import polars as pl

from reflow.engine.batch import (
    DIFF,
    DIFF_DTYPE,
    ID,
    ID_DTYPE,
    _row_key,
    concat_batches,
    consolidate,
    pick_columns,
    series_of,
)
from reflow.engine.operator import Operator, RunContext
from reflow.engine.state.partition import owners
from reflow.engine.state.row_store import RowStore


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

    def shape(self, present: tuple[bool, ...]) -> int | None:
        return self.choose(present)

    def uses(self, tag: int) -> Sequence[int]:
        return (tag,)

    def build(self, tag: int, rows: list[pl.DataFrame | None]) -> pl.DataFrame:
        return _kept(rows[tag])


class OverlayRule(KeyedRule):
    """Input 0's row, with the columns ``replaced`` taken from input 1's row when it has one."""

    def __init__(
        self, replaced: Sequence[str], orphan: Callable[[int], str] | None = None
    ) -> None:
        self.replaced = list(replaced)
        self.orphan = orphan

    def shape(self, present: tuple[bool, ...]) -> str | None:
        if not present[0]:
            return None
        return "overlay" if present[1] else "base"

    def uses(self, tag: str) -> Sequence[int]:
        return (0, 1) if tag == "overlay" else (0,)

    def build(self, tag: str, rows: list[pl.DataFrame | None]) -> pl.DataFrame:
        base = _kept(rows[0])
        if tag == "overlay":
            other = _kept(rows[1])
            base = base.with_columns(other[c] for c in self.replaced)
        return base


class ZipRule(KeyedRule):
    """The columns of ``n`` inputs side by side, for ids present in all of them."""

    def __init__(self, n: int) -> None:
        self.all = tuple(range(n))

    def shape(self, present: tuple[bool, ...]) -> str | None:
        return "zip" if all(present) else None

    def uses(self, tag: str) -> Sequence[int]:
        return self.all

    def build(self, tag: str, rows: list[pl.DataFrame | None]) -> pl.DataFrame:
        return pl.concat([r for r in rows if r is not None], how="horizontal")


class EqualIdsRule(PickRule):
    """Input 0's rows, which must have exactly the ids of input 1 (``with_universe_of``)."""

    def __init__(self, describe: Callable[[int, bool], str]) -> None:
        super().__init__(lambda present: 0 if all(present) else None)
        self.describe = describe

    def invalid(self, present: tuple[bool, ...]) -> bool:
        return present[0] != present[1]

    def message(self, row_id: int, present: tuple[bool, ...]) -> str:
        return self.describe(row_id, present[0])


class KeyedOperator(Operator):
    """Combines, id by id, the current rows of several inputs according to a ``KeyedRule``.

    ``keep_values[i]`` says whether input ``i``'s values are needed (otherwise only the
    presence of its ids is tracked). Output rows keep the ids of the inputs.

    >>> import polars as pl
    >>> schema = {"_id": pl.UInt128, "x": pl.Int64, "_diff": pl.Int64}
    >>> from reflow.engine.operator import RunContext
    >>> from reflow.engine.operators.stateless import InputOperator
    >>> a, b = InputOperator("a", {"x": pl.Int64}), InputOperator("b", {"x": pl.Int64})
    >>> restrict = KeyedOperator([a, b], "restrict", {"x": pl.Int64},
    ...                          PickRule(lambda p: 0 if all(p) else None), [True, False])
    >>> left = pl.DataFrame({"_id": [1, 2], "x": [10, 20], "_diff": [1, 1]}, schema=schema)
    >>> right = pl.DataFrame({"_id": [2], "x": [0], "_diff": [1]}, schema=schema)
    >>> out = restrict.process(0, [left, right], RunContext())
    >>> out.select("_id", "x", "_diff").rows()
    [(2, 20, 1)]
    """

    state_fields = ("stores", "counts")

    stateful = True
    # Each id once per sign, and an id retracted and inserted with equal values cancelled.
    emits_consolidated = True

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
        # Whether Python's ``==`` on row tuples compares them as ``consolidate`` does (no
        # float, whose NaN is not equal to itself, nor nested or object values).
        self._plain_equality = all(map(_exact_equality, self.columns.values()))
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

    def split_state(self, workers: int) -> list[object]:
        """Each input's rows (or counts of ids) cut by the owner of their ids, which route
        its rows (``partition_key``)."""

        def owner(ids: list[int]) -> np.ndarray:
            return owners(ids, workers)

        pieces: list[list[Any]] = [[] for _ in range(workers)]
        for store, counts in zip(self.stores, self.counts, strict=True):
            if store is not None:
                parts: list[Any] = store.split(owner, workers)
            else:
                present = cast("dict[int, int]", counts)
                ids = list(present)
                owned = owner(ids).tolist()
                parts = [{} for _ in range(workers)]
                for row_id, worker in zip(ids, owned, strict=True):
                    parts[worker][row_id] = present[row_id]
            for worker, part in enumerate(parts):
                pieces[worker].append(part)
        return list(pieces)

    def merge_state(self, pieces: list[object]) -> None:
        parts = cast("list[list[Any]]", pieces)
        for i, store in enumerate(self.stores):
            if store is not None:
                frames = [part[i] for part in parts if part[i].height]
                if frames:
                    store.apply(pl.concat(frames, how="vertical"))
            else:
                self.counts[i] = {k: v for part in parts for k, v in part[i].items()}

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
                found = map(store.rows.get, touched, repeat(-1))
                out.append(np.fromiter(found, dtype=np.int64, count=count))
            else:
                present = cast("dict[int, int]", counts)  # not None: checked above
                out.append(np.array([0 if r in present else -1 for r in touched], dtype=np.int64))
        return out

    def _codes(self, refs: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        combo = np.zeros(len(refs[0]), dtype=np.int64)
        for i, column in enumerate(refs):
            combo |= (column >= 0).astype(np.int64) << i
        return combo, self._combo_codes[combo]

    def process(
        self, time: int, deltas: list[pl.DataFrame | None], ctx: RunContext
    ) -> pl.DataFrame | None:
        given = [(i, d) for i, d in enumerate(deltas) if d is not None]
        id_lists: dict[int, list[int]] = {i: d[ID].to_list() for i, d in given}
        single: int | None = None
        touched: list[int]
        if len(given) == 1 and _unique(given[0][1], id_lists[given[0][0]]):
            single = given[0][0]
            touched = id_lists[single]
        else:
            touched_map: dict[int, None] = {}
            for ids in id_lists.values():
                touched_map.update(dict.fromkeys(ids))
            touched = list(touched_map)
        old_refs = self._refs(touched)
        # An input without a delta still holds the same rows: its references are not looked
        # up twice (each lookup in a big store's dict is a cache miss or more).
        known: dict[int, np.ndarray] = {
            i: refs for i, refs in enumerate(old_refs) if deltas[i] is None
        }
        for i, delta in given:
            store = self.stores[i]
            if store is not None:
                refs = store.apply(delta, id_lists[i])
                if refs is not None and i == single:
                    known[i] = refs
            else:
                counts = self.counts[i]
                assert counts is not None  # an input without a store counts its ids
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
                pattern = tuple(bool(r[j] >= 0) for r in new_refs)
                ctx.report_error(self.name, self.rule.message(touched[j], pattern), touched[j])
        changed = old_code != new_code
        for code, uses in enumerate(self._uses):
            was = old_code == code
            for i in uses:
                changed |= was & (old_refs[i] != new_refs[i])
        if not changed.any():
            self._collect()
            return None
        parts = []
        # Per part: its sign, the touched slots it holds and, for a small change, its value
        # tuples (an id retracted and inserted with equal values must cancel).
        shapes: list[tuple[int, np.ndarray, list[tuple] | None]] = []
        small = int(np.count_nonzero(changed)) <= _SMALL_CHANGE
        # Retracted output rows refer to input rows that may be gone from the stores; their
        # batches are kept until ``collect`` below, so the references are still valid here.
        for diff, codes, side_refs in ((-1, old_code, old_refs), (1, new_code, new_refs)):
            for code, tag in enumerate(self._tags):
                slots = np.nonzero(changed & (codes == code))[0]
                if len(slots) == 0:
                    continue
                rows: list[pl.DataFrame | None] = [None] * len(self.stores)
                for i in self._uses[code]:
                    store = self.stores[i]
                    assert store is not None  # ``_uses`` names only inputs with a store
                    rows[i] = store.gather(side_refs[i][slots])
                values = self.rule.build(tag, rows)
                if values.columns != self._column_names:
                    values = pick_columns(values, [(c, c) for c in self._column_names])
                shapes.append((diff, slots, values.rows() if small else None))
                # The ids and diffs from Python ints: indexing a Series with a numpy array
                # converts the array in Python first (~0.2 ms a call under load).
                positions = slots.tolist()
                values.insert_column(0, series_of(ID, [touched[j] for j in positions], ID_DTYPE))
                values.insert_column(
                    values.width, series_of(DIFF, [diff] * len(positions), DIFF_DTYPE)
                )
                parts.append(values)
        self._collect()
        if len(parts) == 1:  # one sign, each id once: nothing can cancel
            return parts[0]
        if small:
            return _cancel_pairs(parts, shapes, self._plain_equality)
        return consolidate(concat_batches(parts))

    def _collect(self) -> None:
        for store in self.stores:
            if store is not None:
                store.collect()


def _kept(rows: pl.DataFrame | None) -> pl.DataFrame:
    """The rows of an input a rule uses (its values are always kept)."""
    assert rows is not None
    return rows


# Up to this many changed ids, the output's retractions and insertions are matched in Python
# on row tuples (a few microseconds a row) instead of consolidating the output with Polars
# duplicate checks (three calls of ~0.3-1 ms each under load). Measured in CPU time on an
# update of a 300k-row table: 1.75 against 2.61 ms at 256 ids, 4.2-4.6 against 4.6-5.1 ms at
# 1,000, 6.5 against 6.1-6.4 ms at 2,000.
_SMALL_CHANGE = 1024


def _cancel_pairs(
    parts: list[pl.DataFrame],
    shapes: list[tuple[int, np.ndarray, list[tuple] | None]],
    plain_equality: bool = False,
) -> pl.DataFrame | None:
    """The output parts stacked, without the ids retracted and inserted with equal values.

    Each touched id is at most once among the retracted parts and once among the inserted
    ones, so only such a pair can cancel; values are compared as ``consolidate`` compares
    them (NaN equals NaN, lists and arrays by content).
    """
    retracted: dict[int, tuple] = {}
    for diff, slots, rows in shapes:
        if diff < 0:
            assert rows is not None  # small changes keep their row tuples
            retracted.update(zip(slots.tolist(), rows, strict=True))
    cancelled: set[int] = set()
    for diff, slots, rows in shapes:
        if diff > 0:
            assert rows is not None
            for slot, row in zip(slots.tolist(), rows, strict=True):
                old = retracted.get(slot)
                if old is not None and (old == row if plain_equality else _same_row(old, row)):
                    cancelled.add(slot)
    if cancelled:
        kept = []
        for part, (_, slots, _) in zip(parts, shapes, strict=True):
            keep = [slot not in cancelled for slot in slots.tolist()]
            kept.append(part.filter(pl.Series(keep, dtype=pl.Boolean)))
        parts = kept
    return concat_batches(parts)


def _same_row(a: tuple, b: tuple) -> bool:
    for x, y in zip(a, b, strict=True):
        if type(x) in _PLAIN and type(y) in _PLAIN:  # their own keys (the usual cells)
            if x != y:
                return False
        elif _row_key(x) != _row_key(y):
            return False
    return True


_PLAIN = (str, int, bool, type(None))
# Column types whose Python values are equal exactly when ``consolidate`` merges them
# (integers too: ``dtype.is_integer()``).
_EXACT_TYPES = (pl.String, pl.Boolean, pl.Date, pl.Datetime, pl.Duration, pl.Time)


def _exact_equality(dtype: Any) -> bool:
    """Whether the values of a column of ``dtype`` (a Polars type or type class) compare
    with ``==`` as ``consolidate`` compares them."""
    if isinstance(dtype, type):
        return issubclass(dtype, pl.DataType) and (
            dtype.is_integer() or issubclass(dtype, _EXACT_TYPES))
    return isinstance(dtype, pl.DataType) and (
        dtype.is_integer() or isinstance(dtype, _EXACT_TYPES))


def _unique(delta: pl.DataFrame, ids: list[int]) -> bool:
    """Whether no id occurs twice in ``delta``."""
    if len(ids) <= 4096:  # a set of a few thousand ints beats a Polars call
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
