"""``Table.await_futures``: waiting for the results of fully asynchronous UDFs.

A column computed by a UDF with ``fully_async_executor()`` has type ``Future(T)``: its cells
are ``Pending`` until the call finishes, and the finished value arrives later as an update
(the pending row retracted, the row with the result inserted). ``await_futures`` keeps the
rows with no pending cell and gives the columns back their type ``T``.
"""

from __future__ import annotations

from reflow.api.table import Table


def await_futures(table: Table) -> Table:
    """``table`` with no pending values: the rows whose asynchronous results have all arrived.

    >>> import reflow as pw
    >>> @pw.udf(executor=pw.udfs.fully_async_executor())
    ... async def tag(x: int) -> str:
    ...     return f"#{x}"
    >>> t = pw.debug.table_from_markdown('''
    ... x
    ... 7
    ... ''')
    >>> r = t.select(y=tag(pw.this.x))
    >>> r.schema
    <reflow.Schema types={y: Future(STR)}>
    >>> pw.debug.compute_and_print(r.await_futures(), include_id=False)
    y
    #7
    >>> r.await_futures().schema
    <reflow.Schema types={y: STR}>
    """
    from reflow.plan.future_nodes import AwaitFuturesNode

    return Table(AwaitFuturesNode(table._node))
