"""``pw.global_error_log()``: a table of the run-time errors of the pipeline."""

from __future__ import annotations

import itertools

import polars as pl

from reflow.api import dtypes as dt
from reflow.engine.ids import hash_values
from reflow.engine.operator import CellError
from reflow.plan.nodes import ColumnInfo, InputNode, Universe
from reflow.runtime.batches import make_batch
from reflow.runtime.sources import ErrorLogSource

ERROR_LOG_COLUMNS = {
    "operator": dt.STR,
    "message": dt.STR,
    "row_id": dt.Optional(dt.POINTER),
}

_ERROR_LOG_NODE = InputNode(
    {name: ColumnInfo(dtype) for name, dtype in ERROR_LOG_COLUMNS.items()},
    Universe(),
    ErrorLogSource(),
    where="global_error_log",
)


def global_error_log():
    """Every per-row error raised while running the pipeline, one row per error (a run started
    with ``terminate_on_error=False``; by default the first error stops the run).

    >>> import reflow as pw
    >>> t = pw.debug.table_from_markdown('''
    ... a | b
    ... 1 | 0
    ... ''')
    >>> q = t.select(q=pw.this.a // pw.this.b)
    >>> log = pw.global_error_log().select(pw.this.message)
    >>> rows = pw.debug.table_to_dicts(log, terminate_on_error=False)[1]["message"].values()
    >>> any("division by zero" in m for m in rows)
    True
    """
    from reflow.api.table import Table

    return Table(_ERROR_LOG_NODE)


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
