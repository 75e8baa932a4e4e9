"""Processing (wall-clock) time: ``utc_now`` and ``inactivity_detection``.

Both read the system clock, so their results depend on when the pipeline runs; they are meant
for monitoring live streams.
"""

from __future__ import annotations

import datetime
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import polars as pl

from reflow.api.schema import Schema
from reflow.engine.batch import DIFF, ID
from reflow.engine.ids import hash_columns
from reflow.io import python as io_python
from reflow.plan import dtypes as dt
from reflow.plan import expr as ex
from reflow.plan.errors import BuildTypeError, user_frame
from reflow.plan.nodes import ColumnInfo
from reflow.plan.temporal_nodes import InactivityNode, KernelNode
from reflow.temporal import _time

if TYPE_CHECKING:
    from reflow.api.table import Table


def _now_ns() -> int:
    return time.time_ns()


def _make_subject(refresh_s: float, delay_s: float) -> Any:
    class ClockSubject(io_python.ConnectorSubject):
        """Sends the current UTC time every ``refresh_s`` seconds (replacing the previous)."""

        def __init__(self) -> None:
            super().__init__(datasource_name="utc_now")
            self._stop = threading.Event()

        def run(self) -> None:
            if self._stop.wait(delay_s):
                return
            previous = None
            while True:
                now = datetime.datetime.now(datetime.timezone.utc)  # noqa: UP017
                if previous is not None:
                    self.delete(timestamp_utc=previous)
                self.next(timestamp_utc=now)
                self.commit()
                previous = now
                if self._stop.wait(refresh_s):
                    return

        def on_stop(self) -> None:
            self._stop.set()

    return ClockSubject()


def utc_now(refresh_rate: datetime.timedelta = datetime.timedelta(seconds=60),
            initial_delay: datetime.timedelta = datetime.timedelta(0)) -> Table:
    """A one-row table holding the current UTC time (column ``timestamp_utc``), replaced
    every ``refresh_rate``. It never ends: a pipeline reading it runs until stopped.

    >>> import reflow as pw
    >>> pw.temporal.utc_now().schema
    <reflow.Schema types={timestamp_utc: DATE_TIME_UTC}>
    """
    class TimestampSchema(Schema):
        timestamp_utc: dt.DateTimeUtc

    subject = _make_subject(refresh_rate.total_seconds(), initial_delay.total_seconds())
    return io_python.read(subject, schema=TimestampSchema, autocommit_duration_ms=None,
                             name="utc_now")


def inactivity_detection(
    table: Table,
    allowed_inactivity_period: datetime.timedelta,
    refresh_rate: datetime.timedelta = datetime.timedelta(seconds=1),
    instance: Any = None,
    *,
    _clock: Table | None = None,
    _now: Callable[[], int] | None = None,
) -> Table:
    """Periods in which ``table`` (an append-only stream) received no row for longer than
    ``allowed_inactivity_period`` (per ``instance``), checked every ``refresh_rate``.

    The result has ``inactivity_timestamp_utc`` (the last activity before the period),
    ``resumed_activity_timestamp_utc`` (the first activity after it, ``None`` while it lasts)
    and, with ``instance``, an ``instance`` column (``None`` for a period from the start of
    the run with no row at all).

    >>> import datetime
    >>> import reflow as pw
    >>> t = pw.Table.empty(sensor=str)
    >>> periods = pw.temporal.inactivity_detection(
    ...     t, datetime.timedelta(seconds=5), instance=t.sensor)
    >>> periods.column_names()
    ['inactivity_timestamp_utc', 'resumed_activity_timestamp_utc', 'instance']
    """
    from reflow.api.table import Table
    from reflow.temporal.windows import _rebind

    where = user_frame()
    try:
        allowed = _time.duration_value(allowed_inactivity_period, dt.DATE_TIME_UTC,
                                       "allowed_inactivity_period")
    except TypeError as exc:
        raise BuildTypeError(str(exc), where) from None
    instance_expr = _rebind(ex.wrap_arg(instance), table) if instance is not None else None
    prepared = table.select(instance=instance_expr if instance_expr is not None
                            else ex.Literal(None))
    instance_type = prepared._node.columns["instance"].dtype
    columns = {"instance": ColumnInfo(instance_type), "instance_hash": ColumnInfo(dt.POINTER)}

    def kernel(frame: pl.DataFrame) -> pl.DataFrame:
        hashed = hash_columns(frame, ["instance"], "instance") if frame.height else pl.Series(
            [], dtype=pl.UInt128)
        return frame.with_columns(hashed.alias("instance_hash")).select(
            ID, "instance", "instance_hash", DIFF)

    keyed = KernelNode(prepared._node, columns, kernel, where, same_ids=True)
    clock = _clock if _clock is not None else utc_now(refresh_rate)
    out_instance = instance_type if isinstance(instance_type, dt.Optional) or \
        instance_type == dt.NONE else dt.Optional(instance_type)
    out_columns = {
        "inactivity_timestamp_utc": ColumnInfo(dt.DATE_TIME_UTC),
        "resumed_activity_timestamp_utc": ColumnInfo(dt.Optional(dt.DATE_TIME_UTC)),
        "instance": ColumnInfo(out_instance),
    }
    node = InactivityNode(keyed, clock._node, out_columns, int(allowed), _now or _now_ns, where)
    result = Table(node)
    if instance is None:
        return result.select(ex.ThisReference("this", "inactivity_timestamp_utc"),
                             ex.ThisReference("this", "resumed_activity_timestamp_utc"))
    return result
