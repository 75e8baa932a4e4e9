"""Windows over event time and ``windowby``.

``windowby`` assigns every row to its windows (one for tumbling and session windows, possibly
several for sliding ones), applies the behavior (see ``behaviors.py``) and groups the rows by
window and instance. ``reduce`` then works as after ``groupby`` and may also use the window
columns ``_pw_window_start``, ``_pw_window_end``, ``_pw_window`` (``(instance, start, end)``)
and ``_pw_instance``.

>>> import reflow as pw
>>> t = pw.debug.table_from_markdown('''
... t  | v
... 1  | 10
... 4  | 20
... 12 | 5
... ''')
>>> r = t.windowby(pw.this.t, window=pw.temporal.tumbling(duration=10)).reduce(
...     start=pw.this._pw_window_start, total=pw.reducers.sum(pw.this.v)
... )
>>> pw.debug.compute_and_print(r, include_id=False)
start | total
0     | 30
10    | 5
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import polars as pl

from reflow.engine.batch import DIFF, ID, frame_of, series_from_numpy
from reflow.engine.ids import hash_columns
from reflow.plan import dtypes as dt
from reflow.plan import expr as ex
from reflow.plan.errors import BuildTypeError, BuildValueError, user_frame
from reflow.plan.nodes import ColumnInfo
from reflow.plan.temporal_nodes import KernelNode, SessionNode
from reflow.temporal import _time
from reflow.temporal._window_keys import window_join_keys
from reflow.temporal.behaviors import Behavior, CommonBehavior, ExactlyOnceBehavior
from reflow.temporal.gates import gated

if TYPE_CHECKING:
    from reflow.api.table import Table

KEY = "_pw_key"
INSTANCE = "_pw_instance"
START = "_pw_window_start"
END = "_pw_window_end"
WINDOW = "_pw_window"
PHYS_TIME = "_pw_t"
PHYS_START = "_pw_start_t"
PHYS_END = "_pw_end_t"
INSTANCE_HASH = "_pw_instance_hash"
JOIN_KEY = "_pw_window_key"
#: Raised whenever the values of ``JOIN_KEY`` or the ids of ``window_join`` results change
#: (2: one numeric key with an integer window start is a bijection, not a hash).
WINDOW_JOIN_KEY_SCHEME = 2

Number = int | float | datetime.timedelta

# How datetime times are stored (see ``_time``): their physical form is nanoseconds.
_DATETIME_STORAGE = {
    dt.DATE_TIME_NAIVE: pl.Datetime("ns"),
    dt.DATE_TIME_UTC: pl.Datetime("ns", "UTC"),
}


class Window:
    """Where rows go: the base of ``tumbling``, ``sliding``, ``session`` and ``intervals_over``."""

    def _assign(self, table: Table, time_type: dt.DType, has_instance: bool,
                where: str, keep_ids: bool = False,
                join_key: tuple[list[str], list[str]] | None = None,
                time_column: str | None = None) -> Table:
        """``table`` with its rows' windows. ``keep_ids``: a window that holds each row once
        (tumbling) may keep the row's id instead of hashing it with the window start.
        ``join_key``: key columns and the numeric ones among them (see
        ``_join_common.key_columns``), hashed with the window start into ``JOIN_KEY`` in
        the same call. ``time_column``: a column of ``table`` holding the times, which the
        window copies into ``KEY`` itself (otherwise ``table`` has ``KEY``)."""
        raise NotImplementedError


@dataclass
class _SlidingWindow(Window):
    hop: Number
    duration: Number
    origin: Any = None

    def _assign(self, table, time_type, has_instance, where, keep_ids=False, join_key=None,
                time_column=None):
        from reflow.api.table import Table
        from reflow.temporal._join_common import hashable_keys

        hop = _time.duration_value(self.hop, time_type, "hop")
        duration = _time.duration_value(self.duration, time_type, "duration")
        if hop <= 0 or duration <= 0:
            raise BuildValueError("window hop and duration must be positive", where)
        origin = 0 if self.origin is None else _time.instant_value(
            self.origin, time_type, "origin")
        explicit_origin = self.origin is not None
        floating = time_type == dt.FLOAT or any(isinstance(v, float)
                                                for v in (hop, duration, origin))
        phys = pl.Float64 if floating else pl.Int64
        time_phys = _time.to_physical(pl.col(KEY), time_type).cast(phys)

        def floor_div(x: pl.Expr) -> pl.Expr:
            if floating:
                return (x / hop).floor().cast(pl.Int64)
            return x // hop

        # A tumbling window over integer (or datetime) times holds each row once: its index
        # is one floor division, with no list column to explode. Float times keep the
        # general formula, whose rounding the tumbling shortcut could change.
        tumbling = hop == duration and not floating
        # Each row is in one window at most, so its id identifies its window row.
        same_ids = tumbling and keep_ids
        datetime_unit = _DATETIME_STORAGE.get(time_type.strip_optional())

        def assign(frame: pl.LazyFrame) -> pl.LazyFrame:
            if tumbling:
                index = floor_div(time_phys - origin)
                return frame.with_columns(
                    time_phys.alias(PHYS_TIME), index.alias("_pw_window_index")
                ).filter(pl.col("_pw_window_index").is_not_null())
            lo = floor_div(time_phys - origin - duration) + 1
            hi = floor_div(time_phys - origin)
            return (
                frame.with_columns(
                    time_phys.alias(PHYS_TIME),
                    pl.int_ranges(lo, hi + 1).alias("_pw_window_index"),
                )
                .explode("_pw_window_index")
                .filter(pl.col("_pw_window_index").is_not_null())
            )

        def tumbling_kernel(frame: pl.DataFrame) -> pl.DataFrame | None:
            """Tumbling windows of a batch without nulls in its time column, on numpy: a
            handful of array operations, against ~0.5 ms for the smallest Polars query."""
            key = frame.get_column(time_source)
            if key.null_count():
                return None
            if datetime_unit is not None:
                if key.dtype != datetime_unit:
                    return None
                times = key.dt.epoch("ns").to_numpy()
            elif key.dtype == pl.Int64:
                times = key.to_numpy()
            else:
                return None
            if explicit_origin:
                kept = times >= origin
                if not kept.all():
                    frame = frame.filter(pl.Series(kept))
                    times = times[kept]
            starts = (times - origin) // hop * hop + origin
            ends = starts + duration
            added = {
                # integer times are their own physical times: the key column, renamed
                PHYS_TIME: (series_from_numpy(PHYS_TIME, times) if datetime_unit is not None
                            else frame.get_column(time_source).alias(PHYS_TIME)),
                PHYS_START: series_from_numpy(PHYS_START, starts),
                PHYS_END: series_from_numpy(PHYS_END, ends),
            }
            if join_key is not None:
                added[JOIN_KEY] = window_key(frame, added[PHYS_START])
            if time_column is not None:
                added[KEY] = frame.get_column(time_column).alias(KEY)
            if datetime_unit is None:
                added[START] = added[PHYS_START].alias(START)
                added[END] = added[PHYS_END].alias(END)
            else:
                added[START] = added[PHYS_START].cast(datetime_unit).alias(START)
                added[END] = added[PHYS_END].cast(datetime_unit).alias(END)
            present = dict(zip(frame.columns, frame.get_columns(), strict=True))
            return frame_of([added[name] if name in added else present[name]
                             for name in (ID, *columns_order, DIFF)])

        def window_key(frame: pl.DataFrame, starts: pl.Series) -> pl.Series:
            """The join key of each row: its key columns and window start, hashed."""
            assert join_key is not None
            names, numeric = join_key
            return window_join_keys(hashable_keys(frame, names, numeric), starts, JOIN_KEY)

        def kernel(frame: pl.DataFrame) -> pl.DataFrame:
            if tumbling:
                out = tumbling_kernel(frame)
                if out is not None:
                    if same_ids:
                        return out
                    # The ids the general path gives: the row's id hashed with its start.
                    new_ids = hash_columns(out, [ID, PHYS_START], "window")
                    return out.replace_column(0, new_ids.alias(ID))  # a fresh frame
            # One lazy query: every eager step would be a Polars call of its own, and that
            # fixed cost dominates the small batches of a streaming run.
            start = (pl.col("_pw_window_index").cast(phys) * hop + origin).cast(phys)
            lazy = frame.lazy()
            if time_column is not None:
                lazy = lazy.with_columns(pl.col(time_column).alias(KEY))
            query = assign(lazy).with_columns(start.alias(PHYS_START))
            if explicit_origin:
                # with an explicit origin, windows start there: earlier ones do not exist
                query = query.filter(pl.col(PHYS_START) >= origin)
            out = query.with_columns(
                (pl.col(PHYS_START) + duration).cast(phys).alias(PHYS_END)
            ).with_columns(
                _time.from_physical(pl.col(PHYS_START), time_type).alias(START),
                _time.from_physical(pl.col(PHYS_END), time_type).alias(END),
            ).collect()
            if join_key is not None:
                out = out.with_columns(window_key(out, out[PHYS_START]))
            if same_ids:
                return out.select(ID, *columns_order, DIFF)
            new_ids = hash_columns(out, [ID, PHYS_START], "window")
            return pl.DataFrame(
                [new_ids if name == ID else out[name] for name in (ID, *columns_order, DIFF)]
            )

        columns = dict(table._node.columns)
        time_source = KEY
        if time_column is not None:  # the key column comes last, as ``with_columns`` puts it
            time_source = time_column
            columns[KEY] = columns[time_column]
        phys_type = dt.FLOAT if floating else dt.INT
        columns[PHYS_TIME] = ColumnInfo(phys_type)
        columns[PHYS_START] = ColumnInfo(phys_type)
        columns[PHYS_END] = ColumnInfo(phys_type)
        columns[START] = ColumnInfo(time_type)
        columns[END] = ColumnInfo(time_type)
        if join_key is not None:
            columns[JOIN_KEY] = ColumnInfo(dt.POINTER)
        node = KernelNode(table._node, columns, kernel, where)
        node.keeps_append_only = False  # window joins are not append-only in Pathway
        if join_key is not None:
            # Part of the plan's fingerprint: a checkpoint holding join keys (and result ids)
            # of another scheme is refused on restore instead of mixed with this one's.
            node.join_key_scheme = WINDOW_JOIN_KEY_SCHEME
        columns_order = list(node.polars_columns())
        return Table(node)


@dataclass
class _SessionWindow(Window):
    predicate: Any = None
    max_gap: Number | None = None

    def _assign(self, table, time_type, has_instance, where, keep_ids=False, join_key=None,
                time_column=None):
        from reflow.api.table import Table

        assert time_column is None  # sessions read ``KEY``
        if (self.predicate is None) == (self.max_gap is None):
            raise BuildValueError("session() needs exactly one of predicate= and max_gap=", where)
        gap = (
            _time.duration_value(self.max_gap, time_type, "max_gap")
            if self.max_gap is not None else None
        )
        predicate = self.predicate
        phys_type = dt.FLOAT if time_type == dt.FLOAT else dt.INT
        phys = phys_type.polars()

        def add_hash(frame: pl.DataFrame) -> pl.DataFrame:
            hashed = (
                hash_columns(frame, [INSTANCE], "instance") if has_instance
                else pl.lit(0, dtype=pl.UInt128)
            )
            return frame.with_columns(
                hashed.alias(INSTANCE_HASH),
                _time.to_physical(pl.col(KEY), time_type).cast(phys).alias(PHYS_TIME),
            )

        hashed_columns = dict(table._node.columns)
        hashed_columns[INSTANCE_HASH] = ColumnInfo(dt.POINTER)
        hashed_columns[PHYS_TIME] = ColumnInfo(phys_type)
        hashed_node = KernelNode(table._node, hashed_columns, add_hash, where, same_ids=True)

        def assign(frame: pl.DataFrame) -> pl.DataFrame:
            frame = frame.filter(pl.col(PHYS_TIME).is_not_null()).sort(
                [INSTANCE_HASH, PHYS_TIME]
            )
            same_instance = pl.col(INSTANCE_HASH) == pl.col(INSTANCE_HASH).shift(1)
            if gap is not None:
                joined = same_instance & ((pl.col(PHYS_TIME) - pl.col(PHYS_TIME).shift(1)) < gap)
                breaks = frame.select((~joined.fill_null(False)).alias("b"))["b"]
            else:
                times = frame[KEY].to_list()
                inst = frame[INSTANCE_HASH].to_list()
                flags = [True] + [
                    not (inst[i] == inst[i - 1] and bool(predicate(times[i - 1], times[i])))
                    for i in range(1, len(times))
                ]
                breaks = pl.Series("b", flags, dtype=pl.Boolean)
            out = frame.with_columns(breaks.cum_sum().alias("_pw_session"))
            out = out.with_columns(
                pl.col(PHYS_TIME).min().over("_pw_session").alias(PHYS_START),
                pl.col(PHYS_TIME).max().over("_pw_session").alias(PHYS_END),
            ).with_columns(
                _time.from_physical(pl.col(PHYS_START), time_type).alias(START),
                _time.from_physical(pl.col(PHYS_END), time_type).alias(END),
            )
            return out.select(ID, *columns_order, DIFF)

        columns = dict(hashed_columns)
        columns[PHYS_START] = ColumnInfo(phys_type)
        columns[PHYS_END] = ColumnInfo(phys_type)
        columns[START] = ColumnInfo(time_type)
        columns[END] = ColumnInfo(time_type)
        node = SessionNode(hashed_node, columns, INSTANCE_HASH, assign, [START, END], where,
                           PHYS_TIME, PHYS_START, PHYS_END, gap)
        columns_order = list(node.polars_columns())
        return Table(node)


def tumbling(duration: Number, origin: Any = None) -> Window:
    """Windows of length ``duration`` one after another, starting at ``origin`` (default 0 or
    the epoch): each row falls into exactly one. With an explicit ``origin``, rows before it
    fall into no window.

    >>> import reflow as pw
    >>> t = pw.debug.table_from_markdown('''
    ... t
    ... 3
    ... 7
    ... ''')
    >>> r = t.windowby(t.t, window=pw.temporal.tumbling(5, origin=1)).reduce(
    ...     pw.this._pw_window_start, pw.this._pw_window_end, n=pw.reducers.count())
    >>> pw.debug.compute_and_print(r, include_id=False)
    _pw_window_start | _pw_window_end | n
    1                | 6              | 1
    6                | 11             | 1
    """
    return _SlidingWindow(hop=duration, duration=duration, origin=origin)


def sliding(hop: Number, duration: Number | None = None, ratio: int | None = None,
            origin: Any = None) -> Window:
    """Windows of length ``duration`` (or ``hop * ratio``) starting every ``hop`` (from
    ``origin``: with an explicit one, no window starts before it); a row falls into every
    window that contains its time.

    >>> import reflow as pw
    >>> t = pw.debug.table_from_markdown('''
    ... t
    ... 5
    ... ''')
    >>> r = t.windowby(t.t, window=pw.temporal.sliding(hop=2, duration=4)).reduce(
    ...     pw.this._pw_window_start, n=pw.reducers.count())
    >>> pw.debug.compute_and_print(r, include_id=False)
    _pw_window_start | n
    2                | 1
    4                | 1
    """
    if (duration is None) == (ratio is None):
        raise ValueError("sliding() needs exactly one of duration= and ratio=")
    if duration is None:
        duration = hop * ratio  # type: ignore[operator]
    return _SlidingWindow(hop=hop, duration=duration, origin=origin)


def session(*, predicate: Any = None, max_gap: Number | None = None) -> Window:
    """Sessions: rows of one instance whose consecutive times are closer than ``max_gap``
    (or for which ``predicate(earlier, later)`` holds) form one window. Windows merge when a
    row bridges them and split when such a row is deleted.

    >>> import reflow as pw
    >>> t = pw.debug.table_from_markdown('''
    ... t
    ... 1
    ... 2
    ... 10
    ... ''')
    >>> r = t.windowby(t.t, window=pw.temporal.session(max_gap=3)).reduce(
    ...     pw.this._pw_window_start, pw.this._pw_window_end, n=pw.reducers.count())
    >>> pw.debug.compute_and_print(r, include_id=False)
    _pw_window_start | _pw_window_end | n
    1                | 2              | 2
    10               | 10             | 1
    """
    return _SessionWindow(predicate=predicate, max_gap=max_gap)


def windowby(
    table: Table,
    time_expr: Any,
    *,
    window: Window,
    behavior: Behavior | None = None,
    instance: Any = None,
) -> WindowedTable:
    """Group the rows of ``table`` by the windows ``window`` puts them in (per ``instance``);
    follow with ``.reduce(...)``. See the module documentation for an example.

    >>> import reflow as pw
    >>> events = pw.debug.table_from_markdown('''
    ... t  | v
    ... 1  | 2
    ... 4  | 3
    ... 12 | 5
    ... ''')
    >>> r = events.windowby(pw.this.t, window=pw.temporal.tumbling(10)).reduce(
    ...     start=pw.this._pw_window_start, total=pw.reducers.sum(pw.this.v)
    ... )
    >>> pw.debug.compute_and_print(r, include_id=False)
    start | total
    0     | 5
    10    | 5
    """
    where = user_frame()
    if not isinstance(window, Window):
        raise BuildTypeError(f"window= must be a pw.temporal window, got {window!r}", where)
    from reflow.temporal.intervals import _IntervalsOverWindow, intervals_over_windowby

    extra: dict[str, Any] = {KEY: _rebind(ex.wrap_arg(time_expr), table)}
    if instance is not None:
        extra[INSTANCE] = _rebind(ex.wrap_arg(instance), table)
    time_column = _plain_time_column(table, extra[KEY], window) if instance is None else None
    # A plain time column is copied into ``KEY`` by the window's kernel: no select before it.
    prepared = table if time_column is not None else table.with_columns(**extra)
    key_info = prepared._node.columns[KEY if time_column is None else time_column]
    try:
        time_type = _time.check_time_type(key_info.dtype, "the time column")
    except TypeError as exc:
        raise BuildTypeError(str(exc), where) from None
    if behavior is not None and not isinstance(behavior, (CommonBehavior, ExactlyOnceBehavior)):
        raise BuildTypeError(f"behavior= must be a pw.temporal behavior, got {behavior!r}", where)
    if isinstance(window, _IntervalsOverWindow):
        # as in the reference API, intervals_over windows accept a behavior and ignore it
        return intervals_over_windowby(prepared, table, window, time_type, instance is not None,
                                       where)
    freeze: Any = None
    try:
        assigned = window._assign(prepared, time_type, instance is not None, where,
                                  keep_ids=True, time_column=time_column)
        # as in the reference API, session windows accept a behavior and ignore it: a late
        # row can bridge any two sessions, so no session is ever final
        if behavior is not None and not isinstance(window, _SessionWindow):
            common = _as_common(behavior, window, time_type)
            assigned, freeze = _apply_behavior(assigned, common, time_type, where)
    except TypeError as exc:
        raise BuildTypeError(str(exc), where) from None
    instance_column = None
    if isinstance(window, _SessionWindow) and isinstance(
        instance, (ex.ColumnReference, ex.ThisReference)
    ):
        instance_column = instance.name
    return WindowedTable(table, assigned, instance is not None, freeze, where,
                         instance_column=instance_column)


def _plain_time_column(table: Table, key: ex.ColumnExpression, window: Window) -> str | None:
    """The name of ``table``'s column that ``key`` is, when a tumbling or sliding window can
    read it in place (a column that holds no error value, in a table without a column named
    ``KEY``); else None."""
    columns = table._node.columns
    if (not isinstance(window, _SlidingWindow) or not isinstance(key, ex.ThisReference)
            or key.side != "this" or key.name not in columns or KEY in columns
            or columns[key.name].fallible):
        return None
    return key.name


def _as_common(behavior: Behavior, window: Window, time_type: dt.DType) -> CommonBehavior:
    if isinstance(behavior, CommonBehavior):
        return behavior
    if isinstance(behavior, ExactlyOnceBehavior):
        assert isinstance(window, _SlidingWindow)
        shift = behavior.shift
        if shift is None:
            shift = datetime.timedelta(0) if _time.is_datetime(time_type) else 0
        return CommonBehavior(delay=window.duration + shift, cutoff=shift, keep_results=True)
    raise TypeError(f"unknown behavior {behavior!r}")


def _apply_behavior(
    assigned: Table, behavior: CommonBehavior, time_type: dt.DType, where: str
) -> tuple[Table, Any]:
    delay = cutoff = None
    if behavior.delay is not None:
        delay = _time.duration_value(behavior.delay, time_type, "delay")
    if behavior.cutoff is not None:
        cutoff = _time.duration_value(behavior.cutoff, time_type, "cutoff")
    thresholds: dict[str, pl.Expr] = {}
    if delay is not None:
        thresholds["buffer"] = pl.col(PHYS_START) + delay
    if cutoff is not None:
        thresholds["ignore_late"] = pl.col(PHYS_END) + cutoff
        thresholds["forget"] = pl.col(PHYS_END) + cutoff
    gated_table, frontier = gated(assigned, PHYS_TIME, thresholds, where)
    freeze = None
    if cutoff is not None and behavior.keep_results:
        freeze = (frontier, cutoff, time_type)
    return gated_table, freeze


def _rebind(expr: ex.ColumnExpression, table: Table) -> ex.ColumnExpression:
    """References to ``table``'s columns become ``pw.this`` references."""
    if isinstance(expr, ex.ColumnReference) and (
        expr.table is table or getattr(expr.table, "_node", None) is table._node
    ):
        return ex.ThisReference("this", expr.name)
    children = expr._children()
    if not children:
        return expr
    return expr._rebuild([_rebind(child, table) for child in children])


