"""Building tables from literal data: markdown, rows, pandas and parquet."""

from __future__ import annotations

import hashlib
import weakref
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import polars as pl

from reflow.engine.ids import hash_typed_columns, hash_value_rows
from reflow.engine.values import Pointer
from reflow.plan import dtypes as dt
from reflow.plan.errors import BuildValueError, user_frame
from reflow.plan.inference import (
    infer_column_dtype,
    parse_markdown_cell,
    parse_typed_cell,
    python_value,
)
from reflow.plan.nodes import ColumnInfo, InputNode, Universe
from reflow.plan.tables import table_over
from reflow.runtime.batches import make_batch
from reflow.runtime.sources import DeferredSource, StaticSource

if TYPE_CHECKING:
    from reflow.api.schema import Schema
    from reflow.api.table import Table

TIME_COLUMN = "__time__"
DIFF_COLUMN = "__diff__"
_SPECIAL = (TIME_COLUMN, DIFF_COLUMN, "__shard__")
# Larger literal tables get a universe of their own: comparing their ids would cost a sort.
_SHARED_UNIVERSE_MAX_ROWS = 100_000
_static_universes: weakref.WeakValueDictionary[tuple[int, bytes], Universe] = (
    weakref.WeakValueDictionary()
)


def _static_universe(ids: Sequence[int] | pl.Series) -> Universe:
    """The universe of a table given as one batch of insertions: tables built from literal data
    with the same set of ids share it (as in Pathway), so a column of one can be used in a
    ``select`` of the other, and ``t1 + t2`` adds their columns."""
    if len(ids) > _SHARED_UNIVERSE_MAX_ROWS:
        return Universe()
    if isinstance(ids, pl.Series):
        ids = ids.to_list()
    digest = hashlib.blake2b(b"".join(i.to_bytes(16, "little") for i in sorted(ids))).digest()
    key = (len(ids), digest)
    universe = _static_universes.get(key)
    if universe is None:
        universe = Universe()
        _static_universes[key] = universe
    return universe


class _RowStream:
    """Collects ``(id, values, time, diff)`` rows and turns them into per-time batches."""

    def __init__(self, dtypes: dict[str, dt.DType]) -> None:
        self.dtypes = dtypes
        self.rows: list[tuple[int, int, dict[str, Any], int]] = []
        self.live: dict[int, dict[str, Any]] = {}

    def add(self, time: int, row_id: int, values: dict[str, Any], diff: int) -> None:
        """Add a change; inserting an id that is present replaces its row (an upsert), and a
        retraction removes the row that is present under that id. A retraction of an id that
        is not present goes through as it is (a negative row, as in Pathway)."""
        old = self.live.get(row_id)
        if diff > 0:
            if old is not None:
                self.rows.append((time, row_id, old, -1))
            self.live[row_id] = values
            self.rows.append((time, row_id, values, 1))
        elif old is None:
            self.rows.append((time, row_id, values, -1))
        else:
            del self.live[row_id]
            self.rows.append((time, row_id, old, -1))

    def universe(self) -> Universe:
        """Shared with equal static tables when every row is an insertion at one time."""
        static = len({time for time, _, _, _ in self.rows}) <= 1 and all(
            diff > 0 for _, _, _, diff in self.rows
        )
        return _static_universe(list(self.live)) if static else Universe()

    def source(self) -> StaticSource:
        by_time: dict[int, list[tuple[int, dict[str, Any], int]]] = {}
        for time, row_id, values, diff in self.rows:
            by_time.setdefault(time, []).append((row_id, values, diff))
        batches = []
        for time in sorted(by_time):
            rows = by_time[time]
            batches.append(
                (
                    time,
                    make_batch(
                        self.dtypes,
                        [r[0] for r in rows],
                        {name: [r[1][name] for r in rows] for name in self.dtypes},
                        [r[2] for r in rows],
                    ),
                )
            )
        return StaticSource(batches)


def _table(dtypes: dict[str, dt.DType], stream: _RowStream, where: str) -> Table:
    columns = {name: ColumnInfo(dtype) for name, dtype in dtypes.items()}
    append_only = all(diff > 0 for _, _, _, diff in stream.rows)
    node = InputNode(columns, stream.universe(), stream.source(), where, append_only=append_only)
    return table_over(node)


