"""Helpers of the reliability tests: results of tables that hold error values on purpose, so
every run is started with ``terminate_on_error=False`` (whatever the default is)."""

from __future__ import annotations

import reflow as pw
from reflow.debug.output import collect_updates, final_state


def rows(table: pw.Table) -> list[tuple]:
    """The final rows of ``table`` as sorted tuples (ids ignored)."""
    names = table.column_names()
    state = final_state(table, terminate_on_error=False)
    return sorted((tuple(r[n] for n in names) for r in state.values()), key=repr)


def updates(table: pw.Table) -> list[tuple]:
    """The update stream of ``table`` as sorted ``(*values, time, diff)`` tuples."""
    names = table.column_names()
    return sorted(
        ((*(r[n] for n in names), t, d)
         for t, _, r, d in collect_updates(table, terminate_on_error=False)),
        key=repr,
    )


def messages() -> list[str]:
    """The messages of the error log."""
    return [m for (m,) in rows(pw.global_error_log().select(pw.this.message))]
