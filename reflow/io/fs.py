"""``pw.io.fs``: read files of several formats from a file, a directory or a glob; write files.

>>> import pathlib, tempfile, reflow as pw
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> _ = (folder / "a.txt").write_text("hello\\nworld\\n")
>>> lines = pw.io.fs.read(folder, format="plaintext", mode="static")
>>> pw.debug.compute_and_print(lines, include_id=False)
data
hello
world
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Literal

from reflow.io import csv, jsonlines
from reflow.io._common import ConnectorError
from reflow.io._file_tables import Format, read_files
from reflow.io._formats import CsvParserSettings

if TYPE_CHECKING:
    from reflow.api.schema import Schema
    from reflow.api.table import Table


def read(
    path: str | os.PathLike,
    format: Format,
    *,
    schema: type[Schema] | None = None,
    mode: Literal["streaming", "static"] = "streaming",
    csv_settings: CsvParserSettings | None = None,
    json_field_paths: dict[str, str] | None = None,
    with_metadata: bool = False,
    name: str | None = None,
    autocommit_duration_ms: int | None = 1500,
    object_pattern: str = "*",
    **kwargs: Any,
) -> Table:
    """A table read from ``path``: one file, every file under a directory, or a glob; in a
    directory or glob only the files whose name matches ``object_pattern`` (``"*.csv"``).

    ``format`` is ``"csv"`` or ``"json"`` (JSON lines; both need ``schema``), ``"plaintext"``
    (a ``data`` column, one row per line), ``"plaintext_by_file"`` (one row per file) or
    ``"binary"`` (one ``bytes`` row per file). In ``"static"`` mode the files are read once;
    in ``"streaming"`` mode the path is watched and new, modified and deleted files update
    the table. With a primary key in the schema, a row whose key is already present replaces
    it. ``with_metadata=True`` adds a ``_metadata`` JSON column (path, size, modification
    time, ...). Bad rows are skipped and reported in ``pw.global_error_log()`` with their file
    and line. Files are scanned for changes every ``autocommit_duration_ms`` at most.
    """
    return read_files(
        path,
        format,
        schema=schema,
        mode=mode,
        csv_settings=csv_settings,
        json_field_paths=json_field_paths,
        with_metadata=with_metadata,
        name=name,
        autocommit_duration_ms=autocommit_duration_ms,
        object_pattern=object_pattern,
    )


def write(
    table: Table,
    filename: str | os.PathLike,
    format: Literal["csv", "json"],
    *,
    name: str | None = None,
    **kwargs: Any,
) -> None:
    """Write the changes of ``table`` to ``filename`` as CSV or JSON lines, each row with its
    ``time`` and ``diff``."""
    if format == "csv":
        csv.write(table, filename, name=name)
    elif format == "json":
        jsonlines.write(table, filename, name=name)
    else:
        raise ConnectorError(f"unknown output format {format!r}; expected 'csv' or 'json'")


__all__ = ["CsvParserSettings", "read", "write"]
