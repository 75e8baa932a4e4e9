"""The tables of run-time errors behind ``pw.global_error_log()`` and
``pw.local_error_log()``: their nodes and their batches."""

from __future__ import annotations

import itertools

import polars as pl

from reflow.engine.ids import hash_values
from reflow.engine.operator import CellError
from reflow.plan import dtypes as dt
from reflow.plan.nodes import ColumnInfo, InputNode, Universe
from reflow.runtime.batches import make_batch
from reflow.runtime.sources import ErrorLogSource

ERROR_LOG_COLUMNS = {
    "operator": dt.STR,
    "message": dt.STR,
    "row_id": dt.Optional(dt.POINTER),
}

#: The plan node of ``pw.global_error_log()``: one input shared by every pipeline.
ERROR_LOG_NODE = InputNode(
    {name: ColumnInfo(dtype) for name, dtype in ERROR_LOG_COLUMNS.items()},
    Universe(),
    ErrorLogSource(),
    where="global_error_log",
)


def local_error_log_node(scope: object, where: str = "") -> InputNode:
    """The plan node of the error log of one ``pw.local_error_log()`` scope."""
    return InputNode(
        {name: ColumnInfo(dtype) for name, dtype in ERROR_LOG_COLUMNS.items()},
        Universe(),
        ErrorLogSource(scope),
        where=where or "local_error_log",
    )


def error_log_batch_builder():
    """A function turning ``CellError``s into batches of the error log, with unique ids."""
    counter = itertools.count()

    def to_batch(errors: list[CellError]) -> pl.DataFrame:
        ids = [hash_values(["error", next(counter)]) for _ in errors]
        return make_batch(
            ERROR_LOG_COLUMNS,
            ids,
            {
                "operator": [e.operator for e in errors],
                "message": [e.message for e in errors],
                "row_id": [e.row_id for e in errors],
            },
            [1] * len(errors),
        )

    return to_batch
