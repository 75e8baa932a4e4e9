"""Vector stores that answer nearest-neighbour searches for ``KnnOperator``.

A backend keeps the current data vectors under integer *slots* (the operator maps row ids to
slots) and answers ``search``: for each query vector, the slots of its nearest rows with their
distances. Distances, smaller is nearer:

- ``l2sq``: squared Euclidean distance;
- ``cos``: ``1 - cosine similarity`` (a zero vector has similarity 0 with everything);
- ``ip``: ``1 - inner product``.

``BruteForceBackend`` is exact (numpy); ``USearchBackend`` is approximate (HNSW from the
``usearch`` package); ``LshBackend`` restricts the candidates to rows that share a
random-projection bucket with the query, then ranks them exactly. ``admits`` tells the operator
whether a new row can be a candidate of a query at all (always, except for LSH).

>>> import numpy as np
>>> b = BruteForceBackend(2, "l2sq")
>>> b.add(np.array([0, 1]), b.prepare(np.array([[0.0, 0.0], [3.0, 4.0]])))
>>> b.distances(np.array([[3.0, 0.0]]), np.array([0, 1])).tolist()
[[9.0, 16.0]]
"""

from __future__ import annotations

import importlib.util
import sys
from typing import Any

import numpy as np

from reflow.engine.state.snapshot import Snapshottable

METRICS = ("l2sq", "cos", "ip")


def normalized(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero)."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return vectors / norms


def pair_distances(queries: np.ndarray, vectors: np.ndarray, metric: str) -> np.ndarray:
    """``len(queries) x len(vectors)`` distances; cosine inputs must already be normalized."""
    if metric == "l2sq":
        sq = (
            np.einsum("ij,ij->i", queries, queries)[:, None]
            - 2.0 * (queries @ vectors.T)
            + np.einsum("ij,ij->i", vectors, vectors)[None, :]
        )
        return np.maximum(sq, 0.0)
    return 1.0 - queries @ vectors.T


def exact_distances(query: np.ndarray, vectors: np.ndarray, metric: str) -> np.ndarray:
    """Distances of one prepared query to prepared ``vectors``, in float64, each pair computed
    alone: the same pair gives the same value whatever else is being compared. (The matrix
    products of ``pair_distances`` are faster but may differ in the last bits with the shape
    of the batch; they only preselect, these decide.)"""
    q = query.astype(np.float64)
    v = vectors.astype(np.float64)
    if metric == "l2sq":
        return ((v - q) ** 2).sum(axis=1)
    return 1.0 - (v * q).sum(axis=1)


def slack(distance: float) -> float:
    """How far a preselecting distance may be off the exact one."""
    return 1e-4 * (1.0 + abs(distance))


class BruteForceBackend(Snapshottable):
    """Exact search over a growable float32 matrix of the live rows."""

    state_fields: tuple[str, ...] = ("_vectors", "_live")

    def __init__(self, dimensions: int, metric: str) -> None:
        if metric not in METRICS:
            raise ValueError(f"unknown metric {metric!r}; expected one of {METRICS}")
        self.dimensions = dimensions
        self.metric = metric
        self._vectors = np.zeros((16, dimensions), dtype=np.float32)
        self._live = np.zeros(16, dtype=bool)

    def prepare(self, vectors: np.ndarray) -> np.ndarray:
        """Vectors as stored and compared (float32, unit length for cosine)."""
        vectors = np.asarray(vectors, dtype=np.float32).reshape(-1, self.dimensions)
        return normalized(vectors) if self.metric == "cos" else vectors

    def add(self, slots: np.ndarray, vectors: np.ndarray) -> None:
        """Store prepared ``vectors`` (see ``prepare``) at ``slots``."""
        if len(slots) == 0:
            return
        need = int(slots.max()) + 1
        if need > len(self._live):
            size = max(need, 2 * len(self._live))
            grown = np.zeros((size, self.dimensions), dtype=np.float32)
            grown[: len(self._vectors)] = self._vectors
            live = np.zeros(size, dtype=bool)
            live[: len(self._live)] = self._live
            self._vectors, self._live = grown, live
        self._vectors[slots] = vectors  # already prepared
        self._live[slots] = True

    def remove(self, slots: np.ndarray) -> None:
        self._live[slots] = False

    def live_slots(self) -> np.ndarray:
        return np.flatnonzero(self._live)

    def distances(self, queries: np.ndarray, slots: np.ndarray) -> np.ndarray:
        """Distances of prepared ``queries`` to the stored rows at ``slots``."""
        return pair_distances(queries, self._vectors[slots], self.metric)

    def exact(self, query: np.ndarray, slots: np.ndarray) -> np.ndarray:
        """``exact_distances`` of one prepared query to the stored rows at ``slots``."""
        return exact_distances(query, self._vectors[slots], self.metric)

    def candidates(self, queries: np.ndarray, k: int) -> list[np.ndarray] | None:
        """Per query, the slots worth ranking exactly, or None for every live slot."""
        return None

    def admits(self, queries: np.ndarray, new_vectors: np.ndarray) -> np.ndarray | None:
        """Which (query, new row) pairs may be neighbours at all; None means all of them."""
        return None


