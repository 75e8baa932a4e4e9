"""``pw.io.jsonlines``: read JSON lines files into a table, write a table's changes as JSON
lines.

>>> import json, pathlib, tempfile, reflow as pw
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> _ = (folder / "in.jsonl").write_text('{"user": "ann", "n": 3}\\n')
>>> class Events(pw.Schema):
...     user: str
...     n: int
>>> t = pw.io.jsonlines.read(folder / "in.jsonl", schema=Events, mode="static")
>>> pw.io.jsonlines.write(t, folder / "out.jsonl")
>>> pw.run(monitoring_level=pw.MonitoringLevel.NONE)
>>> row = json.loads((folder / "out.jsonl").read_text())
>>> row["user"], row["n"], row["diff"]
('ann', 3, 1)
"""

from __future__ import annotations

import base64
import datetime
import io
import json
import os
from typing import TYPE_CHECKING, Any, Literal

import polars as pl

from reflow.engine.values import ErrorValue, Json, Pointer
from reflow.io._common import add_sink, output_frame
from reflow.io._file_tables import read_files
from reflow.io._output_file import OutputFile
from reflow.plan.error_columns import error_column
from reflow.runtime.persistence.resume import checked_position, sink_position

if TYPE_CHECKING:
    from reflow.api.schema import Schema
    from reflow.api.table import Table


def read(
    path: str | os.PathLike,
    *,
    schema: type[Schema] | None = None,
    mode: Literal["streaming", "static"] = "streaming",
    json_field_paths: dict[str, str] | None = None,
    autocommit_duration_ms: int | None = 1500,
    with_metadata: bool = False,
    name: str | None = None,
    **kwargs: Any,
) -> Table:
    """A table read from JSON lines file(s) at ``path``: one JSON object per line, whose
    fields named by ``schema`` become the columns (``json_field_paths`` maps a column to a
    JSON pointer such as ``"/user/name"`` instead).

    See ``pw.io.fs.read`` for the modes, primary keys, metadata and bad-row handling.
    """
    return read_files(
        path,
        "json",
        schema=schema,
        mode=mode,
        csv_settings=None,
        json_field_paths=json_field_paths,
        with_metadata=with_metadata,
        name=name,
        autocommit_duration_ms=autocommit_duration_ms,
    )


def write(
    table: Table, filename: str | os.PathLike, *, name: str | None = None, sort_by: Any = None
) -> None:
    """Write every change of ``table`` to ``filename``, one JSON object per changed row with
    the table's columns plus ``diff`` (1 insertion, -1 removal) and ``time`` (logical time).
    Each completed logical time goes to the file in one write; a row holding an error value is
    not written but reported in ``pw.global_error_log()``.
    """
    path = os.fspath(filename)
    node = table._node
    columns = node.columns
    state: dict[str, Any] = {}
    nested = [name for name, info in columns.items() if info.dtype.polars() == pl.Object]

    sink_name = name or f"jsonlines {path}"

    def start() -> None:
        resume_at = checked_position(path, sink_position(sink_name))
        state["file"] = OutputFile(path, resume_at=resume_at)

    def on_time(time: int, delta: pl.DataFrame) -> None:
        handle = state["file"]
        frame = output_frame(columns, delta, time).select(*columns, "diff", "time")
        if not nested:
            buffer = io.BytesIO()
            frame.write_ndjson(buffer)
            handle.write(buffer.getvalue())  # the whole time in one write
        else:
            # JSON values, tuples and objects are written as nested JSON, one row at a time.
            records = frame.to_dicts()
            for name in nested:
                values = delta[name].to_list()
                failed = (
                    delta[error_column(name)].to_list() if columns[name].fallible
                    else [False] * len(values)
                )
                for record, value, error in zip(records, values, failed, strict=True):
                    record[name] = None if error else _jsonable(value)
            text = "".join(json.dumps(r, default=str) + "\n" for r in records)
            handle.write(text.encode())

    def end() -> None:
        handle = state.pop("file", None)
        if handle is not None:
            handle.close()

    add_sink(
        table, sink_name, on_time, on_end=end, on_start=start, withhold_errors=True,
        position=lambda: state["file"].tell(),
    )


def _jsonable(value: Any) -> Any:
    if isinstance(value, Json):
        return value.value
    if isinstance(value, Pointer):
        return str(value)
    if isinstance(value, ErrorValue):
        return None
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, (datetime.datetime, datetime.timedelta)):
        return str(value)
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    return value


__all__ = ["read", "write"]
