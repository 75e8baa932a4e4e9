"""``DataIndex``: nearest-neighbour queries over a data table, answered as a join.

``query`` gives *revised* answers: when data rows are added, updated or deleted, the answers
of the queries they enter or leave are retracted and published again (only those). Memory:
the data vectors plus every standing query with its answer.

``query_as_of_now`` answers each query once, against the data as it is when the query
arrives; later data changes do not revise it, and deleting the query retracts its answer.
Memory: the data vectors plus the answers given out.

Both return a join result: ``pw.left`` names the query table's columns, ``pw.right`` the data
table's plus ``_pw_index_reply_score``. With ``collapse_rows=True`` (the default) there is one
row per query (its id is the query's) and every right column is a tuple, nearest first; with
``collapse_rows=False`` there is one row per (query, neighbour).

>>> import reflow as pw
>>> import numpy as np
>>> data = pw.debug.table_from_markdown('''
...   | name | x | __time__ | __diff__
... 1 | a    | 0 | 2        | 1
... 2 | b    | 6 | 2        | 1
... 3 | c    | 3 | 4        | 1
... ''').select(pw.this.name, v=pw.apply_with_type(lambda x: np.array([float(x)]),
...                                                 np.ndarray, pw.this.x))
>>> queries = pw.debug.table_from_markdown('''
... q | x
... 1 | 4
... ''').select(pw.this.q, v=pw.apply_with_type(lambda x: np.array([float(x)]),
...                                              np.ndarray, pw.this.x))
>>> index = DataIndex(data, pw.indexing.BruteForceKnn(data.v, None, dimensions=1,
...     reserved_space=10, metric=pw.indexing.BruteForceKnnMetricKind.L2SQ))
>>> r = index.query(queries.v, number_of_matches=1).select(pw.left.q, pw.right.name)
>>> pw.debug.compute_and_print_update_stream(r, include_id=False)
q | name   | __time__ | __diff__
1 | ()     | 0        | 1
1 | ()     | 2        | -1
1 | ('b',) | 2        | 1
1 | ('b',) | 4        | -1
1 | ('c',) | 4        | 1
"""

from __future__ import annotations

from typing import Any

from reflow.indexing._build import knn_node, table_of
from reflow.plan.errors import BuildError, user_frame
from reflow.plan.join_node import wide_name
from reflow.plan.knn_node import ShapeNode

SCORE = "_pw_index_reply_score"


class DataIndex:
    """An index over ``data_table`` built by ``inner_index`` (e.g. ``BruteForceKnn``)."""

    def __init__(self, data_table: Any, inner_index: Any) -> None:
        self.data_table = data_table
        self.inner_index = inner_index

    def query(self, query_column: Any, *, number_of_matches: Any = 3,
              collapse_rows: bool = True, metadata_filter: Any = None) -> Any:
        """Revised answers: the ``number_of_matches`` nearest data rows of each query,
        kept up to date as the data changes."""
        return self._query(query_column, number_of_matches, collapse_rows, metadata_filter,
                           as_of_now=False, where=user_frame())

    def query_as_of_now(self, query_column: Any, number_of_matches: Any = 3,
                        collapse_rows: bool = True, metadata_filter: Any = None) -> Any:
        """As-of-now answers: each query answered once, against the data of its arrival."""
        return self._query(query_column, number_of_matches, collapse_rows, metadata_filter,
                           as_of_now=True, where=user_frame())

    def _query(self, query_column: Any, k: Any, collapse: bool, metadata_filter: Any,
               as_of_now: bool, where: str) -> Any:
        from reflow.api.join import JoinMode, JoinResult
        from reflow.api.table import Table

        queries = table_of(query_column, "the query column", where)
        data = self.data_table
        inner = self.inner_index
        if queries._node is data._node:
            raise BuildError("a table cannot query an index over itself directly; query "
                             "with a copy (t.copy())", where)

        def names(side: str, column: str) -> str:
            return wide_name("left" if side == "query" else "right", column)

        node = knn_node(
            data=data, data_vector=inner.embedded(inner.data_column),
            metadata=inner.metadata_column, queries=queries,
            query_vector=inner.embedded(query_column), k=k, metadata_filter=metadata_filter,
            make_backend=inner.make_backend, collapse=collapse, as_of_now=as_of_now,
            names=names, id_names=(wide_name("left", "id"), wide_name("right", "id")),
            score_name=wide_name("right", SCORE), score_sign=-1.0, where=where,
        )
        right_columns = {
            name[len("right."):]: info for name, info in node.columns.items()
            if name.startswith("right.") and name != "right.id"
        }
        right = Table(ShapeNode(right_columns, where))
        return JoinResult(Table(node), queries, right, JoinMode.INNER, set())