def _assign_ids(
    rows: list[dict[str, Any]],
    labels: list[Any] | None,
    id_from: Sequence[str] | None,
    diffs: list[int],
    times: list[int],
) -> list[int]:
    """Row ids: from labels, from ``id_from`` columns, or by position (row ``i`` gets the id
    of label ``i``, the id a pandas index gives it).

    Without labels or keys, a retraction (diff -1) takes the id of the earliest live row with
    the same values, so it removes that row; with no such row it keeps its own id.
    """
    if labels is not None:
        return hash_value_rows([[label] for label in labels])
    if id_from:
        return hash_value_rows([[row[c] for c in id_from] for row in rows])
    ids = hash_value_rows([[position] for position in range(len(rows))])
    live: dict[tuple, list[int]] = {}
    for position in sorted(range(len(rows)), key=lambda i: times[i]):
        key = tuple(repr(value) for value in rows[position].values())
        if diffs[position] > 0:
            live.setdefault(key, []).append(ids[position])
        elif live.get(key):
            ids[position] = live[key].pop(0)
    return ids


def table_from_markdown(
    table_def: str,
    id_from: Sequence[str] | None = None,
    unsafe_trusted_ids: bool = False,
    schema: type[Schema] | None = None,
    *,
    split_on_whitespace: bool = True,
) -> Table:
    """A table written as a markdown-like text; optional ``__time__`` and ``__diff__`` columns
    turn it into an update stream.

    A first, unnamed column (or a column named ``id``) holds row labels: rows with the same
    label are the same row, so a later line with that label updates it.

    >>> import reflow as pw
    >>> t = pw.debug.table_from_markdown('''
    ...   | name  | score | __time__
    ... 1 | Alice | 10    | 2
    ... 1 | Alice | 12    | 4
    ... ''')
    >>> pw.debug.compute_and_print(t, include_id=False)
    name  | score
    Alice | 12
    """
    where = user_frame()
    lines = [ln.strip() for ln in table_def.strip("\n").splitlines()]
    lines = [ln for ln in lines if ln and not set(ln) <= set("|-: ")]
    if not lines:
        raise BuildValueError("empty markdown table", where)
    framed = lines[0].startswith("|") and lines[0].endswith("|") and len(lines[0]) > 1
    header = _markdown_cells(lines[0], framed)
    has_labels = header[0] == ""
    names = header[1:] if has_labels else header
    if "" in names:
        raise BuildValueError("markdown header has an empty column name", where)
    raw_rows: list[list[str]] = []
    for number, line in enumerate(lines[1:], start=2):
        cells = _markdown_cells(line, framed)
        if len(cells) == len(names) + 1 and not has_labels:
            has_labels = True
        expected = len(names) + (1 if has_labels else 0)
        if len(cells) != expected:
            raise BuildValueError(
                f"markdown line {number} has {len(cells)} cells, expected {expected}: {line!r}",
                where,
            )
        raw_rows.append(cells)
    labels = [parse_markdown_cell(r[0]) for r in raw_rows] if has_labels else None
    rows_cells = [r[1:] if has_labels else r for r in raw_rows]
    if labels is None and "id" in names:
        # A column named ``id`` holds the row labels, as an unnamed first column does.
        at = names.index("id")
        labels = [parse_markdown_cell(r[at]) for r in rows_cells]
        rows_cells = [r[:at] + r[at + 1:] for r in rows_cells]
        names = names[:at] + names[at + 1:]
    data_names = [n for n in names if n not in _SPECIAL]
    positions = {n: i for i, n in enumerate(names)}
    if schema is not None:
        dtypes = {n: c.dtype for n, c in schema.columns().items()}
        missing = [n for n in dtypes if n not in positions]
        if missing:
            raise BuildValueError(f"markdown table lacks schema columns {missing}", where)
        parsed = [
            {n: _typed_cell(row[positions[n]], dtypes[n], n, number, where) for n in dtypes}
            for number, row in enumerate(rows_cells, start=2)
        ]
        data_names = list(dtypes)
        id_from = id_from or schema.primary_key_columns()
    else:
        parsed = [
            {n: parse_markdown_cell(row[positions[n]]) for n in data_names} for row in rows_cells
        ]
        dtypes = {n: infer_column_dtype([row[n] for row in parsed]) for n in data_names}
        for name, dtype in dtypes.items():
            if _all_none(parsed, name):
                dtypes[name] = dt.NONE
            elif dtype.strip_optional() == dt.ANY:
                # Mixed kinds of literals in one column: keep every cell as its text.
                dtypes[name] = dt.STR if not dtype.is_optional else dt.Optional(dt.STR)
                for row, raw in zip(parsed, rows_cells, strict=True):
                    if row[name] is not None:
                        row[name] = raw[positions[name]]
    times = [
        int(row[positions[TIME_COLUMN]]) if TIME_COLUMN in positions else 0 for row in rows_cells
    ]
    diffs = [
        int(row[positions[DIFF_COLUMN]]) if DIFF_COLUMN in positions else 1 for row in rows_cells
    ]
    ids = _assign_ids(parsed, labels, id_from, diffs, times)
    stream = _RowStream(dtypes)
    for i in sorted(range(len(parsed)), key=lambda i: times[i]):
        stream.add(times[i], ids[i], parsed[i], diffs[i])
    return _table(dtypes, stream, where)


