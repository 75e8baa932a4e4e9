"""Running a table and showing or returning its contents."""

from __future__ import annotations

import datetime
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import polars as pl

from reflow.engine.operators.stateless import OutputOperator
from reflow.engine.values import Json, Pointer
from reflow.runtime.batches import rows_of
from reflow.runtime.runner import OutputSpec, run_outputs

if TYPE_CHECKING:
    from reflow.api.table import Table


def collect_updates(
    table: Table, *, terminate_on_error: bool | None = None, **run_options: Any
) -> list[tuple[int, Pointer, dict[str, Any], int]]:
    """Run ``table`` and return its update stream as ``(time, id, row, diff)``."""
    return collect_updates_of([table], terminate_on_error=terminate_on_error, **run_options)[0]


def collect_updates_of(
    tables: Sequence[Table], *, terminate_on_error: bool | None = None, **run_options: Any
) -> list[list[tuple[int, Pointer, dict[str, Any], int]]]:
    """Run ``tables`` together (one dataflow) and return the update stream of each."""
    streams: list[list[tuple[int, Pointer, dict[str, Any], int]]] = []
    specs = []
    for table in tables:
        updates: list[tuple[int, Pointer, dict[str, Any], int]] = []
        streams.append(updates)
        specs.append(OutputSpec(table._node, _collector(table._node, updates)))
    run_outputs(specs, terminate_on_error=terminate_on_error, **run_options)
    return streams


def _collector(node: Any, updates: list) -> Any:
    def on_time(time: int, delta: pl.DataFrame) -> None:
        for row_id, row, diff in rows_of(node.columns, delta):
            updates.append((time, row_id, row, diff))

    def attach(lowering, operator):
        return lowering.add(OutputOperator(operator, "debug output", on_time))

    return attach


def final_state(table: Table, **kwargs: Any) -> dict[Pointer, dict[str, Any]]:
    """The rows of ``table`` after all its updates."""
    return _final_state(collect_updates(table, **kwargs))


def _final_state(updates: list) -> dict[Pointer, dict[str, Any]]:
    state: dict[Pointer, dict[str, Any]] = {}
    # Within one time a row's retraction must be applied before its re-insertion.
    for _, row_id, row, diff in sorted(updates, key=lambda u: (u[0], u[3] > 0)):
        if diff > 0:
            state[row_id] = row
        elif row_id in state:
            del state[row_id]
        else:
            raise KeyError(row_id)  # a retraction of a row that was never inserted
    return state


def format_value(value: Any, short_pointers: bool = True) -> str:
    """A value as ``pw.debug`` prints it: None as an empty cell, Json as UTF-8 text."""
    if value is None:
        return ""
    if isinstance(value, Pointer):
        text = str(value)
        return text[:9] + "..." if short_pointers else text
    if isinstance(value, Json):
        return json.dumps(value.value, default=repr, ensure_ascii=False)
    if isinstance(value, datetime.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, datetime.timedelta):
        import pandas as pd

        return str(pd.Timedelta(value))  # "0 days 00:00:07", as Pathway prints it
    if isinstance(value, bytes):
        return repr(value)
    return str(value)


def _sort_key(row: list[str]) -> tuple:
    return tuple((0, float(c)) if _is_number(c) else (1, c) for c in row)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def render(header: list[str], rows: list[list[str]]) -> str:
    widths = [len(h) for h in header]
    for row in rows:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]
    lines = [" | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
             for r in [header, *rows]]
    return "\n".join(lines)


def _id_cells(row_id: Pointer, include_id: bool, short_pointers: bool) -> list[str]:
    """The leading id cell of a printed row (none without ``include_id``)."""
    return [format_value(row_id, short_pointers)] if include_id else []


def _print_rows(
    names: list[str], rows: list[list[str]], include_id: bool, n_rows: int | None
) -> None:
    """Print the first ``n_rows`` of ``rows`` (all if ``None``) under a header of ``names``."""
    if n_rows is not None:
        rows = rows[:n_rows]
    print(render(([""] if include_id else []) + names, rows))


