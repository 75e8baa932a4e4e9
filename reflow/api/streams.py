"""Tables to streams of upsert/delete events and back: ``Table.to_stream``,
``Table.stream_to_table``, ``Table.from_streams``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from reflow.api.resolve import Scope, resolve
from reflow.plan import dtypes as dt
from reflow.plan import expr as ex
from reflow.plan.errors import BuildTypeError, BuildValueError, user_frame
from reflow.plan.stream_nodes import StreamToTableNode, ToStreamNode

if TYPE_CHECKING:
    from reflow.api.table import Table


def to_stream(table: Table, upsert_column_name: str = "is_upsert") -> Table:
    """See ``Table.to_stream``."""
    where = user_frame()
    if upsert_column_name in table._node.columns:
        raise BuildValueError(
            f"to_stream(): the table already has a column {upsert_column_name!r}; "
            "choose another upsert_column_name", where,
        )
    from reflow.api.table import Table

    return Table(ToStreamNode(table._node, upsert_column_name, where))


def stream_to_table(table: Table, is_upsert: Any) -> Table:
    """See ``Table.stream_to_table``."""
    where = user_frame()
    flag = resolve(ex.wrap_arg(is_upsert), Scope.single(table))
    if flag.dtype.strip_optional() != dt.BOOL:
        raise BuildTypeError(
            f"stream_to_table(): is_upsert must be a bool expression, got {flag.dtype}", where
        )
    from reflow.api.table import Table

    return Table(StreamToTableNode([table._node], [flag], where))


def from_streams(upserts: Table, deletions: Table) -> Table:
    """See ``Table.from_streams``."""
    from reflow.api.table import Table

    if not isinstance(deletions, Table):
        raise BuildTypeError(
            f"from_streams() needs a Table of deletions, got {type(deletions).__name__}",
            user_frame(),
        )
    # Deletions first: an upsert and a deletion of one id at one time leave the upsert.
    nodes = [deletions._node, upserts._node]
    return Table(StreamToTableNode(nodes, [False, True], user_frame(), columns_of=1))
