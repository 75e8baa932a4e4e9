"""Tables read from files: the reading shared by ``pw.io.fs``, ``pw.io.csv`` and
``pw.io.jsonlines``."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

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
    strip_bom,
)
from reflow.plan import dtypes as dt
from reflow.plan.errors import user_frame

if TYPE_CHECKING:
    from reflow.api.schema import Schema
    from reflow.api.table import Table

Format = Literal["csv", "json", "plaintext", "plaintext_by_file", "binary"]
_FORMATS = ("csv", "json", "plaintext", "plaintext_by_file", "binary")


def read_files(
    path: str | os.PathLike,
    format: Format,
    *,
    schema: type[Schema] | None,
    mode: Literal["streaming", "static"],
    csv_settings: CsvParserSettings | None,
    json_field_paths: dict[str, str] | None,
    with_metadata: bool,
    name: str | None,
    autocommit_duration_ms: int | None,
    object_pattern: str = "*",
) -> Table:
    """The table of ``pw.io.fs.read`` (see there)."""
    where = user_frame()
    if format not in _FORMATS:
        raise ConnectorError(f"unknown format {format!r}; expected one of {', '.join(_FORMATS)}")
    label = name or f"{format} files {os.fspath(path)}"
    check_file = None
    parser: Callable[[bytes, str], Any]
    primary_key = None
    if format in ("csv", "json"):
        dtypes = schema_dtypes(
            schema, f"reading {format} from {os.fspath(path)!r} (at {where})"
        )
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
        line_based=format in ("csv", "json", "plaintext"),
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
        header = csv_header(strip_bom(first), settings, path)
        check_csv_header(header, dtypes, defaults, path)