def _markdown_cells(line: str, framed: bool) -> list[str]:
    """The cells of one markdown line; an empty last cell (``1 |``) is a cell of its own,
    unless the table is framed with ``|`` on both sides."""
    if framed and line.startswith("|") and line.endswith("|") and len(line) > 1:
        line = line[1:-1]
    return [cell.strip() for cell in line.split("|")]


def _all_none(rows: list[dict[str, Any]], name: str) -> bool:
    return all(row[name] is None for row in rows)


def _typed_cell(text: str, dtype: dt.DType, name: str, line: int, where: str) -> Any:
    try:
        return parse_typed_cell(text, dtype)
    except (ValueError, TypeError) as exc:
        raise BuildValueError(
            f"markdown line {line}, column {name!r}: cannot read {text!r} as {dtype!r} ({exc})",
            where,
        ) from None


def table_from_rows(
    schema: type[Schema],
    rows: Sequence[tuple],
    unsafe_trusted_ids: bool = False,
    is_stream: bool = False,
) -> Table:
    """A table from tuples in the schema's column order; with ``is_stream`` each tuple ends
    with ``time`` and ``diff``.

    >>> import reflow as pw
    >>> t = pw.debug.table_from_rows(pw.schema_from_types(a=int, b=str), [(1, "x"), (2, "y")])
    >>> pw.debug.compute_and_print(t, include_id=False)
    a | b
    1 | x
    2 | y
    """
    return _table_from_rows(schema.dtypes(), schema.primary_key_columns(), rows, is_stream)


def _table_from_rows(
    dtypes: dict[str, dt.DType],
    primary_key: list[str] | None,
    rows: Sequence[tuple],
    is_stream: bool,
) -> Table:
    where = user_frame()
    names = list(dtypes)
    parsed, times, diffs = [], [], []
    for number, row in enumerate(rows, start=1):
        width = len(names) + (2 if is_stream else 0)
        if len(row) != width:
            raise BuildValueError(f"row {number} has {len(row)} values, expected {width}", where)
        parsed.append(dict(zip(names, row[: len(names)], strict=True)))
        times.append(int(row[len(names)]) if is_stream else 0)
        diffs.append(int(row[len(names) + 1]) if is_stream else 1)
    ids = _assign_ids(parsed, None, primary_key, diffs, times)
    stream = _RowStream(dtypes)
    for row_id, values, time, diff in sorted(
        zip(ids, parsed, times, diffs, strict=True), key=lambda r: r[2]
    ):
        stream.add(time, row_id, values, diff)
    return _table(dtypes, stream, where)


