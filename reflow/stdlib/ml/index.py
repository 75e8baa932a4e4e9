"""``KNNIndex``: nearest neighbours of query embeddings among data embeddings.

Answers are tuples of the data table's columns, nearest first, one row per query (the
query's id), or one row per (query, neighbour) with ``collapse_rows=False``.
``get_nearest_items`` revises answers as the data changes; ``get_nearest_items_asof_now``
answers each query once (see ``docs/ml.md``). Distances (``with_distances=True``) are squared
Euclidean for ``distance_type="euclidean"`` and ``1 - cosine similarity`` for ``"cosine"``.

Candidates come from random-projection buckets (``n_or`` bucketings of ``n_and`` projections,
Euclidean buckets ``bucket_length`` wide) and are ranked exactly.

>>> import reflow as pw
>>> data = pw.debug.table_from_markdown('''
...   | name | x | y | __time__
... 1 | a    | 0 | 0 | 2
... 2 | b    | 1 | 0 | 2
... 3 | c    | 0 | 2 | 4
... ''').select(pw.this.name, emb=pw.make_tuple(pw.this.x, pw.this.y))
>>> queries = pw.debug.table_from_markdown('''
...    | x | y
... 10 | 0 | 3
... ''').select(emb=pw.make_tuple(pw.this.x, pw.this.y))
>>> index = KNNIndex(data.emb, data, n_dimensions=2)
>>> r = index.get_nearest_items(queries.emb, k=1, with_distances=True)
>>> pw.debug.compute_and_print_update_stream(r.select(pw.this.name, pw.this.dist),
...                                          include_id=False)
name   | dist   | __time__ | __diff__
()     | ()     | 0        | 1
()     | ()     | 2        | -1
('a',) | (9.0,) | 2        | 1
('a',) | (9.0,) | 4        | -1
('c',) | (1.0,) | 4        | 1
"""

from __future__ import annotations

from typing import Any, Literal

from reflow.engine.state.vectors import LshBackend
from reflow.indexing._build import knn_node, table_of
from reflow.plan.errors import BuildError, user_frame


class KNNIndex:
    """A nearest-neighbour index over ``data`` keyed by the embeddings ``data_embedding``.

    ``metadata`` (a JSON column of ``data``) is what ``metadata_filter`` (a JMESPath
    expression per query) is evaluated against.
    """

    def __init__(self, data_embedding: Any, data: Any, n_dimensions: int, n_or: int = 20,
                 n_and: int = 10, bucket_length: float = 10.0,
                 distance_type: Literal["euclidean", "cosine"] = "euclidean",
                 metadata: Any = None) -> None:
        where = user_frame()
        if distance_type not in ("euclidean", "cosine"):
            raise BuildError(f"distance_type must be 'euclidean' or 'cosine', got "
                             f"{distance_type!r}", where)
        self.data_embedding = data_embedding
        self.data = data
        self.n_dimensions = n_dimensions
        self.metric = "l2sq" if distance_type == "euclidean" else "cos"
        self.lsh = (n_or, n_and, bucket_length)
        self.metadata = metadata

    def _backend(self) -> LshBackend:
        return LshBackend(self.n_dimensions, self.metric, *self.lsh)

    def get_nearest_items(self, query_embedding: Any, k: Any = 3, collapse_rows: bool = True,
                          with_distances: bool = False, metadata_filter: Any = None) -> Any:
        """The ``k`` nearest data rows of each query, revised as the data changes."""
        return self._nearest(query_embedding, k, collapse_rows, with_distances,
                             metadata_filter, False, user_frame())

    def get_nearest_items_asof_now(self, query_embedding: Any, k: Any = 3,
                                   collapse_rows: bool = True, with_distances: bool = False,
                                   metadata_filter: Any = None) -> Any:
        """The ``k`` nearest data rows of each query when it arrives; never revised."""
        return self._nearest(query_embedding, k, collapse_rows, with_distances,
                             metadata_filter, True, user_frame())

    def _nearest(self, query_embedding: Any, k: Any, collapse: bool, with_distances: bool,
                 metadata_filter: Any, as_of_now: bool, where: str) -> Any:
        from reflow.api.table import Table

        queries = table_of(query_embedding, "query_embedding", where)
        if queries._node is self.data._node:
            raise BuildError("a table cannot query an index over itself directly; query "
                             "with a copy (t.copy())", where)
        node = knn_node(
            data=self.data, data_vector=self.data_embedding, metadata=self.metadata,
            queries=queries, query_vector=query_embedding, k=k,
            metadata_filter=metadata_filter, make_backend=self._backend, collapse=collapse,
            as_of_now=as_of_now, names=lambda side, column: column,
            id_names=(None if collapse else "query_id", None),
            score_name="dist" if with_distances else None, score_sign=1.0, where=where,
            carry_query_columns=False,
        )
        return Table(node)