class WindowedTable:
    """The result of ``windowby``: rows grouped by window; call ``reduce``."""

    def __init__(self, original: Table, assigned: Table, has_instance: bool, freeze: Any,
                 where: str, extra_keys: list[str] | None = None,
                 order_by: str | None = None, instance_column: str | None = None) -> None:
        self._extra_keys = extra_keys or []
        # a column of the table named by ``instance=``, readable in reduce() as a grouping
        # column (Pathway allows it for session windows)
        self._instance_column = instance_column
        # the column ordering the values of tuple-like reducers (then the row id)
        self._order_by = order_by
        self._original = original
        self._assigned = assigned
        self._has_instance = has_instance
        self._freeze = freeze
        self._where = where

    def reduce(self, *args: Any, **kwargs: Any) -> Table:
        """One row per window (and instance) with the given columns.

        >>> import reflow as pw
        >>> t = pw.debug.table_from_markdown('''
        ... t | k | v
        ... 1 | a | 1
        ... 2 | b | 2
        ... 3 | a | 3
        ... ''')
        >>> r = t.windowby(t.t, window=pw.temporal.tumbling(10), instance=t.k).reduce(
        ...     k=pw.this._pw_instance, total=pw.reducers.sum(pw.this.v))
        >>> pw.debug.compute_and_print(r, include_id=False)
        k | total
        a | 4
        b | 2
        """
        where = user_frame()
        outputs: dict[str, ex.ColumnExpression] = {}
        for arg in args:
            name = arg._name() if isinstance(arg, ex.ColumnExpression) else None
            if name is None:
                raise BuildTypeError(
                    f"reduce() positional arguments must be columns, got {arg!r}; name "
                    "computed columns with keyword arguments", where)
            outputs[name] = arg
        for name, value in kwargs.items():
            outputs[name] = ex.wrap_arg(value)
        rewritten = {name: self._rewrite(expr) for name, expr in outputs.items()}
        keys = [ex.ThisReference("this", START), ex.ThisReference("this", END)]
        if self._has_instance:
            keys.append(ex.ThisReference("this", INSTANCE))
        keys.extend(ex.ThisReference("this", name) for name in self._extra_keys)
        order = None if self._order_by is None else ex.ThisReference("this", self._order_by)
        grouped = self._assigned.groupby(*keys, sort_by=order)
        if self._freeze is None:
            return grouped.reduce(**rewritten)
        from reflow.temporal.gates import freeze_closed

        close = "_pw_close_at"
        while close in rewritten:
            close = "_" + close
        # the window end is a grouping column: the result knows when its window closes
        rewritten[close] = ex.ThisReference("this", END)
        return freeze_closed(grouped, rewritten, close, self._freeze, where)

    def _rewrite(self, expr: ex.ColumnExpression) -> ex.ColumnExpression:
        if isinstance(expr, ex.ColumnReference) and (
            expr.table is self._original
            or getattr(expr.table, "_node", None) is self._original._node
        ):
            expr = ex.ThisReference("this", expr.name)
        if isinstance(expr, ex.ThisReference) and expr.side == "this":
            if expr.name == WINDOW:
                instance = (ex.ThisReference("this", INSTANCE) if self._has_instance
                            else ex.Literal(None))
                return ex.MakeTuple(instance, ex.ThisReference("this", START),
                                    ex.ThisReference("this", END))
            if expr.name == INSTANCE and not self._has_instance:
                return ex.Literal(None)
            if expr.name == self._instance_column:
                return ex.ThisReference("this", INSTANCE)
            return expr
        children = expr._children()
        if not children:
            return expr
        return expr._rebuild([self._rewrite(child) for child in children])