def table_from_pandas(
    df: Any,
    id_from: Sequence[str] | None = None,
    unsafe_trusted_ids: bool = False,
    schema: type[Schema] | None = None,
) -> Table:
    """A table from a pandas DataFrame; the index gives the row ids unless ``id_from`` is set.
    Optional ``__time__``/``__diff__`` columns make an update stream.

    >>> import pandas as pd, reflow as pw
    >>> t = pw.debug.table_from_pandas(pd.DataFrame({"a": [1, 2]}))
    >>> pw.debug.compute_and_print(t, include_id=False)
    a
    1
    2
    """
    where = user_frame()
    data_names = [c for c in df.columns if c not in _SPECIAL]
    # Numeric and bool columns give plain Python values through ``tolist()`` and have one
    # type: no per-value conversion or inference for them.
    simple = {c: _simple_column_type(df[c]) for c in data_names}
    deferred = _deferred_source(df, id_from, schema, simple)
    if deferred is not None:
        info = {name: ColumnInfo(dtype) for name, dtype in _known(simple).items()}
        return table_over(InputNode(info, Universe(), deferred, where, append_only=True))
    columns = {
        c: df[c].tolist() if simple[c] is not None
        else [python_value(v) for v in df[c].tolist()]
        for c in data_names
    }
    if schema is not None:
        dtypes = schema.dtypes()
        id_from = id_from or schema.primary_key_columns()
    else:
        dtypes = {
            c: simple_type or infer_column_dtype(columns[c])
            for c in data_names
            for simple_type in [simple[c]]
        }
    n = len(df)
    times = [int(v) for v in df[TIME_COLUMN]] if TIME_COLUMN in df.columns else [0] * n
    diffs = [int(v) for v in df[DIFF_COLUMN]] if DIFF_COLUMN in df.columns else [1] * n
    # Ids hashed in one vectorized call (a Polars call per row took seconds per 10,000 rows).
    ids: list[int] | pl.Series
    typed = _typed_key_columns(df, list(id_from) if id_from else None, simple)
    if typed is not None:
        ids = hash_typed_columns(typed)
    elif id_from:
        ids = hash_value_rows([list(key) for key in zip(*(columns[c] for c in id_from))])
    else:
        index = df.index
        labels = index.tolist() if _simple_type(index.dtype) is not None else [
            python_value(label) for label in index
        ]
        ids = hash_value_rows([[label] for label in labels])
    distinct = ids.n_unique() if isinstance(ids, pl.Series) else len(set(ids))
    if TIME_COLUMN not in df.columns and DIFF_COLUMN not in df.columns and distinct == n:
        # One batch of insertions with distinct ids: built column by column.
        batch = make_batch(dtypes, ids, {c: columns[c] for c in dtypes}, [1] * n)
        info = {name: ColumnInfo(dtype) for name, dtype in dtypes.items()}
        source = StaticSource([(0, batch)])
        return table_over(
            InputNode(info, _static_universe(ids), source, where, append_only=True)
        )
    if isinstance(ids, pl.Series):
        ids = ids.to_list()
    rows = [{c: columns[c][i] for c in dtypes} for i in range(n)]
    stream = _RowStream(dtypes)
    for i in sorted(range(n), key=lambda i: times[i]):
        stream.add(times[i], ids[i], rows[i], diffs[i])
    return _table(dtypes, stream, where)


def _deferred_source(
    df: Any,
    id_from: Sequence[str] | None,
    schema: type[Schema] | None,
    simple: dict[str, dt.DType | None],
) -> DeferredSource | None:
    """For a large frame of one batch of insertions with plain columns and distinct plain
    keys, a source converting its rows only when a run reads them (each worker of a sharded
    run converts only its share); ``None`` when the frame must be looked at whole now (types
    to infer, repeated keys, an update stream, a table small enough to share a universe)."""
    keys = list(id_from) if id_from else None
    if (
        schema is not None
        or len(df) <= _SHARED_UNIVERSE_MAX_ROWS
        or TIME_COLUMN in df.columns
        or DIFF_COLUMN in df.columns
        or any(kind is None for kind in simple.values())
    ):
        return None
    if keys is None:
        if _simple_type(df.index.dtype) is not dt.INT or not df.index.is_unique:
            return None
    elif any(simple.get(k) not in (dt.INT, dt.STR) for k in keys) or df.duplicated(
        subset=keys
    ).any():
        return None
    dtypes = _known(simple)

    def build(start: int, end: int) -> pl.DataFrame:
        part = df.iloc[start:end]
        typed = _typed_key_columns(part, keys, simple)
        assert typed is not None
        columns = {c: _plain_column(part[c], dtypes[c]) for c in dtypes}
        return make_batch(dtypes, hash_typed_columns(typed), columns, [1] * (end - start))

    return DeferredSource(len(df), build)


