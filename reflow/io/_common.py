"""What every connector shares: schemas to columns, input tables, sinks and output frames."""

from __future__ import annotations

import datetime
import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import polars as pl

from reflow.engine.batch import DIFF, ID
from reflow.engine.lazy_modules import imported_on_use
from reflow.engine.operators.stateless import OutputOperator
from reflow.engine.values import Json, Pointer
from reflow.plan import dtypes as dt
from reflow.plan.error_columns import error_column
from reflow.plan.nodes import ColumnInfo, InputNode, Universe
from reflow.plan.tables import table_over
from reflow.runtime.monitoring import ConnectorStats
from reflow.runtime.runner import OutputSpec, register_output
from reflow.runtime.workers import building_writer

if TYPE_CHECKING:
    import numpy as np

    from reflow.api.schema import Schema
    from reflow.api.table import Table
else:
    np = imported_on_use("numpy", globals(), "np")

METADATA_COLUMN = "_metadata"


class ConnectorError(ValueError):
    """A connector cannot work as configured (bad schema, unreadable input, ...)."""


class InputPathNotFound(ConnectorError, FileNotFoundError):
    """The path given to a file reader does not exist."""


def schema_dtypes(schema: type[Schema] | None, what: str) -> dict[str, dt.DType]:
    if schema is None:
        raise ConnectorError(f"{what} needs a schema (schema=...)")
    dtypes = schema.dtypes()
    if not dtypes:
        raise ConnectorError(f"{what}: the schema has no columns")
    return dtypes


def input_table(dtypes: dict[str, dt.DType], source: Any, where: str) -> Table:
    """A table fed by ``source`` (a ``LiveSource``)."""
    columns = {name: ColumnInfo(dtype) for name, dtype in dtypes.items()}
    return table_over(InputNode(columns, Universe(), source, where))


def add_sink(
    table: Table,
    name: str,
    on_time: Callable[[int, pl.DataFrame], None],
    on_time_end: Callable[[int], None] | None = None,
    on_end: Callable[[], None] | None = None,
    on_start: Callable[[], None] | None = None,
    withhold_errors: bool = False,
    position: Callable[[], object] | None = None,
) -> None:
    """Register a sink on ``table``; it counts the rows it writes for monitoring.

    ``on_start`` runs when the run builds its dataflow (e.g. to create the output file).
    With ``withhold_errors``, rows holding an error value are not passed on; each is reported
    in the error log, naming the columns (a writer must not turn an error into a value).
    ``position`` tells where the sink's output ends after a completed time; a persistent run
    stores it in each checkpoint and gives it back through
    ``reflow.runtime.persistence.resume.sink_position`` on a restart.
    """
    stats = ConnectorStats(name, "output")

    def counted(time: int, delta: pl.DataFrame) -> None:
        stats.rows += delta.height
        on_time(time, delta)

    def ended() -> None:
        stats.closed = True
        if on_end is not None:
            on_end()

    def attach(lowering, operator):
        if on_start is not None and building_writer():
            on_start()
        prepare = None
        if withhold_errors:
            fallible = [n for n, info in table._node.columns.items() if info.fallible]
            if fallible:
                prepare = functools.partial(_withhold_errors, fallible, name)
        sink = OutputOperator(operator, name, counted, on_time_end, ended, prepare)
        sink.stats = stats
        sink.position = position
        return lowering.add(sink)

    register_output(OutputSpec(table._node, attach))


def _withhold_errors(
    fallible: list[str], sink: str, delta: pl.DataFrame, ctx: Any
) -> pl.DataFrame:
    # The usual case, no error at all, is settled on the flag columns without a query.
    if not any(delta[error_column(n)].any() for n in fallible):
        return delta
    flags = delta.select(
        pl.any_horizontal([pl.col(error_column(n)).fill_null(False) for n in fallible])
    ).to_series()
    bad = delta.filter(flags & (pl.col(DIFF) > 0))  # a retraction was withheld when inserted
    for i, row_id in enumerate(bad[ID].to_list()):
        columns = [n for n in fallible if bad[error_column(n)][i]]
        ctx.report_error(
            sink,
            f"row withheld from the output: error value in column(s) "
            f"{', '.join(map(repr, columns))}",
            row_id,
        )
    return delta.filter(~flags)


def output_frame(columns: dict[str, ColumnInfo], delta: pl.DataFrame, time: int) -> pl.DataFrame:
    """The rows of ``delta`` as plain values plus ``time`` and ``diff``, ready for a writer.

    Pointers become their text form, bytes are base64-encoded, error cells become null, and
    values Polars cannot write (JSON, tuples, objects) become text.
    """
    out = []
    for name, info in columns.items():
        series = delta[name]
        if info.fallible and delta[error_column(name)].any():
            series = pl.select(
                pl.when(delta[error_column(name)]).then(None).otherwise(series).alias(name)
            ).to_series() if series.dtype != pl.Object else pl.Series(
                name,
                [None if e else v for v, e in zip(series.to_list(),
                                                  delta[error_column(name)].to_list())],
                dtype=pl.Object,
            )
        base = info.dtype.strip_optional()
        if base == dt.POINTER:
            series = pl.Series(
                name, [None if v is None else str(Pointer(v)) for v in series.to_list()],
                dtype=pl.String,
            )
        elif series.dtype.is_temporal():
            series = series.dt.to_string()
        elif series.dtype == pl.Binary:
            series = series.bin.encode("base64")
        elif series.dtype == pl.Object or series.dtype == pl.UInt128:
            series = pl.Series(name, [_plain(v) for v in series.to_list()], dtype=pl.String)
        out.append(series.alias(name))
    out.append(pl.Series("time", np.full(delta.height, time, dtype=np.int64)))
    out.append(delta[DIFF].alias("diff"))
    return pl.DataFrame(out)


def _plain(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, Json):
        return Json.dumps(value)
    if isinstance(value, (datetime.datetime, datetime.timedelta)):
        return str(value)
    if isinstance(value, (tuple, list, dict, int, float, bool, str)):
        try:
            import json

            return json.dumps(value, default=str)
        except (TypeError, ValueError):
            return str(value)
    return str(value)

