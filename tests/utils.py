"""Helpers shared by the test suite."""

from __future__ import annotations

from typing import Any

import reflow as pw
from reflow.debug.output import collect_updates, final_state

T = pw.debug.table_from_markdown


def rows(table: pw.Table, **run_options: Any) -> list[tuple]:
    """The final rows of ``table`` as sorted tuples of column values (ids ignored)."""
    names = table.column_names()
    state = final_state(table, **run_options)
    return sorted((tuple(r[n] for n in names) for r in state.values()), key=repr)


def rows_by_id(table: pw.Table, **run_options: Any) -> dict[pw.Pointer, tuple]:
    """The final rows of ``table`` keyed by id."""
    names = table.column_names()
    return {k: tuple(r[n] for n in names) for k, r in final_state(table, **run_options).items()}


def updates(table: pw.Table, **run_options: Any) -> list[tuple]:
    """The update stream of ``table`` as sorted ``(*values, time, diff)`` tuples."""
    names = table.column_names()
    stream = collect_updates(table, **run_options)
    return sorted(((*(r[n] for n in names), t, d) for t, _, r, d in stream), key=repr)


def assert_table_equality(table: pw.Table, expected: pw.Table) -> None:
    """Same ids and same rows."""
    assert table.column_names() == expected.column_names()
    assert rows_by_id(table) == rows_by_id(expected)


def assert_table_equality_wo_index(table: pw.Table, expected: pw.Table) -> None:
    """Same rows, ids ignored."""
    assert table.column_names() == expected.column_names()
    assert rows(table) == rows(expected)


def assert_rows(table: pw.Table, expected: list[tuple[Any, ...]], **run_options: Any) -> None:
    assert rows(table, **run_options) == sorted(expected, key=repr)
