"""Connectors: reading from and writing to external systems (``pw.io``)."""

from reflow.api.table import Table
from reflow.io import (
    csv,
    debezium,
    fs,
    http,
    jsonlines,
    kafka,
    null,
    plaintext,
    postgres,
    python,
)
from reflow.io._common import ConnectorError, InputPathNotFound
from reflow.io._formats import CsvParserSettings
from reflow.io.subscribe import debug as _debug
from reflow.io.subscribe import subscribe

# ``t.debug(name)`` prints through a sink, so the package of sinks adds it to the Table.
Table.debug = _debug  # type: ignore[attr-defined]

__all__ = [
    "ConnectorError",
    "CsvParserSettings",
    "InputPathNotFound",
    "csv",
    "debezium",
    "fs",
    "http",
    "jsonlines",
    "kafka",
    "null",
    "plaintext",
    "postgres",
    "python",
    "subscribe",
]
