"""Helpers to build tables from literal data and to look at results (``pw.debug``)."""

from reflow.debug.output import (
    compute_and_print,
    compute_and_print_update_stream,
    table_to_dicts,
    table_to_pandas,
)
from reflow.debug.stream_generator import StreamGenerator
from reflow.debug.tables import (
    table_from_markdown,
    table_from_pandas,
    table_from_parquet,
    table_from_rows,
)

__all__ = [
    "StreamGenerator",
    "compute_and_print",
    "compute_and_print_update_stream",
    "table_from_markdown",
    "table_from_pandas",
    "table_from_parquet",
    "table_from_rows",
    "table_to_dicts",
    "table_to_pandas",
]