def _plain_column(column: Any, dtype: dt.DType) -> pl.Series | list:
    """A plain pandas column (``_simple_column_type``: numpy int64/float64/bool, or ``str``
    without missing values) as a Polars column of ``dtype``'s storage type, converted in
    bulk; its Python values where the bulk conversion would not give that type."""
    import numpy as np

    storage = dtype.polars()
    converted: Any = None
    if dtype == dt.STR:
        converted = pl.from_pandas(column)
    elif isinstance(column.dtype, np.dtype) and column.dtype in (np.int64, np.float64, np.bool_):
        converted = pl.Series(column.to_numpy())  # NaN stays NaN, as from Python floats
    if isinstance(converted, pl.Series) and converted.dtype == storage:
        return converted
    return column.tolist()


def _known(types: dict[str, dt.DType | None]) -> dict[str, dt.DType]:
    return {name: kind for name, kind in types.items() if kind is not None}


_SIMPLE_KINDS = {"i": dt.INT, "f": dt.FLOAT, "b": dt.BOOL}


def _typed_key_columns(
    df: Any, id_from: list[str] | None, simple: dict[str, dt.DType | None]
) -> list[pl.Series] | None:
    """The key columns (``id_from``, else the index) as Polars columns typed as
    ``hash_value_rows`` would type their values, when they are plain ints or ``str`` without
    missing values; ``None`` when the values must be looked at one by one."""
    if id_from is None:
        if _simple_type(df.index.dtype) is not dt.INT:
            return None
        return [pl.Series(df.index.to_numpy(), dtype=pl.Int64)]
    typed = []
    for name in id_from:
        kind = simple.get(name)
        if kind is dt.INT:
            typed.append(pl.Series(df[name].to_numpy(), dtype=pl.Int64))
        elif kind is dt.STR:
            typed.append(pl.Series(df[name].tolist(), dtype=pl.String))
        else:
            return None
    return typed


def _simple_column_type(column: Any) -> dt.DType | None:
    """``_simple_type`` of a column, or ``str`` for an object column holding only ``str``
    values (checked by pandas in one vectorized pass, not value by value here)."""
    import pandas as pd

    if getattr(column.dtype, "kind", None) == "O" and len(column):
        if pd.api.types.infer_dtype(column, skipna=False) == "string":
            return dt.STR
        return None
    return _simple_type(column.dtype)


def _simple_type(dtype: Any) -> dt.DType | None:
    """The type of a plain numpy int, float or bool column (not pandas' nullable ones)."""
    import numpy as np

    return _SIMPLE_KINDS.get(dtype.kind) if isinstance(dtype, np.dtype) else None


def table_from_parquet(
    path: str, id_from: Sequence[str] | None = None, unsafe_trusted_ids: bool = False
) -> Table:
    """A table read from a parquet file."""
    import pandas as pd

    return table_from_pandas(pd.read_parquet(path), id_from=id_from)


__all__ = [
    "Pointer",
    "table_from_markdown",
    "table_from_pandas",
    "table_from_parquet",
    "table_from_rows",
]


def empty_table(**kwargs: Any) -> Table:
    """An empty table with the given column types (``pw.Table.empty``).

    >>> import reflow as pw
    >>> t = pw.Table.empty(name=str, age=int)
    >>> t.schema
    <reflow.Schema types={name: STR, age: INT}>
    >>> pw.debug.table_to_dicts(t)
    ([], {'name': {}, 'age': {}})
    """
    return _table_from_rows({name: dt.wrap(t) for name, t in kwargs.items()}, None, [], False)
