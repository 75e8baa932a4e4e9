"""Turn an index question into a ``KnnNode``: the prepared inputs and the output columns."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from reflow.engine.operators.knn import KnnLayout
from reflow.plan import dtypes as dt
from reflow.plan import expr as ex
from reflow.plan.error_columns import error_column
from reflow.plan.errors import BuildError
from reflow.plan.knn_node import KnnNode
from reflow.plan.nodes import ColumnInfo

VECTOR = "_pw_index_vector"
QUERY_VECTOR = "_pw_index_query_vector"
K = "_pw_index_k"
METADATA = "_pw_index_metadata"
FILTER = "_pw_index_filter"


def json_matcher(expression: str) -> Callable[[Any], bool]:
    """A test of metadata (a ``pw.Json``, dict or None) against a JMESPath ``expression``.

    >>> from reflow.engine.values import Json
    >>> json_matcher("owner == 'alice'")(Json({"owner": "alice"}))
    True
    """
    import jmespath

    compiled = jmespath.compile(expression)

    def test(metadata: Any) -> bool:
        value = getattr(metadata, "value", metadata)
        return bool(compiled.search(value))

    return test


def table_of(column: Any, what: str, where: str) -> Any:
    """The table a column reference belongs to."""
    from reflow.api.table import Table

    table = getattr(column, "table", None)
    if not isinstance(column, ex.ColumnReference) or not isinstance(table, Table):
        raise BuildError(f"{what} must be a column of a table (as in t.embedding), "
                         f"got {column!r}", where)
    return table


def _check_vector(table: Any, name: str, what: str, where: str) -> None:
    dtype = table._node.columns[name].dtype.strip_optional()
    if dtype in (dt.STR, dt.BOOL, dt.POINTER, dt.INT, dt.FLOAT):
        raise BuildError(f"{what} must hold vectors (np.ndarray, list or tuple of numbers), "
                         f"but column {name!r} is {dtype!r}", where)


def knn_node(
    *,
    data: Any,
    data_vector: Any,
    metadata: Any,
    queries: Any,
    query_vector: Any,
    k: Any,
    metadata_filter: Any,
    make_backend: Callable[[], Any],
    collapse: bool,
    as_of_now: bool,
    names: Callable[[str, str], str],
    id_names: tuple[str | None, str | None],
    score_name: str | None,
    score_sign: float,
    where: str,
    carry_query_columns: bool = True,
) -> KnnNode:
    """Build the node; ``names(side, column)`` names output columns (side is "query" or
    "data"), ``id_names`` the query-id and data-id output columns."""
    extra: dict[str, Any] = {VECTOR: data_vector}
    if metadata is not None:
        extra[METADATA] = metadata
    data_prepared = data.with_columns(**extra)
    _check_vector(data_prepared, VECTOR, "the data column", where)
    q_extra: dict[str, Any] = {QUERY_VECTOR: query_vector}
    if isinstance(k, ex.ColumnExpression):
        q_extra[K] = k
    elif not isinstance(k, int) or isinstance(k, bool) or k < 0:
        raise BuildError(f"the number of matches must be a non-negative int or a column, "
                         f"got {k!r}", where)
    if metadata_filter is not None:
        q_extra[FILTER] = metadata_filter
    queries_prepared = queries.with_columns(**q_extra)
    _check_vector(queries_prepared, QUERY_VECTOR, "the query column", where)

    columns: dict[str, ColumnInfo] = {}
    query_payload: dict[str, str] = {}
    data_payload: dict[str, str] = {}
    query_id, data_id = id_names
    if query_id is not None:
        columns[query_id] = ColumnInfo(dt.POINTER)
    for name, info in queries._node.columns.items():
        if not carry_query_columns:
            break
        out = names("query", name)
        columns[out] = info
        query_payload[name] = out
        if info.fallible:
            query_payload[error_column(name)] = error_column(out)
    if data_id is not None:
        columns[data_id] = ColumnInfo(dt.List(dt.POINTER) if collapse
                                      else dt.Optional(dt.POINTER))
    for name, info in data._node.columns.items():
        out = names("data", name)
        if collapse:
            columns[out] = ColumnInfo(dt.List(info.dtype))
        else:
            dtype = info.dtype if info.dtype.is_optional else dt.Optional(info.dtype)
            columns[out] = ColumnInfo(dtype, info.fallible)
            if info.fallible:
                data_payload[error_column(name)] = error_column(out)
        data_payload[name] = out
    if score_name is not None:
        columns[score_name] = ColumnInfo(dt.List(dt.FLOAT) if collapse
                                         else dt.Optional(dt.FLOAT))
    # Error companions follow their columns in the node's batches; payload order follows the
    # node's column order, which the operator does not depend on.
    layout = KnnLayout(
        data_vector=VECTOR,
        query_vector=QUERY_VECTOR,
        query_k=K if K in q_extra else None,
        default_k=k if isinstance(k, int) else 0,
        output={},
        data_payload=data_payload,
        query_payload=query_payload,
        data_metadata=METADATA if metadata is not None else None,
        query_filter=FILTER if metadata_filter is not None else None,
        out_query_id=query_id,
        out_data_id=data_id,
        out_score=score_name,
        score_sign=score_sign,
        collapse=collapse,
        as_of_now=as_of_now,
    )
    matcher = json_matcher if metadata_filter is not None else None
    return KnnNode(data_prepared._node, queries_prepared._node, columns, make_backend, layout,
                   matcher, where)
