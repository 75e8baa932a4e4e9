"""``Table.await_futures``: waiting for the results of fully asynchronous UDFs.

reflow's ``fully_async_executor`` runs the calls of a batch concurrently and delivers every
result within the logical time of the row that asked for it, so a column computed by it never
holds a pending value and ``await_futures`` has nothing to filter out: it returns a table with
the same ids and values. (A streaming runtime may later deliver such results as separate
updates; pipelines written with ``await_futures`` keep working unchanged.)
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
    >>> pw.debug.compute_and_print(t.select(y=tag(pw.this.x)).await_futures(), include_id=False)
    y
    #7
    """
    import reflow as pw

    return table.select(*(pw.this[name] for name in table.column_names()))
