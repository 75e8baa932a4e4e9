"""What the temporal joins share: equality conditions, key hashing, physical times, and the
wide table ``JoinResult`` reads from."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import polars as pl

from reflow.api.join import join_condition
from reflow.engine.batch import DIFF, ID, pick_columns
from reflow.engine.ids import hash_columns
from reflow.plan import dtypes as dt
from reflow.plan import expr as ex
from reflow.plan.errors import BuildTypeError, BuildValueError
from reflow.plan.join_node import wide_name
from reflow.plan.nodes import ColumnInfo
from reflow.plan.temporal_nodes import KernelNode
from reflow.temporal import _time

if TYPE_CHECKING:
    from reflow.api.table import Table

KEY = "_pw_k"
TIME = "_pw_t"


def _to_this(expr: Any, table: Table, side: str) -> ex.ColumnExpression:
    from reflow.temporal.windows import _rebind

    expr = ex.wrap_arg(expr)
    if isinstance(expr, ex.ThisReference) and expr.side == side:
        return ex.ThisReference("this", expr.name)
    return _rebind(expr, table)


def parse_on(left: Table, right: Table, on: tuple, left_instance: Any, right_instance: Any,
             where: str) -> tuple[list[ex.ColumnExpression], list[ex.ColumnExpression],
                                  set[str]]:
    """The left and right key expressions (over each table, as ``pw.this``) of ``on``."""
    conditions = list(on)
    if (left_instance is None) != (right_instance is None):
        raise BuildTypeError("left_instance and right_instance must be given together", where)
    if left_instance is not None:
        conditions.append(ex.BinaryOp("==", left_instance, right_instance))
    lkeys, rkeys, same = [], [], set()
    for condition in conditions:
        join_condition(condition, left, right, where)
        lkeys.append(_to_this(condition.left, left, "left"))
        rkeys.append(_to_this(condition.right, right, "right"))
        if condition.left.name == condition.right.name:
            same.add(condition.left.name)
    return lkeys, rkeys, same


def numeric_times(
    left: Table, left_time: Any, right: Table, right_time: Any
) -> tuple[Any, Any]:
    """The two time expressions, the int one cast to float when the other is a float (as
    Pathway allows an int and a float time column in one temporal join)."""
    from reflow.api.functions import cast
    from reflow.api.resolve import Scope, resolve

    def base(table: Table, expr: Any, side: str) -> dt.DType | None:
        try:
            return resolve(_to_this(expr, table, side), Scope.single(table)).dtype.strip_optional()
        except Exception:  # noqa: BLE001 - a bad column is reported by keyed() itself
            return None

    kinds = (base(left, left_time, "left"), base(right, right_time, "right"))
    if kinds == (dt.INT, dt.FLOAT):
        return cast(float, _to_this(left_time, left, "left")), right_time
    if kinds == (dt.FLOAT, dt.INT):
        return left_time, cast(float, _to_this(right_time, right, "right"))
    return left_time, right_time


def keyed_sides(
    left: Table, right: Table, left_time: Any, right_time: Any, on: tuple, left_instance: Any,
    right_instance: Any, where: str, hash_key: bool = True,
) -> tuple[Table, Table, dt.DType, set[str]]:
    """Both sides of a temporal join ``keyed`` by ``on`` and timed, the time type, and the
    names of the columns ``on`` compares under one name."""
    if left._node is right._node:
        raise BuildValueError("a table cannot be joined with itself directly; join it with a copy "
                              "(t.copy())", where)
    lkeys, rkeys, same = parse_on(left, right, on, left_instance, right_instance, where)
    left_time, right_time = numeric_times(left, left_time, right, right_time)
    left_keyed, time_type = keyed(left, lkeys, left_time, "left", where, hash_key=hash_key)
    right_keyed, _ = keyed(right, rkeys, right_time, "right", where, time_type,
                           hash_key=hash_key)
    return left_keyed, right_keyed, time_type, same


def keyed(table: Table, keys: list[ex.ColumnExpression], time_expr: Any, side: str,
          where: str, time_type: dt.DType | None = None,
          hash_key: bool = True) -> tuple[Table, dt.DType]:
    """``table`` with ``_pw_k`` (hash of ``keys``) and ``_pw_t`` (physical time); also
    returns the time type. Without ``hash_key`` there is no ``_pw_k``: the key columns
    ``key_columns(table)`` are left for a later step to hash (with other columns, in one
    call)."""
    from reflow.api.table import Table

    extra = {f"_pw_key{i}": k for i, k in enumerate(keys)}
    if time_expr is not None:
        extra["_pw_time"] = _to_this(time_expr, table, side)
    prepared = table.with_columns(**extra) if extra else table
    found: dt.DType = dt.INT
    if time_expr is not None:
        try:
            found = _time.check_time_type(prepared._node.columns["_pw_time"].dtype,
                                          f"the {side} time column")
        except TypeError as exc:
            raise BuildTypeError(str(exc), where) from None
        if time_type is not None and found != time_type:
            raise BuildTypeError(
                f"the time columns of a temporal join must have the same type, got "
                f"{time_type!r} and {found!r}", where)
    key_names = [f"_pw_key{i}" for i in range(len(keys))]
    columns = dict(prepared._node.columns)
    phys_type = dt.FLOAT if found == dt.FLOAT else dt.INT
    order = list(prepared._node.polars_columns())
    if hash_key:
        columns[KEY] = ColumnInfo(dt.POINTER)
        order.append(KEY)
    extra_exprs = []
    # An int time column is its own physical time: it is picked, not computed.
    time_is_int = time_expr is not None and found.strip_optional() == dt.INT
    if time_expr is not None:
        columns[TIME] = ColumnInfo(phys_type)
        order.append(TIME)
        extra_exprs.append(
            _time.to_physical(pl.col("_pw_time"), found).cast(phys_type.polars()).alias(TIME))
    numeric_keys = [n for n in key_names
                    if prepared._node.columns[n].dtype.strip_optional() in (dt.INT, dt.FLOAT)]
    kept = list(prepared._node.polars_columns())
    picks = [(ID, ID), *((c, c) for c in kept)]

    def kernel(frame: pl.DataFrame) -> pl.DataFrame:
        # ints and floats compare equal in join conditions: hash them as floats
        hashed: list[pl.Series] = []
        if hash_key and key_names:
            hashable = pl.DataFrame(hashable_keys(frame, key_names, numeric_keys))
            hashed.append(hash_columns(hashable, key_names, "temporal-join").alias(KEY))
        elif hash_key:
            hashed.append(pl.Series(KEY, [0] * frame.height, dtype=pl.UInt128))
        if time_expr is None or time_is_int:
            # No Polars query: the output is assembled from the input's columns.
            out = pick_columns(frame, picks)
            for series in hashed:
                out.insert_column(out.width, series)
            if time_is_int:
                out.insert_column(out.width, frame["_pw_time"].cast(pl.Int64).alias(TIME))
            out.insert_column(out.width, frame[DIFF])
            return out
        return frame.select(ID, *kept, *hashed, *extra_exprs, DIFF)

    return Table(KernelNode(prepared._node, columns, kernel, where, same_ids=True)), found


def key_columns(table: Table) -> tuple[list[str], list[str]]:
    """The key columns of a table ``keyed`` without ``hash_key`` and the numeric ones among
    them (hashed as floats: ints and floats compare equal in join conditions)."""
    columns = table._node.columns
    names: list[str] = []
    while f"_pw_key{len(names)}" in columns:
        names.append(f"_pw_key{len(names)}")
    numeric = [n for n in names if columns[n].dtype.strip_optional() in (dt.INT, dt.FLOAT)]
    return names, numeric


def hashable_keys(frame: pl.DataFrame, names: list[str], numeric: list[str]) -> list[pl.Series]:
    """The key columns ``names`` of ``frame`` as hashed: the ``numeric`` ones as floats."""
    return [frame[n].cast(pl.Float64) if n in numeric else frame[n] for n in names]


def wide_columns(left: Table, right: Table, optional_left: bool,
                 optional_right: bool) -> dict[str, ColumnInfo]:
    columns: dict[str, ColumnInfo] = {}
    for side, table, optional in (("left", left, optional_left),
                                  ("right", right, optional_right)):
        columns[wide_name(side, "id")] = ColumnInfo(_maybe(dt.POINTER, optional))
        for name, info in table._node.columns.items():
            columns[wide_name(side, name)] = ColumnInfo(_maybe(info.dtype, optional),
                                                        info.fallible)
    return columns


def _maybe(dtype: dt.DType, optional: bool) -> dt.DType:
    if not optional or isinstance(dtype, dt.Optional) or dtype in (dt.ANY, dt.NONE):
        return dtype
    return dt.Optional(dtype)


def apply_defaults(wide: Table, left: Table, right: Table, defaults: dict, where: str) -> Table:
    """Columns named in ``defaults`` take the default value where their side had no row."""
    if not defaults:
        return wide
    replaced: dict[str, ex.ColumnExpression] = {}
    for ref, value in defaults.items():
        side = None
        if isinstance(ref, ex.ColumnReference):
            if ref.table is left or getattr(ref.table, "_node", None) is left._node:
                side = "left"
            elif ref.table is right or getattr(ref.table, "_node", None) is right._node:
                side = "right"
        elif isinstance(ref, ex.ThisReference) and ref.side in ("left", "right"):
            side = ref.side
        if side is None:
            raise BuildTypeError(
                f"defaults= keys must be columns of the joined tables, got {ref!r}", where
            )
        name = wide_name(side, ref.name)
        present = ex.IsNone(ex.ThisReference("this", wide_name(side, "id")), True)
        replaced[name] = ex.IfElse(present, ex.ThisReference("this", name), ex.wrap_arg(value))
    return wide.with_columns(**replaced)


def apply_join_behavior(table: Table, behavior: Any, time_type: dt.DType, join: str,
                        where: str) -> Table:
    """One side of the join passed through the gates of ``behavior``: rows are held back
    until their time + delay is at or behind the largest time seen on that side; then rows
    whose time + cutoff is at or behind the largest time released so far are ignored, and
    rows are forgotten (their pairs retracted) once that holds."""
    from reflow.temporal.behaviors import CommonBehavior
    from reflow.temporal.gates import gated

    if not isinstance(behavior, CommonBehavior):
        raise BuildTypeError(f"{join} needs pw.temporal.common_behavior(...), got "
                         f"{behavior!r}", where)
    if behavior.cutoff is not None and behavior.keep_results:
        raise BuildValueError(f"{join} supports a cutoff only with keep_results=False", where)
    try:
        if behavior.delay is not None:
            delay = _time.duration_value(behavior.delay, time_type, "delay")
            table, _ = gated(table, TIME, {"buffer": pl.col(TIME) + delay}, where)
        if behavior.cutoff is not None:
            # lateness is measured against the largest time released by the buffer
            cutoff = _time.duration_value(behavior.cutoff, time_type, "cutoff")
            table, _ = gated(table, TIME, {"ignore_late": pl.col(TIME) + cutoff,
                                           "forget": pl.col(TIME) + cutoff}, where)
    except TypeError as exc:
        raise BuildTypeError(str(exc), where) from None
    return table
