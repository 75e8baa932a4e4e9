"""Nearest-neighbour queries over a changing data table: ``KnnOperator``.

Two inputs: *data* rows (a vector, optional metadata, payload columns) and *query* rows (a
vector, ``k``, an optional metadata filter, payload columns). For every query the operator
emits its ``k`` nearest data rows, ordered by ``(distance, data id)``, either as one row per
query with tuples (``collapse``) or one row per (query, neighbour) pair.

Two modes:

- **revised** (``as_of_now=False``): a query's answer follows the data. A data change
  re-answers only the queries it can affect: an inserted row is compared with every standing
  query and merged into the answers whose current ``k``-th distance it beats (or that hold
  fewer than ``k`` rows); a deleted row re-answers, by a search, only the queries whose answer
  holds it (a reverse index data id -> queries finds them). A query whose answer did not change
  emits nothing. State: the data vectors, every standing query with its answer.
- **as of now** (``as_of_now=True``): a query is answered once, against the data of the moment
  it arrives, and never revised; deleting the query retracts that answer. State: the data
  vectors and the answers given out (so that they can be retracted).

Within one logical time, data changes apply before query changes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
import polars as pl

from reflow.engine.batch import DIFF, DIFF_DTYPE, ID, ID_DTYPE
from reflow.engine.ids import hash_value_rows
from reflow.engine.operator import Operator, RunContext
from reflow.engine.state.partition import BROADCAST, Broadcast
from reflow.engine.state.vectors import exact_distances, pair_distances, slack
from reflow.engine.values import Pointer

QUERY_CHUNK = 256  # queries ranked against all data at once (bounds a chunk's distance matrix)


@dataclass
class KnnLayout:
    """Where the operator reads its inputs and how it names its outputs.

    ``output`` lists the output value columns (name -> dtype) in order; the other ``out_*``
    fields say which of them receive what (``None``: not produced).
    """

    data_vector: str
    query_vector: str
    query_k: str | None
    default_k: int
    output: dict[str, pl.DataType]
    data_payload: dict[str, str] = field(default_factory=dict)  # data column -> output column
    query_payload: dict[str, str] = field(default_factory=dict)  # query column -> output column
    data_metadata: str | None = None
    query_filter: str | None = None
    out_query_id: str | None = None
    out_data_id: str | None = None
    out_score: str | None = None
    score_sign: float = -1.0  # score = sign * distance
    collapse: bool = True
    as_of_now: bool = False


@dataclass
class _Query:
    slot: int
    vector: np.ndarray
    k: int
    filter: str | None
    payload: tuple
    answer: list[tuple[float, int]]  # (distance, data id), nearest first
    emitted: list[tuple[int, dict[str, Any]]] = field(default_factory=list)  # rows given out


def _cancel_identical(rows: list[tuple[int, dict[str, Any], int]]
                      ) -> list[tuple[int, dict[str, Any], int]]:
    """Drop a retraction and an insertion of the same row (same id, identical values): a
    neighbour that stays in a revised answer."""
    retracted: dict[int, int] = {}
    for n, (row_id, _, diff) in enumerate(rows):
        if diff < 0:
            retracted[row_id] = n
    dropped: set[int] = set()
    for n, (row_id, row, diff) in enumerate(rows):
        m = retracted.get(row_id)
        if diff > 0 and m is not None and m not in dropped:
            old = rows[m][1]
            if old.keys() == row.keys() and _equal_rows(tuple(old.values()),
                                                        tuple(row.values())):
                dropped.update((m, n))
    return [r for n, r in enumerate(rows) if n not in dropped]


def _same(x: Any, y: Any) -> bool:
    """Whether two cells hold the same value (arrays by content, NaN equal to NaN)."""
    if x is y:
        return True
    if isinstance(x, np.ndarray) or isinstance(y, np.ndarray):
        return (isinstance(x, np.ndarray) and isinstance(y, np.ndarray)
                and x.shape == y.shape and bool(np.array_equal(x, y, equal_nan=x.dtype.kind
                                                               in "fc")))
    if isinstance(x, tuple | list) and isinstance(y, tuple | list):
        return len(x) == len(y) and all(_same(a, b) for a, b in zip(x, y, strict=True))
    if isinstance(x, float) and isinstance(y, float) and x != x and y != y:
        return True
    return type(x) is type(y) and x == y


def _same_emission(a: list[tuple[int, dict[str, Any]]],
                   b: list[tuple[int, dict[str, Any]]]) -> bool:
    return len(a) == len(b) and all(
        ra[0] == rb[0] and ra[1].keys() == rb[1].keys()
        and _equal_rows(tuple(ra[1].values()), tuple(rb[1].values()))
        for ra, rb in zip(a, b, strict=True))


def _equal_rows(a: tuple, b: tuple) -> bool:
    return all(_same(x, y) for x, y in zip(a, b, strict=True))


class KnnOperator(Operator):
    """Answers the queries of the second input with the nearest rows of the first.

    Partitioned, every shard sees all the data and holds its share of the queries.
    """

    stateful = True
    emits_consolidated = True
    broadcasts = True
    state_fields = ("backend", "_slot_of", "_id_at", "_free", "_payload", "_metadata",
                    "_queries", "_qfree", "_qids", "_qvectors", "_qkth", "_holders")

    def __init__(self, data: Operator, queries: Operator, name: str, backend: Any,
                 layout: KnnLayout, metadata_matcher: Callable[[str], Callable] | None = None
                 ) -> None:
        super().__init__([data, queries], name)
        self.backend = backend
        self.layout = layout
        self._matcher = metadata_matcher
        self._compiled: dict[str, Callable] = {}
        # data
        self._slot_of: dict[int, int] = {}
        self._id_at: list[int | None] = []
        self._free: list[int] = []
        self._payload: dict[int, tuple] = {}
        self._metadata: dict[int, Any] = {}
        # queries
        self._queries: dict[int, _Query] = {}
        self._qfree: list[int] = []
        self._qids: list[int | None] = []
        self._qvectors = np.zeros((16, backend.dimensions), dtype=np.float32)
        self._qkth = np.full(16, -np.inf, dtype=np.float32)
        self._holders: dict[int, set[int]] = {}  # data id -> queries whose answer holds it
        self.answers_emitted = 0  # query answers (re-)emitted so far, for measurements

    # --- Operator ----------------------------------------------------------------------------
    def partition_key(self, input_index: int, delta: pl.DataFrame, ctx: RunContext
                      ) -> pl.Series | Broadcast:
        return BROADCAST if input_index == 0 else delta[ID]

    def process(
        self, time: int, deltas: list[pl.DataFrame | None], ctx: RunContext
    ) -> pl.DataFrame | None:
        data, queries = (self._split(d) for d in deltas)
        before: dict[int, list[tuple[float, int]] | None] = {}
        dirty: set[int] = set()  # queries to search again from scratch
        if data is not None:
            removed, inserted = data
            if removed.height:
                for qid in self._remove_data(removed):
                    if qid not in before:
                        before[qid] = list(self._queries[qid].answer)
                    dirty.add(qid)
            if inserted.height:
                self._insert_data(inserted, before, dirty, ctx)
        retracted_queries: dict[int, _Query] = {}
        new_queries: list[int] = []
        if queries is not None:
            removed, inserted = queries
            for qid in removed[ID].to_list():
                query = self._remove_query(qid)
                if query is not None:
                    retracted_queries[qid] = query
            if inserted.height:
                new_queries = self._insert_queries(inserted, ctx)
        if not self.layout.as_of_now:
            dirty -= set(retracted_queries)
            self._answer(sorted(dirty), ctx)
        self._answer(new_queries, ctx)
        return self._emit(before, retracted_queries, new_queries)

    # --- inputs ------------------------------------------------------------------------------
    def _split(
        self, delta: pl.DataFrame | None
    ) -> tuple[pl.DataFrame, pl.DataFrame] | None:
        """Retractions and insertions of ``delta``, after cancelling a row inserted and
        retracted within it. (Not ``consolidate``: rows hold vectors, which it would compare
        through their text form.)"""
        if delta is None or delta.height == 0:
            return None
        diffs = delta[DIFF]
        negative = diffs < 0
        if not negative.any():
            return delta.clear(), delta
        ids = delta[ID]
        both = set(ids.filter(negative).to_list()) & set(ids.filter(~negative).to_list())
        if both:
            keep = self._cancel_pairs(delta, both)
            delta = delta.filter(pl.Series(keep))
            negative = delta[DIFF] < 0
        return delta.filter(negative), delta.filter(~negative)

    @staticmethod
    def _cancel_pairs(delta: pl.DataFrame, ids: set[int]) -> list[bool]:
        """Which rows survive once an insertion and a retraction of equal rows cancel."""
        keep = [True] * delta.height
        all_ids = delta[ID].to_list()
        diffs = delta[DIFF].to_list()
        columns = [c for c in delta.columns if c not in (ID, DIFF)]
        positions = [i for i, row_id in enumerate(all_ids) if row_id in ids]
        values = {c: delta[c].gather(positions).to_list() for c in columns}
        rows = {i: tuple(values[c][n] for c in columns) for n, i in enumerate(positions)}
        pending: dict[int, list[int]] = {}
        for i in rows:
            match = next((j for j in pending.get(all_ids[i], [])
                          if diffs[j] == -diffs[i] and _equal_rows(rows[i], rows[j])), None)
            if match is None:
                pending.setdefault(all_ids[i], []).append(i)
            else:
                pending[all_ids[i]].remove(match)
                keep[i] = keep[match] = False
        return keep

    def _vectors(self, frame: pl.DataFrame, column: str, ctx: RunContext) -> np.ndarray:
        values = frame[column].to_list()
        dims = self.backend.dimensions
        out = np.zeros((len(values), dims), dtype=np.float32)
        for i, value in enumerate(values):
            try:
                vector = np.asarray(value, dtype=np.float32).reshape(-1)
            except (TypeError, ValueError):
                vector = None
            if vector is None or vector.shape[0] != dims:
                got = "None" if value is None else f"{np.shape(value)}"
                ctx.report_error(self.name, f"column {column!r}: expected a vector of "
                                 f"{dims} numbers, got {got}; the row is treated as zeros",
                                 frame[ID][i])
                continue
            out[i] = vector
        return self.backend.prepare(out)

    # --- data --------------------------------------------------------------------------------
    def _remove_data(self, removed: pl.DataFrame) -> set[int]:
        affected: set[int] = set()
        slots = []
        for row_id in removed[ID].to_list():
            slot = self._slot_of.pop(row_id, None)
            if slot is None:
                continue
            slots.append(slot)
            self._id_at[slot] = None
            self._free.append(slot)
            self._payload.pop(row_id, None)
            self._metadata.pop(row_id, None)
            affected |= self._holders.get(row_id, set())
        if slots:
            self.backend.remove(np.array(slots, dtype=np.int64))
        return affected

    def _insert_data(self, inserted: pl.DataFrame, before: dict, dirty: set[int],
                     ctx: RunContext) -> None:
        layout = self.layout
        ids = inserted[ID].to_list()
        vectors = self._vectors(inserted, layout.data_vector, ctx)
        payload_columns = [inserted[c].to_list() for c in layout.data_payload]
        metadata = (inserted[layout.data_metadata].to_list()
                    if layout.data_metadata is not None else None)
        slots = []
        for i, row_id in enumerate(ids):
            if self._free:
                slot = self._free.pop()
                self._id_at[slot] = row_id
            else:
                slot = len(self._id_at)
                self._id_at.append(row_id)
            self._slot_of[row_id] = slot
            slots.append(slot)
            self._payload[row_id] = tuple(col[i] for col in payload_columns)
            if metadata is not None:
                self._metadata[row_id] = metadata[i]
        self.backend.add(np.array(slots, dtype=np.int64), vectors)
        if layout.as_of_now or not self._queries:
            return
        self._merge_new_rows(ids, vectors, before, dirty, ctx)

    def _merge_new_rows(self, ids: list[int], vectors: np.ndarray, before: dict,
                        dirty: set[int], ctx: RunContext) -> None:
        """Merge new data rows into the answers of the standing queries they enter."""
        live = np.flatnonzero(self._qkth > -np.inf)
        for start in range(0, len(live), QUERY_CHUNK):
            qslots = live[start:start + QUERY_CHUNK]
            qvectors = self._qvectors[qslots]
            dist = pair_distances(qvectors, vectors, self.backend.metric)
            kth = self._qkth[qslots]
            entering = dist <= (kth + 1e-4 * (1.0 + np.abs(kth)))[:, None]
            admits = self.backend.admits(qvectors, vectors)
            if admits is not None:
                entering &= admits
            for row in np.flatnonzero(entering.any(axis=1)).tolist():
                qid = cast(int, self._qids[int(qslots[row])])  # a live slot holds a query
                if qid in dirty:
                    continue  # searched again anyway
                query = self._queries[qid]
                cols = np.flatnonzero(entering[row])
                exact = exact_distances(query.vector, vectors[cols], self.backend.metric)
                found = [(float(d), ids[c]) for d, c in zip(exact.tolist(), cols.tolist(),
                                                            strict=True)
                         if self._passes(query.filter, ids[c], ctx)]
                if not found:
                    continue
                merged = sorted(query.answer + found)[: query.k]
                if merged != query.answer:
                    if qid not in before:
                        before[qid] = list(query.answer)
                    self._set_answer(qid, query, merged)

    def _passes(self, expression: str | None, data_id: int, ctx: RunContext) -> bool:
        if expression is None or self._matcher is None:
            return True
        test = self._compiled.get(expression)
        if test is None:
            try:
                test = self._matcher(expression)
            except Exception as exc:  # noqa: BLE001 - the user's filter text is at fault
                ctx.report_error(self.name, f"metadata_filter {expression!r}: {exc}")
                test = lambda value: False  # noqa: E731
            self._compiled[expression] = test
        try:
            return bool(test(self._metadata.get(data_id)))
        except Exception as exc:  # noqa: BLE001 - reported, the row does not match
            ctx.report_error(self.name, f"metadata_filter {expression!r}: {exc}", data_id)
            return False

    # --- queries -----------------------------------------------------------------------------
    def _remove_query(self, qid: int) -> _Query | None:
        query = self._queries.pop(qid, None)
        if query is None:
            return None
        self._qids[query.slot] = None
        self._qkth[query.slot] = -np.inf
        self._qfree.append(query.slot)
        for _, data_id in query.answer:
            self._unhold(data_id, qid)
        return query

    def _insert_queries(self, inserted: pl.DataFrame, ctx: RunContext) -> list[int]:
        layout = self.layout
        ids = inserted[ID].to_list()
        vectors = self._vectors(inserted, layout.query_vector, ctx)
        ks = (inserted[layout.query_k].to_list() if layout.query_k is not None
              else [layout.default_k] * len(ids))
        filters = (inserted[layout.query_filter].to_list() if layout.query_filter is not None
                   else [None] * len(ids))
        payload_columns = [inserted[c].to_list() for c in layout.query_payload]
        for i, qid in enumerate(ids):
            if self._qfree:
                slot = self._qfree.pop()
                self._qids[slot] = qid
            else:
                slot = len(self._qids)
                self._qids.append(qid)
                if slot >= len(self._qkth):
                    self._grow_queries()
            k = max(int(ks[i]) if ks[i] is not None else 0, 0)
            self._queries[qid] = _Query(slot, vectors[i], k, filters[i],
                                        tuple(col[i] for col in payload_columns), [])
            self._qvectors[slot] = vectors[i]
            self._qkth[slot] = -np.inf  # not standing until answered
        return ids

    def _grow_queries(self) -> None:
        size = 2 * len(self._qkth)
        vectors = np.zeros((size, self.backend.dimensions), dtype=np.float32)
        vectors[: len(self._qvectors)] = self._qvectors
        kth = np.full(size, -np.inf, dtype=np.float32)
        kth[: len(self._qkth)] = self._qkth
        self._qvectors, self._qkth = vectors, kth

    def _answer(self, qids: list[int], ctx: RunContext) -> None:
        """Search the answers of ``qids`` from scratch."""
        live = self.backend.live_slots()
        for start in range(0, len(qids), QUERY_CHUNK):
            chunk = [self._queries[q] for q in qids[start:start + QUERY_CHUNK]]
            vectors = np.stack([q.vector for q in chunk])
            k_max = max((q.k for q in chunk), default=0)
            candidates = self.backend.candidates(vectors, k_max) if len(live) else None
            if candidates is None:
                dist = self.backend.distances(vectors, live) if len(live) else None
            else:  # one matrix product for the chunk, over the union of its candidates
                union = (np.unique(np.concatenate(candidates)) if candidates
                         else np.zeros(0, dtype=np.int64))
                dist = self.backend.distances(vectors, union) if len(union) else None
            for i, (qid, query) in enumerate(zip(qids[start:start + QUERY_CHUNK], chunk,
                                                 strict=True)):
                if not len(live) or query.k == 0:
                    self._set_answer(qid, query, [])
                    continue
                if candidates is None:
                    slots, row = live, cast(np.ndarray, dist)[i]
                else:
                    slots = candidates[i]
                    row = (cast(np.ndarray, dist)[i, np.searchsorted(union, slots)] if len(slots)
                           else np.zeros(0, dtype=np.float32))
                self._set_answer(qid, query, self._top(query, slots, row, ctx))

    def _top(self, query: _Query, slots: np.ndarray, dist: np.ndarray,
             ctx: RunContext) -> list[tuple[float, int]]:
        id_at = self._id_at
        if query.filter is not None:
            keep = np.array([self._passes(query.filter, id_at[s], ctx) for s in slots.tolist()],
                            dtype=bool)
            slots, dist = slots[keep], dist[keep] if len(slots) else dist
        if len(slots) == 0:
            return []
        k = min(query.k, len(slots))
        if k < len(slots):
            part = np.argpartition(dist, k - 1)[:k]
            bound = dist[part].max()
            # near-ties too: the exact distances below decide, then the ids
            part = np.flatnonzero(dist <= bound + slack(float(bound)))
        else:
            part = np.arange(len(slots))
        chosen_slots = slots[part]
        exact = self.backend.exact(query.vector, chosen_slots)
        chosen = sorted(zip(exact.tolist(), (id_at[s] for s in chosen_slots.tolist()),
                            strict=True))
        return chosen[:k]

    def _set_answer(self, qid: int, query: _Query, answer: list[tuple[float, int]]) -> None:
        if not self.layout.as_of_now:
            old = {d for _, d in query.answer}
            new = {d for _, d in answer}
            for data_id in old - new:
                self._unhold(data_id, qid)
            for data_id in new - old:
                self._holders.setdefault(data_id, set()).add(qid)
            if query.k == 0:
                self._qkth[query.slot] = -np.inf  # nothing can ever enter
            elif len(answer) < query.k:
                self._qkth[query.slot] = np.inf  # any row can enter
            else:
                self._qkth[query.slot] = answer[-1][0]
        query.answer = answer

    def _unhold(self, data_id: int, qid: int) -> None:
        holders = self._holders.get(data_id)
        if holders is not None:
            holders.discard(qid)
            if not holders:
                del self._holders[data_id]

    # --- output ------------------------------------------------------------------------------
    def _emit(
        self,
        before: dict[int, list[tuple[float, int]] | None],
        retracted: dict[int, _Query],
        new: list[int],
    ) -> pl.DataFrame | None:
        rows: list[tuple[int, dict[str, Any], int]] = []
        for qid, old_answer in before.items():
            if qid in retracted:
                continue
            query = self._queries[qid]
            fresh = self._rows(qid, query)
            # the same neighbours may still need a new row: a neighbour's columns changed
            if old_answer == query.answer and _same_emission(query.emitted, fresh):
                continue
            rows.extend((row_id, row, -1) for row_id, row in query.emitted)
            query.emitted = fresh
            rows.extend((row_id, row, 1) for row_id, row in fresh)
            self.answers_emitted += 1
        for query in retracted.values():
            rows.extend((row_id, row, -1) for row_id, row in query.emitted)
        for qid in new:
            query = self._queries[qid]
            query.emitted = self._rows(qid, query)
            rows.extend((row_id, row, 1) for row_id, row in query.emitted)
            self.answers_emitted += 1
        if not rows:
            return None
        if not self.layout.collapse:
            rows = _cancel_identical(rows)
            if not rows:
                return None
        return self._frame(rows)

    def _rows(self, qid: int, query: _Query) -> list[tuple[int, dict[str, Any]]]:
        """The output rows of ``query``'s current answer."""
        layout = self.layout
        answer = query.answer
        base = dict(zip(layout.query_payload.values(), query.payload, strict=True))
        if layout.out_query_id is not None:
            base[layout.out_query_id] = qid
        sign = layout.score_sign
        if layout.collapse:
            row = dict(base)
            payloads = [self._payload[d] for _, d in answer]
            for j, out in enumerate(layout.data_payload.values()):
                row[out] = tuple(p[j] for p in payloads)
            if layout.out_data_id is not None:
                row[layout.out_data_id] = tuple(Pointer(d) for _, d in answer)
            if layout.out_score is not None:
                row[layout.out_score] = tuple(sign * dist for dist, _ in answer)
            return [(qid, row)]
        if not answer:  # a query without neighbours still has its row, with no data
            return [(qid, base)]
        out_rows = []
        pair_ids = hash_value_rows([[Pointer(qid), Pointer(d)] for _, d in answer], "knn")
        for (dist, data_id), pair_id in zip(answer, pair_ids, strict=True):
            row = dict(base)
            row.update(zip(layout.data_payload.values(), self._payload[data_id], strict=True))
            if layout.out_data_id is not None:
                row[layout.out_data_id] = data_id
            if layout.out_score is not None:
                row[layout.out_score] = sign * dist
            out_rows.append((pair_id, row))
        return out_rows

    def _frame(self, rows: list[tuple[int, dict[str, Any], int]]) -> pl.DataFrame:
        columns: dict[str, pl.Series] = {ID: pl.Series(ID, [r[0] for r in rows], ID_DTYPE)}
        for name, dtype in self.layout.output.items():
            values = [r[1].get(name) for r in rows]
            columns[name] = pl.Series(name, values, dtype=dtype)
        columns[DIFF] = pl.Series(DIFF, [r[2] for r in rows], DIFF_DTYPE)
        return pl.DataFrame(columns)
