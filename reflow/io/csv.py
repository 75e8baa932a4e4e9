"""``pw.io.csv``: read CSV files into a table, write a table's changes as CSV.

>>> import pathlib, tempfile, reflow as pw
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> _ = (folder / "in.csv").write_text("word,n\\nhi,2\\n")
>>> class Words(pw.Schema):
...     word: str
...     n: int
>>> t = pw.io.csv.read(folder / "in.csv", schema=Words, mode="static")
>>> pw.io.csv.write(t.select(pw.this.word, m=pw.this.n * 10), folder / "out.csv")
>>> pw.run(monitoring_level=pw.MonitoringLevel.NONE)
>>> print((folder / "out.csv").read_text().splitlines()[1][:10])
"hi","20",
"""

from __future__ import annotations

import io
import os
from typing import TYPE_CHECKING, Any, Literal

import polars as pl

from reflow.engine.batch import DIFF
from reflow.io._common import add_sink, output_frame
from reflow.io._file_tables import read_files
from reflow.io._formats import CsvParserSettings
from reflow.io._output_file import OutputFile
from reflow.plan.error_columns import error_column
from reflow.runtime.persistence.resume import checked_position, sink_position

if TYPE_CHECKING:
    from reflow.api.schema import Schema
    from reflow.api.table import Table
    from reflow.plan.nodes import ColumnInfo


def read(
    path: str | os.PathLike,
    *,
    schema: type[Schema] | None = None,
    csv_settings: CsvParserSettings | None = None,
    mode: Literal["streaming", "static"] = "streaming",
    autocommit_duration_ms: int | None = 1500,
    with_metadata: bool = False,
    name: str | None = None,
    **kwargs: Any,
) -> Table:
    """A table read from CSV file(s) at ``path`` (a file, a directory or a glob) with a
    header line; the columns named by ``schema`` are parsed to its types.

    See ``pw.io.fs.read`` for the modes, primary keys, metadata and bad-row handling.
    """
    return read_files(
        path,
        "csv",
        schema=schema,
        mode=mode,
        csv_settings=csv_settings,
        json_field_paths=None,
        with_metadata=with_metadata,
        name=name,
        autocommit_duration_ms=autocommit_duration_ms,
    )


def write(
    table: Table, filename: str | os.PathLike, *, name: str | None = None, sort_by: Any = None
) -> None:
    """Write every change of ``table`` to the CSV file ``filename``: one line per changed row
    with the table's columns, then ``time`` (the logical time) and ``diff`` (1 for an
    insertion, -1 for a removal). Each completed logical time goes to the file in one write,
    so a crash never leaves part of a row or of a time; the file is closed when the run ends.
    A row holding an error value is not written: it is reported in ``pw.global_error_log()``.
    """
    path = os.fspath(filename)
    columns = table._node.columns
    state: dict[str, Any] = {}

    sink_name = name or f"csv {path}"

    def start() -> None:
        resume_at = checked_position(path, sink_position(sink_name))
        if resume_at is not None:
            state["file"] = OutputFile(path, resume_at=resume_at)
            return
        handle = OutputFile(path)
        header = [*columns, "time", "diff"]
        handle.write((",".join(_quote(h) for h in header) + "\n").encode())
        state["file"] = handle

    def on_time(time: int, delta) -> None:
        text = _small_csv(columns, delta, time)
        if text is None:
            frame = output_frame(columns, delta, time)
            buffer = io.BytesIO()
            frame.write_csv(buffer, include_header=False, quote_style="always")
            text = buffer.getvalue()
        state["file"].write(text)  # the whole time in one write

    def end() -> None:
        handle = state.pop("file", None)
        if handle is not None:
            handle.close()

    add_sink(
        table, sink_name, on_time, on_end=end, on_start=start, withhold_errors=True,
        position=lambda: state["file"].tell(),
    )


def _quote(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


# Up to this many rows a time is formatted in Python: Polars' CSV writer costs ~0.4-0.8 ms a
# call under load (with the frame it writes), about what Python takes for ~400-500 rows of a
# few columns (measured in CPU time; a join's update of 100 rows is 200 output rows).
SMALL_CSV_ROWS = 384


def _small_csv(columns: dict[str, ColumnInfo], delta: pl.DataFrame, time: int) -> bytes | None:
    """The CSV lines of a small ``delta``, exactly as Polars writes them with every field
    quoted (a null is an empty quoted field), or ``None`` when a column's type or value needs
    the Polars writer (error cells, pointers, dates, floats Python and Polars spell
    differently such as ``1e-07``, ...).

    Each line is one ``str.format`` of a template made for this time: a column of ints, or of
    strings without nulls or quotes, is passed as its values (the template quotes them);
    any other column as the texts of its cells."""
    if delta.height > SMALL_CSV_ROWS:
        return None
    if delta.height == 0:
        return b""
    fields: list[str] = []
    arguments: list[list] = []
    for name, info in columns.items():
        if info.fallible and delta.get_column(error_column(name)).any():
            return None  # error cells are written empty: the Polars path masks them
        series = delta.get_column(name)
        kind = series.dtype
        values = series.to_list()
        nulls = series.null_count()
        if (kind.is_integer() and kind != pl.UInt128) or kind == pl.String:
            if not nulls and (kind != pl.String or '"' not in "".join(values)):
                fields.append(_QUOTED)  # the values as they are, quoted by the template
                arguments.append(values)
                continue
            if kind == pl.String:
                texts = ['""' if v is None else _quote(v) for v in values]
            else:
                texts = ['""' if v is None else f'"{v}"' for v in values]
        elif kind == pl.Boolean:
            texts = ['""' if v is None else ('"true"' if v else '"false"') for v in values]
        elif kind == pl.Float64 or kind == pl.Float32:
            texts = ['""' if v is None else f'"{v!r}"' for v in values]
            # exponents and non-finite values are spelled differently by Polars
            if any("e" in t or "n" in t for t in texts):
                return None
        else:
            return None
        fields.append("{}")
        arguments.append(texts)
    # The time and the diff end every line.
    fields.append(f'"{time}","{{}}"\n')
    arguments.append(delta.get_column(DIFF).to_list())
    return "".join(map(",".join(fields).format, *arguments)).encode()


_QUOTED = '"{}"'


__all__ = ["CsvParserSettings", "read", "write"]
