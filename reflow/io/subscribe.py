"""``pw.io.subscribe``: call Python functions on every change of a table."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import polars as pl

from reflow.io._common import add_sink
from reflow.plan.errors import user_frame

if TYPE_CHECKING:
    from reflow.api.table import Table


def subscribe(
    table: Table,
    on_change: Callable[..., Any] | None = None,
    on_end: Callable[[], Any] | None = None,
    on_time_end: Callable[[int], Any] | None = None,
    *,
    name: str | None = None,
    sort_by: Any = None,
) -> None:
    """Call ``on_change(key, row, time, is_addition)`` for every change of ``table``, then
    ``on_time_end(time)`` after each complete logical time and ``on_end()`` when the run ends.

    An update arrives as the removal of the old row followed by the addition of the new one.

    >>> import reflow as pw
    >>> t = pw.debug.table_from_markdown('''
    ...   | v | __time__
    ... 1 | 1 | 2
    ... 1 | 2 | 4
    ... ''')
    >>> pw.io.subscribe(t, lambda key, row, time, is_addition: print(time, row, is_addition))
    >>> pw.run()
    2 {'v': 1} True
    4 {'v': 1} False
    4 {'v': 2} True
    """
    from reflow.runtime.batches import rows_of

    node = table._node
    label = name or f"subscribe at {user_frame()}"

    def on_time(time: int, delta: pl.DataFrame) -> None:
        if on_change is None:
            return
        changes = sorted(rows_of(node.columns, delta), key=lambda change: change[2] > 0)
        for key, row, diff in changes:
            for _ in range(abs(diff)):
                on_change(key=key, row=row, time=time, is_addition=diff > 0)

    add_sink(table, label, on_time, on_time_end=on_time_end, on_end=on_end)


def debug(table: Table, name: str) -> Table:
    """``table.debug(name)``: print every change of ``table`` as the program runs, one line per
    row, prefixed with ``[name]``; returns ``table``.

    >>> import reflow as pw
    >>> t = pw.debug.table_from_markdown('''
    ...   | v | __time__
    ... 1 | 1 | 2
    ... 1 | 2 | 4
    ... ''')
    >>> _ = t.debug("t")
    >>> pw.run()  # doctest: +ELLIPSIS
    [t] @2 +1 id=..., v=1
    [t] @4 -1 id=..., v=1
    [t] @4 +1 id=..., v=2
    """

    def show(key: Any, row: dict[str, Any], time: int, is_addition: bool) -> None:
        values = "".join(f", {column}={value!r}" for column, value in row.items())
        print(f"[{name}] @{time} {'+1' if is_addition else '-1'} id={key}{values}")

    subscribe(table, on_change=show, name=f"debug {name}")
    return table
