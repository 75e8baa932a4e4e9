"""``pw.io.null``: a sink that discards what it receives (forces a table to be computed)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from reflow.io._common import add_sink

if TYPE_CHECKING:
    from reflow.api.table import Table


def write(table: Table, *, name: str | None = None, sort_by: Any = None) -> None:
    """Compute ``table`` when the pipeline runs, and throw its changes away.

    >>> import reflow as pw
    >>> t = pw.debug.table_from_markdown('''
    ... x
    ... 1
    ... ''')
    >>> pw.io.null.write(t)
    >>> pw.run()
    """
    add_sink(table, name or "null", lambda time, delta: None)


__all__ = ["write"]
