"""Connectors: reading from and writing to external systems (``pw.io``).

Each connector module is imported on first use (``pw.io.csv``), so a pipeline loads only the
connectors it names: the HTTP, Kafka and PostgreSQL ones pull in asyncio, sockets and TLS.
"""

from typing import TYPE_CHECKING

from reflow.io._common import ConnectorError, InputPathNotFound
from reflow.io._formats import CsvParserSettings
from reflow.io.subscribe import subscribe

if TYPE_CHECKING:
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

_CONNECTORS = frozenset(
    {"csv", "debezium", "fs", "http", "jsonlines", "kafka", "null", "plaintext", "postgres",
     "python"}
)


def __getattr__(name: str) -> object:
    if name not in _CONNECTORS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    # importing a submodule also sets it as this package's attribute
    return importlib.import_module(f"{__name__}.{name}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | _CONNECTORS)


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
