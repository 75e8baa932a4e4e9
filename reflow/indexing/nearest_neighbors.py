"""Nearest-neighbour inner indexes for ``DataIndex``: exact (``BruteForceKnn``), approximate
HNSW (``USearchKnn``) and random-projection buckets (``LshKnn``).

An inner index names the data column holding vectors (and optionally a metadata column for
``metadata_filter``) and how to compare vectors; ``DataIndex`` asks it for the engine's vector
store. Scores are negated distances (nearer is larger): ``-|a-b|^2`` for ``L2SQ``,
``-(1 - cos)`` for ``COS`` and ``-(1 - a.b)`` for ``IP``.

>>> import reflow as pw
>>> BruteForceKnnMetricKind.COS.value
'cos'
"""

from __future__ import annotations

import enum
from typing import Any, Literal

from reflow.engine.state.vectors import BruteForceBackend, LshBackend, USearchBackend


class BruteForceKnnMetricKind(enum.Enum):
    """Distances of ``BruteForceKnn``: squared Euclidean, cosine, inner product."""

    L2SQ = "l2sq"
    COS = "cos"
    IP = "ip"


class USearchMetricKind(enum.Enum):
    """Distances of ``USearchKnn`` (the ones reflow supports)."""

    L2SQ = "l2sq"
    COS = "cos"
    IP = "ip"


def _metric(metric: Any, kind: type[enum.Enum]) -> str:
    if isinstance(metric, kind):
        return metric.value
    name = getattr(metric, "name", metric)
    for member in kind:
        if name in (member.name, member.value):
            return member.value
    raise ValueError(f"unsupported metric {metric!r}; expected one of "
                     f"{', '.join(m.name for m in kind)}")


class InnerIndex:
    """What every nearest-neighbour inner index has: the vector column, the metadata column,
    the number of dimensions and an optional embedder applied to data and queries."""

    def __init__(self, data_column: Any, metadata_column: Any, dimensions: int,
                 embedder: Any) -> None:
        self.data_column = data_column
        self.metadata_column = metadata_column
        self.dimensions = dimensions
        self.embedder = embedder

    def make_backend(self) -> Any:
        raise NotImplementedError

    def embedded(self, column: Any) -> Any:
        return column if self.embedder is None else self.embedder(column)


class BruteForceKnn(InnerIndex):
    """Exact nearest neighbours: every query is compared with every data row (numpy).

    >>> import reflow as pw
    >>> import numpy as np
    >>> data = pw.debug.table_from_rows(pw.schema_from_types(name=str, v=np.ndarray),
    ...     [("a", np.array([0.0, 0.0])), ("b", np.array([3.0, 4.0]))])
    >>> queries = pw.debug.table_from_rows(pw.schema_from_types(v=np.ndarray),
    ...     [(np.array([3.0, 3.0]),)])
    >>> index = pw.indexing.DataIndex(data, BruteForceKnn(data.v, None, dimensions=2,
    ...     reserved_space=10, metric=BruteForceKnnMetricKind.L2SQ))
    >>> r = index.query(queries.v, number_of_matches=1).select(
    ...     pw.right.name, pw.right._pw_index_reply_score)
    >>> pw.debug.compute_and_print(r, include_id=False)
    name   | _pw_index_reply_score
    ('b',) | (-1.0,)
    """

    def __init__(self, data_column: Any, metadata_column: Any = None, *, dimensions: int,
                 reserved_space: int = 1000, auxiliary_space: int = 131072,
                 metric: Any = BruteForceKnnMetricKind.COS, embedder: Any = None) -> None:
        super().__init__(data_column, metadata_column, dimensions, embedder)
        self.metric = _metric(metric, BruteForceKnnMetricKind)
        self.reserved_space = reserved_space

    def make_backend(self) -> BruteForceBackend:
        return BruteForceBackend(self.dimensions, self.metric)


class USearchKnn(InnerIndex):
    """Approximate nearest neighbours from a ``usearch`` HNSW graph.

    >>> import reflow as pw
    >>> import numpy as np
    >>> data = pw.debug.table_from_rows(pw.schema_from_types(name=str, v=np.ndarray),
    ...     [("a", np.array([1.0, 0.0])), ("b", np.array([0.0, 1.0]))])
    >>> queries = pw.debug.table_from_rows(pw.schema_from_types(v=np.ndarray),
    ...     [(np.array([0.1, 0.9]),)])
    >>> index = pw.indexing.DataIndex(data, USearchKnn(data.v, None, dimensions=2,
    ...     reserved_space=10, metric=USearchMetricKind.COS))
    >>> r = index.query_as_of_now(queries.v, number_of_matches=1).select(pw.right.name)
    >>> pw.debug.compute_and_print(r, include_id=False)
    name
    ('b',)
    """

    def __init__(self, data_column: Any, metadata_column: Any = None, *, dimensions: int,
                 reserved_space: int = 1000, metric: Any = USearchMetricKind.COS,
                 connectivity: int = 0, expansion_add: int = 0, expansion_search: int = 0,
                 embedder: Any = None) -> None:
        super().__init__(data_column, metadata_column, dimensions, embedder)
        self.metric = _metric(metric, USearchMetricKind)
        self.options = (connectivity, expansion_add, expansion_search)

    def make_backend(self) -> USearchBackend:
        return USearchBackend(self.dimensions, self.metric, *self.options)


class LshKnn(InnerIndex):
    """Nearest neighbours among the rows sharing a random-projection bucket with the query
    (``n_or`` bucketings of ``n_and`` projections each; ``bucket_length`` is the width of a
    Euclidean bucket). Candidates are ranked exactly; a true neighbour in no shared bucket is
    missed.

    >>> import reflow as pw
    >>> import numpy as np
    >>> data = pw.debug.table_from_rows(pw.schema_from_types(name=str, v=np.ndarray),
    ...     [("a", np.array([0.0, 0.0])), ("b", np.array([1.0, 0.0]))])
    >>> queries = pw.debug.table_from_rows(pw.schema_from_types(v=np.ndarray),
    ...     [(np.array([0.0, 1.0]),)])
    >>> index = pw.indexing.DataIndex(data, LshKnn(data.v, None, dimensions=2))
    >>> r = index.query(queries.v, number_of_matches=2).select(pw.right.name)
    >>> pw.debug.compute_and_print(r, include_id=False)
    name
    ('a', 'b')
    """

    def __init__(self, data_column: Any, metadata_column: Any = None, *, dimensions: int,
                 n_or: int = 20, n_and: int = 10, bucket_length: float = 10.0,
                 distance_type: Literal["euclidean", "cosine"] = "euclidean",
                 embedder: Any = None) -> None:
        super().__init__(data_column, metadata_column, dimensions, embedder)
        if distance_type not in ("euclidean", "cosine"):
            raise ValueError(f"distance_type must be 'euclidean' or 'cosine', "
                             f"got {distance_type!r}")
        self.metric = "l2sq" if distance_type == "euclidean" else "cos"
        self.n_or, self.n_and, self.bucket_length = n_or, n_and, bucket_length

    def make_backend(self) -> LshBackend:
        return LshBackend(self.dimensions, self.metric, self.n_or, self.n_and,
                          self.bucket_length)
