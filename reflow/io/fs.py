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

import functools
import os
from typing import Any, Literal

from reflow.api import dtypes as dt
from reflow.api.schema import Schema
from reflow.api.table import Table
from reflow.api.trace import user_frame
from reflow.io._common import METADATA_COLUMN, ConnectorError, input_table, schema_dtypes
from reflow.io._files import FileSource
from reflow.io._formats import (
    CsvParserSettings,
    check_csv_header,
    csv_header,
    parse_binary,
    parse_csv,
    parse_jsonlines,
    parse_plaintext,
    parse_whole_text,
)

Format = Literal["csv", "json", "plaintext", "plaintext_by_file", "binary"]
_FORMATS = ("csv", "json", "plaintext", "plaintext_by_file", "binary")


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
    where = user_frame()
    if format not in _FORMATS:
        raise ConnectorError(f"unknown format {format!r}; expected one of {', '.join(_FORMATS)}")
    label = name or f"{format} files {os.fspath(path)}"
    check_file = None
    primary_key = None
    if format in ("csv", "json"):
        dtypes = schema_dtypes(schema, f"reading {format} from {os.fspath(path)!r}")
        defaults = schema.default_values()  # type: ignore[union-attr]
        primary_key = schema.primary_key_columns()  # type: ignore[union-attr]
        if format == "csv":
            settings = csv_settings or CsvParserSettings()
            parser = functools.partial(
                _csv, dtypes=dtypes, defaults=defaults, settings=settings
            )
            check_file = functools.partial(
                _check_csv, dtypes=dtypes, defaults=defaults, settings=settings
            )
        else:
            parser = functools.partial(
                _json, dtypes=dtypes, defaults=defaults, field_paths=json_field_paths
            )
    elif format == "binary":
        dtypes = {"data": dt.BYTES}
        parser = parse_binary
    else:
        dtypes = {"data": dt.STR}
        parser = parse_plaintext if format == "plaintext" else parse_whole_text
    source = FileSource(
        path,
        parser,
        dtypes,
        mode=mode,
        primary_key=primary_key,
        with_metadata=with_metadata,
        name=label,
        check_file=check_file,
        object_pattern=object_pattern,
        poll_interval=None if autocommit_duration_ms is None
        else min(autocommit_duration_ms / 1000, 0.1),
    )
    columns = dict(dtypes)
    if with_metadata:
        columns[METADATA_COLUMN] = dt.JSON
    return input_table(columns, source, where)


def _csv(data, path, *, dtypes, defaults, settings):
    return parse_csv(data, path, dtypes, defaults, settings)


def _json(data, path, *, dtypes, defaults, field_paths):
    return parse_jsonlines(data, path, dtypes, defaults, field_paths)


def _check_csv(path: str, *, dtypes, defaults, settings) -> None:
    with open(path, "rb") as handle:
        first = handle.readline()
    if first.strip():
        check_csv_header(csv_header(first, settings), dtypes, defaults, path)


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
        from reflow.io.csv import write as write_csv

        write_csv(table, filename, name=name)
    elif format == "json":
        from reflow.io.jsonlines import write as write_json

        write_json(table, filename, name=name)
    else:
        raise ConnectorError(f"unknown output format {format!r}; expected 'csv' or 'json'")


__all__ = ["CsvParserSettings", "read", "write"]
