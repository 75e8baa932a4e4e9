"""Connectors: reading from and writing to external systems (``pw.io``)."""

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
from reflow.io.subscribe import subscribe

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