class LshBackend(BruteForceBackend):
    """Random-projection buckets (``n_or`` tables of ``n_and`` projections each); a query's
    candidates are the rows sharing a bucket with it in at least one table.

    For ``l2sq`` a projection is ``floor((a.x + b) / bucket_length)`` with ``a`` a random
    unit vector and ``b`` uniform in ``[0, bucket_length)``; for ``cos`` it is the sign of
    ``a.x``. The projections come from a fixed seed, so two runs bucket alike.
    """

    state_fields = ("_vectors", "_live", "_keys")

    def __init__(self, dimensions: int, metric: str, n_or: int, n_and: int,
                 bucket_length: float, seed: int = 0) -> None:
        super().__init__(dimensions, metric)
        rng = np.random.default_rng(seed)
        self.n_or, self.n_and, self.bucket_length = n_or, n_and, bucket_length
        # unit-length lines: a Euclidean bucket is ``bucket_length`` wide in the data's units
        planes = rng.standard_normal((dimensions, n_or * n_and))
        self._planes = (planes / np.linalg.norm(planes, axis=0)).astype(np.float32)
        self._offsets = rng.uniform(0, bucket_length, n_or * n_and).astype(np.float32)
        self._weights = rng.integers(1, 2**61, n_and, dtype=np.int64)
        # the bucket keys of every slot, one column per bucketing: a query's candidates are
        # found by one vectorized comparison, which stays fast when buckets are large
        self._keys = np.zeros((16, n_or), dtype=np.int64)

    def bucket_keys(self, prepared: np.ndarray) -> np.ndarray:
        """``len(prepared) x n_or`` bucket keys."""
        projected = prepared @ self._planes
        if self.metric == "l2sq":
            codes = np.floor((projected + self._offsets) / self.bucket_length).astype(np.int64)
        else:
            codes = (projected >= 0).astype(np.int64)
        codes = codes.reshape(len(prepared), self.n_or, self.n_and)
        return (codes * self._weights).sum(axis=2)  # int64 wrap-around is fine for a key

    def add(self, slots: np.ndarray, vectors: np.ndarray) -> None:
        super().add(slots, vectors)
        if len(self._keys) < len(self._live):
            grown = np.zeros((len(self._live), self.n_or), dtype=np.int64)
            grown[: len(self._keys)] = self._keys
            self._keys = grown
        if len(slots):
            self._keys[slots] = self.bucket_keys(self._vectors[slots])

    def candidates(self, queries: np.ndarray, k: int) -> list[np.ndarray]:
        keys = self._keys[: len(self._live)]
        return [np.flatnonzero((keys == row).any(axis=1) & self._live)
                for row in self.bucket_keys(queries)]

    def admits(self, queries: np.ndarray, new_vectors: np.ndarray) -> np.ndarray:
        q = self.bucket_keys(queries)
        n = self.bucket_keys(new_vectors)
        return (q[:, None, :] == n[None, :, :]).any(axis=2)


def _usearch_index_class() -> type:
    """``usearch.index.Index``, with Ray's native runtime loaded first when Ray is installed.

    usearch loads its NumKong library with ``RTLD_GLOBAL``, and that library exports C++
    runtime symbols: a Ray started later in the same process resolves its own ``std::regex``
    against them and aborts in ``ray.init``. Loaded first, Ray keeps its own symbols.
    """
    if "usearch.index" not in sys.modules and importlib.util.find_spec("ray") is not None:
        import ray  # noqa: F401

    from usearch.index import Index

    return Index


class USearchBackend(BruteForceBackend):
    """Approximate search with a ``usearch`` HNSW index (vectors are also kept for the
    operator's exact checks)."""

    def __init__(self, dimensions: int, metric: str, connectivity: int = 0,
                 expansion_add: int = 0, expansion_search: int = 0) -> None:
        super().__init__(dimensions, metric)
        Index = _usearch_index_class()

        self._index = Index(ndim=dimensions, metric={"l2sq": "l2sq", "cos": "cos",
                                                     "ip": "ip"}[metric],
                            dtype="f32", connectivity=connectivity or None,
                            expansion_add=expansion_add or None,
                            expansion_search=expansion_search or None)

    def load_state(self, fields: dict) -> None:
        """Restore the vectors and rebuild the graph from them (it is not saved)."""
        super().load_state(fields)
        live = self.live_slots()
        if len(live):
            self._index.add(live.astype(np.uint64), self._vectors[live])

    def add(self, slots: np.ndarray, vectors: np.ndarray) -> None:
        super().add(slots, vectors)
        if len(slots):
            self._index.add(slots.astype(np.uint64), self._vectors[slots])

    def remove(self, slots: np.ndarray) -> None:
        super().remove(slots)
        for slot in slots.tolist():
            self._index.remove(int(slot))

    def candidates(self, queries: np.ndarray, k: int) -> list[np.ndarray]:
        if len(self._index) == 0:
            return [np.zeros(0, dtype=np.int64) for _ in range(len(queries))]
        count = min(len(self._index), max(k, 1))
        # usearch answers one query with flat arrays (Matches), several with 2-d ones
        # (BatchMatches); the length of ``queries`` tells which.
        matches: Any = self._index.search(queries.astype(np.float32), count)
        if len(queries) == 1:
            return [np.asarray(matches.keys, dtype=np.int64)]
        return [matches.keys[i, : matches.counts[i]].astype(np.int64)
                for i in range(len(queries))]
