"""``pw.statistical``: filling missing values of a time series (``Table.interpolate``)."""

from __future__ import annotations

import bisect
from enum import Enum
from typing import Any

from reflow.api import reducers
from reflow.api.functions import apply_with_type, make_tuple
from reflow.api.table import Table
from reflow.engine.values import Pointer
from reflow.plan import expr as ex
from reflow.plan.errors import BuildTypeError, user_frame


class InterpolateMode(Enum):
    LINEAR = 0


def interpolate(
    table: Table, timestamp: Any, *values: Any, mode: InterpolateMode = InterpolateMode.LINEAR
) -> Table:
    """``table`` with the None cells of ``values`` filled by linear interpolation between the
    nearest rows (by ``timestamp``) that have a value; before the first and after the last
    known value, that value is repeated. The filled columns become Optional floats.

    Every change recomputes the whole series (the result of one row depends on rows that may
    be far away in time).

    >>> import reflow as pw
    >>> t = pw.debug.table_from_markdown('''
    ... t | v
    ... 1 |
    ... 2 | 2
    ... 4 |
    ... 5 | 5
    ... ''')
    >>> pw.debug.compute_and_print(t.interpolate(pw.this.t, pw.this.v), include_id=False)
    t | v
    1 | 2.0
    2 | 2.0
    4 | 4.0
    5 | 5.0
    """
    where = user_frame()
    names = []
    for value in values:
        if not isinstance(value, (ex.ColumnReference, ex.ThisReference)):
            raise BuildTypeError(f"interpolate() values must be columns, got {value!r}", where)
        names.append(value.name)
    time_name = timestamp.name
    for name in [time_name, *names]:
        table[name]  # an unknown column raises a clear error here
    row = "_pw_row"
    packed = table.select(
        **{row: make_tuple(table[time_name], table.id, *(table[n] for n in names))}
    )
    series = packed.reduce(**{row: reducers.tuple(packed[row])})
    filled = series.select(**{row: apply_with_type(_fill, list, series[row])})
    flat = filled.flatten(filled[row])
    keyed = flat.select(
        _pw_id=apply_with_type(_item(0), Pointer, flat[row]),
        **{n: apply_with_type(_item(i + 1), float | None, flat[row]) for i, n in enumerate(names)},
    )
    keyed = keyed.with_id(keyed["_pw_id"]).without(ex.ThisReference("this", "_pw_id"))
    keyed.promise_universe_is_equal_to(table)
    return table.with_columns(**{n: keyed[n] for n in names})


def _item(position: int) -> Any:
    def item(row: tuple) -> Any:
        return row[position]

    return item


def _fill(rows: tuple) -> list[tuple]:
    """``(id, filled values...)`` for every ``(time, id, values...)`` row."""
    ordered = sorted(rows, key=lambda row: row[0])
    times = [row[0] for row in ordered]
    width = len(ordered[0]) - 2 if ordered else 0
    columns = []
    for k in range(width):
        known = [(row[0], float(row[2 + k])) for row in ordered if row[2 + k] is not None]
        known_times = [t for t, _ in known]
        column = []
        for row_time, row in zip(times, ordered, strict=True):
            value = row[2 + k]
            filled = float(value) if value is not None else None
            column.append(filled if filled is not None else _between(known, known_times, row_time))
        columns.append(column)
    return [
        (Pointer(int(row[1])), *(columns[k][i] for k in range(width)))
        for i, row in enumerate(ordered)
    ]


def _between(known: list[tuple[Any, float]], times: list[Any], at: Any) -> float | None:
    if not known:
        return None
    after = bisect.bisect_left(times, at)
    if after == 0:
        return known[0][1]
    if after == len(known):
        return known[-1][1]
    (t0, v0), (t1, v1) = known[after - 1], known[after]
    return v0 + (v1 - v0) * (at - t0) / (t1 - t0)


def _interpolate_method(
    self: Table, timestamp: Any, *values: Any, mode: InterpolateMode = InterpolateMode.LINEAR
) -> Table:
    return interpolate(self, timestamp, *values, mode=mode)


_interpolate_method.__name__ = "interpolate"
_interpolate_method.__doc__ = interpolate.__doc__
# A package built on the Table adds its method itself.
Table.interpolate = _interpolate_method  # type: ignore[attr-defined]