def compute_and_print(
    *tables: Table,
    include_id: bool = True,
    short_pointers: bool = True,
    n_rows: int | None = None,
    terminate_on_error: bool | None = None,
    **run_options: Any,
) -> None:
    """Run ``tables`` and print the final contents of each, one row per line.

    >>> import reflow as pw
    >>> t = pw.debug.table_from_markdown('''
    ... a | b
    ... 2 | x
    ... 1 |
    ... ''')
    >>> pw.debug.compute_and_print(t, include_id=False)
    a | b
    1 |
    2 | x
    """
    streams = collect_updates_of(tables, terminate_on_error=terminate_on_error, **run_options)
    for table, updates in zip(tables, streams, strict=True):
        state = _final_state(updates)
        names = list(table._node.columns)
        rows = [
            _id_cells(row_id, include_id, short_pointers) + [format_value(row[n]) for n in names]
            for row_id, row in state.items()
        ]
        rows.sort(key=_sort_key if not include_id else (lambda r: _sort_key(r[1:] + r[:1])))
        _print_rows(names, rows, include_id, n_rows)


def compute_and_print_update_stream(
    *tables: Table,
    include_id: bool = True,
    short_pointers: bool = True,
    n_rows: int | None = None,
    terminate_on_error: bool | None = None,
    **run_options: Any,
) -> None:
    """Run ``tables`` and print every change of each: rows with their ``__time__`` and
    ``__diff__``.

    >>> import reflow as pw
    >>> t = pw.debug.table_from_markdown('''
    ...   | price | __time__
    ... 1 | 10    | 2
    ... 1 | 12    | 4
    ... ''')
    >>> pw.debug.compute_and_print_update_stream(t, include_id=False)
    price | __time__ | __diff__
    10    | 2        | 1
    10    | 4        | -1
    12    | 4        | 1
    """
    streams = collect_updates_of(tables, terminate_on_error=terminate_on_error, **run_options)
    for table, updates in zip(tables, streams, strict=True):
        names = list(table._node.columns)
        rows = []
        for time, row_id, row, diff in updates:
            cells = [format_value(row[n]) for n in names] + [str(time), str(diff)]
            rows.append(_id_cells(row_id, include_id, short_pointers) + cells)
        offset = 1 if include_id else 0
        rows.sort(key=lambda r: (int(r[-2]), int(r[-1]) > 0, _sort_key(r[offset:-2])))
        _print_rows([*names, "__time__", "__diff__"], rows, include_id, n_rows)


def table_to_dicts(
    table: Table, **kwargs: Any
) -> tuple[list[Pointer], dict[str, dict[Pointer, Any]]]:
    """The final contents as ``(ids, {column: {id: value}})``.

    >>> import reflow as pw
    >>> t = pw.debug.table_from_markdown('''
    ... a
    ... 5
    ... ''')
    >>> keys, columns = pw.debug.table_to_dicts(t)
    >>> [columns["a"][k] for k in keys]
    [5]
    """
    state = final_state(table, **kwargs)
    keys = list(state)
    columns = {name: {k: state[k][name] for k in keys} for name in table._node.columns}
    return keys, columns


def table_to_pandas(table: Table, *, include_id: bool = True, **run_options: Any) -> Any:
    """The final contents as a pandas DataFrame (indexed by id unless ``include_id=False``).

    >>> import reflow as pw
    >>> t = pw.debug.table_from_markdown('''
    ... a
    ... 5
    ... ''')
    >>> pw.debug.table_to_pandas(t, include_id=False)["a"].tolist()
    [5]
    """
    import pandas as pd

    state = final_state(table, **run_options)
    names = list(table._node.columns)
    data = {n: [row[n] for row in state.values()] for n in names}
    frame = pd.DataFrame(data, columns=names)
    if include_id:
        frame.index = list(state)
    return frame
