"""``pw.demo``: live tables made up on the spot or replayed from a CSV file, for examples and
tests of streaming pipelines.

Each table is fed by a ``pw.io.python`` subject running in its own thread, so the rows arrive
over time, at the given rate, and the pipeline revises its outputs as they come.
"""

from __future__ import annotations

import csv
import datetime
import os
import time
from collections.abc import Callable
from typing import Any

from reflow.api.schema import Schema, schema_from_types
from reflow.api.table import Table
from reflow.io import python as python_io
from reflow.plan import dtypes as dt


class _Generator(python_io.ConnectorSubject):
    """Sends ``rows()`` one by one, ``input_rate`` rows per second (no wait if 0 or less)."""

    def __init__(self, rows: Callable[[], Any], input_rate: float) -> None:
        super().__init__()
        self._rows = rows
        self._pause = 1.0 / input_rate if input_rate and input_rate > 0 else 0.0

    def run(self) -> None:
        for row in self._rows():
            self.next(**row)
            if self._pause:
                time.sleep(self._pause)


def generate_custom_stream(
    value_generators: dict[str, Any],
    *,
    schema: type[Schema],
    nb_rows: int | None = None,
    autocommit_duration_ms: int = 1000,
    input_rate: float = 1.0,
    name: str | None = None,
) -> Table:
    """A live table whose row ``i`` has ``value_generators[column](i)`` in each column;
    ``nb_rows=None`` never stops.

    >>> import reflow as pw
    >>> t = pw.demo.generate_custom_stream(
    ...     {"n": lambda i: i, "square": lambda i: i * i},
    ...     schema=pw.schema_from_types(n=int, square=int), nb_rows=3, input_rate=1000)
    >>> pw.debug.compute_and_print(t, include_id=False)
    n | square
    0 | 0
    1 | 1
    2 | 4
    """
    missing = [c for c in schema.column_names() if c not in value_generators]
    if missing:
        raise ValueError(f"generate_custom_stream: no value generator for columns {missing}")

    def rows() -> Any:
        i = 0
        while nb_rows is None or i < nb_rows:
            yield {c: value_generators[c](i) for c in schema.column_names()}
            i += 1

    return python_io.read(
        _Generator(rows, input_rate), schema=schema,
        autocommit_duration_ms=autocommit_duration_ms, name=name,
    )


def range_stream(
    nb_rows: int = 30,
    offset: int = 0,
    input_rate: float = 1.0,
    autocommit_duration_ms: int = 1000,
) -> Table:
    """A live table with one float column ``value``: ``offset``, ``offset + 1``, ...

    >>> import reflow as pw
    >>> t = pw.demo.range_stream(nb_rows=4, offset=10, input_rate=1000)
    >>> pw.debug.compute_and_print(t.reduce(total=pw.reducers.sum(pw.this.value)),
    ...                            include_id=False)
    total
    46.0
    """
    return generate_custom_stream(
        {"value": lambda i: float(i + offset)},
        schema=schema_from_types(value=float),
        nb_rows=nb_rows,
        autocommit_duration_ms=autocommit_duration_ms,
        input_rate=input_rate,
    )


def _csv_rows(path: str | os.PathLike, schema: type[Schema]) -> list[dict[str, Any]]:
    """The rows of a CSV file with a header, keeping the schema's columns, values parsed."""
    dtypes = schema.dtypes()
    rows = []
    with open(path, newline="", encoding="utf-8") as file:
        for number, record in enumerate(csv.DictReader(file), start=2):
            row = {}
            for column, dtype in dtypes.items():
                if column not in record:
                    raise ValueError(f"{path}: the header has no column {column!r}")
                try:
                    row[column] = _parse(record[column], dtype)
                except ValueError as exc:
                    raise ValueError(
                        f"{path}, line {number}: column {column!r}: cannot parse "
                        f"{record[column]!r} as {dtype!r} ({exc})"
                    ) from None
            rows.append(row)
    return rows


def _parse(text: str | None, dtype: dt.DType) -> Any:
    base = dtype.strip_optional()
    if text is None or (text == "" and dtype.is_optional):
        return None
    if base == dt.INT:
        return int(text)
    if base == dt.FLOAT:
        return float(text)
    if base == dt.BOOL:
        if text.lower() not in ("true", "false", "1", "0"):
            raise ValueError("not a bool")
        return text.lower() in ("true", "1")
    return text


def replay_csv(
    path: str | os.PathLike, *, schema: type[Schema], input_rate: float = 1.0
) -> Table:
    """The rows of a CSV file as a live table, ``input_rate`` rows per second.

    >>> import os, tempfile, reflow as pw
    >>> path = os.path.join(tempfile.mkdtemp(), "sales.csv")
    >>> _ = open(path, "w").write("item,qty\\napple,3\\npear,4\\n")
    >>> sales = pw.demo.replay_csv(path, schema=pw.schema_from_types(item=str, qty=int),
    ...                            input_rate=1000)
    >>> pw.debug.compute_and_print(sales.reduce(total=pw.reducers.sum(pw.this.qty)),
    ...                            include_id=False)
    total
    7
    """
    rows = _csv_rows(path, schema)
    return python_io.read(
        _Generator(lambda: iter(rows), input_rate), schema=schema, autocommit_duration_ms=100
    )


class _TimedReplay(python_io.ConnectorSubject):
    """Sends rows at the pace of their time column (``speedup`` times faster)."""

    def __init__(self, rows: list[dict[str, Any]], times: list[float], speedup: float) -> None:
        super().__init__()
        self._rows, self._times, self._speedup = rows, times, speedup

    def run(self) -> None:
        if not self._rows:
            return
        start, first = time.monotonic(), self._times[0]
        for row, at in zip(self._rows, self._times, strict=True):
            wait = (at - first) / self._speedup - (time.monotonic() - start)
            if wait > 0:
                time.sleep(wait)
            self.next(**row)


_UNIT_SECONDS = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}


def replay_csv_with_time(
    path: str,
    *,
    schema: type[Schema],
    time_column: str,
    unit: str = "s",
    autocommit_ms: int = 100,
    speedup: float = 1,
) -> Table:
    """The rows of a CSV file as a live table, sent with the gaps between the values of
    ``time_column`` (in ``unit``: s, ms, us or ns), divided by ``speedup``.

    >>> import os, tempfile, reflow as pw
    >>> path = os.path.join(tempfile.mkdtemp(), "events.csv")
    >>> _ = open(path, "w").write("t,v\\n0,1\\n1,2\\n")
    >>> events = pw.demo.replay_csv_with_time(
    ...     path, schema=pw.schema_from_types(t=int, v=int), time_column="t", speedup=100)
    >>> pw.debug.compute_and_print(events, include_id=False)
    t | v
    0 | 1
    1 | 2
    """
    if unit not in _UNIT_SECONDS:
        raise ValueError(f"replay_csv_with_time: unit must be one of {list(_UNIT_SECONDS)}")
    if time_column not in schema.column_names():
        raise ValueError(f"replay_csv_with_time: the schema has no column {time_column!r}")
    rows = _csv_rows(path, schema)
    times = [_seconds(row[time_column], _UNIT_SECONDS[unit]) for row in rows]
    return python_io.read(
        _TimedReplay(rows, times, speedup), schema=schema, autocommit_duration_ms=autocommit_ms
    )


def _seconds(value: Any, unit: float) -> float:
    if isinstance(value, datetime.datetime):
        return value.timestamp()
    return float(value) * unit
