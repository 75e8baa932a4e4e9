"""Compiling resolved expressions into vectorized kernels over delta batches.

Every expression becomes a Polars expression for its values and, when it can fail, a boolean
Polars expression marking error cells. A column that can hold errors travels with a hidden
companion column (``error_column(name)``); cells whose computation failed are null in the value
column and true in the companion. Python functions (``apply``, UDFs, operations Polars cannot
express) run as *stages* before the final vectorized select: their arguments are computed by
Polars, the function is called once per row, and the results are attached as temporary columns.
"""

from __future__ import annotations

import datetime
import operator as py_operator
from collections.abc import Callable, Sequence
from typing import Any

import polars as pl

from reflow.engine.batch import DIFF, ID, ID_DTYPE, pick_columns
from reflow.engine.ids import hash_columns
from reflow.engine.operator import RunContext
from reflow.engine.operators.stateless import FrameKernel
from reflow.engine.values import Json, Pointer
from reflow.plan import dtypes as dt
from reflow.plan import expr as ex
from reflow.plan.error_columns import error_column
from reflow.plan.rowwise import (
    Compiled,
    RowwiseStage,
    any_error,
    stage_levels,
)


def storage_cast(value: pl.Expr, dtype: dt.DType) -> pl.Expr:
    """Cast to the Polars storage type of ``dtype`` (object columns are left alone)."""
    storage = dtype.polars()
    if storage == pl.Object or storage == pl.Null:
        return value
    return value.cast(storage)


def _guarded(condition: pl.Expr, guard: pl.Expr | None) -> pl.Expr:
    return condition if guard is None else (condition & guard)



class ExpressionCompiler:
    """Compiles the resolved expressions of one operation into a frame kernel."""

    def __init__(self, operator: str, column_name: Callable[[int, str], str]) -> None:
        self.operator = operator
        self.column_name = column_name
        self.stages: list[RowwiseStage] = []
        self.new_errors: list[tuple[pl.Expr, str, type[Exception]]] = []
        #: Set by ``mask_kernel``: the mask as one Polars expression, when it needs no Python
        #: stage and reports no error (a filter can then run as a single query).
        self.pure_mask: pl.Expr | None = None

    # --- public --------------------------------------------------------------------------
    def compile(self, node: ex.ColumnExpression, guard: pl.Expr | None = None) -> Compiled:
        method = None
        for cls in type(node).__mro__:  # subclasses compile like the expression they extend
            method = getattr(self, "_c_" + cls.__name__, None)
            if method is not None:
                break
        if method is None:
            raise TypeError(f"cannot compile {type(node).__name__}")
        return method(node, guard)

    def projection_kernel(
        self, outputs: dict[str, ex.ColumnExpression], keep: Sequence[str] = (ID, DIFF)
    ) -> Callable[[pl.DataFrame, RunContext], pl.DataFrame]:
        """A kernel computing ``outputs`` (with error companions) next to columns ``keep``.

        Batches keep the engine's column order: ``_id`` and other kept columns first, the
        computed columns, then ``_diff`` last.
        """
        before = [c for c in keep if c != DIFF]
        after = [DIFF] if DIFF in keep else []
        if not self.stages and all(isinstance(n, ex.InputColumn) for n in outputs.values()):
            return self._column_picker(outputs, before, after)
        selected: list[pl.Expr] = []
        for name, node in outputs.items():
            compiled = self.compile(node)
            value = storage_cast(compiled.value, node.dtype)
            if compiled.error is None:
                selected.append(value.alias(name))
            else:
                selected.append(pl.when(compiled.error).then(None).otherwise(value).alias(name))
                selected.append(compiled.error.fill_null(False).alias(error_column(name)))
        # expressions built once, not parsed from names at every batch
        columns = [*map(pl.col, before), *selected, *map(pl.col, after)]
        return self._kernel(lambda frame: frame.select(columns), columns)

    def _column_picker(
        self, outputs: dict[str, ex.ColumnExpression], before: list[str], after: list[str]
    ) -> Callable[[pl.DataFrame, RunContext], pl.DataFrame]:
        """The kernel of a projection that only picks and renames columns: it assembles the
        output from the input's columns, several times cheaper than a Polars query on the
        small batches of a streaming update."""
        picks = [(c, c) for c in before]
        for name, node in outputs.items():
            assert isinstance(node, ex.InputColumn)  # checked by the caller
            source = self.column_name(node.source, node.name)
            picks.append((source, name))
            if node.fallible:
                picks.append((error_column(source), error_column(name)))
        picks += [(c, c) for c in after]

        def kernel(frame: pl.DataFrame, ctx: RunContext) -> pl.DataFrame:
            return pick_columns(frame, picks)

        return kernel

    def mask_kernel(
        self, condition: ex.ColumnExpression
    ) -> Callable[[pl.DataFrame, RunContext], pl.Series]:
        """A kernel giving the rows where ``condition`` is true (errors and None drop)."""
        compiled = self.compile(condition)
        mask = compiled.value.fill_null(False)
        if compiled.error is not None:
            mask = mask & ~compiled.error.fill_null(False)
        if not self.stages and not self.new_errors:
            self.pure_mask = mask
        columns = [pl.int_range(pl.len()).alias("row"), mask.alias("mask")]
        run = self._kernel(lambda frame: frame.select(columns))
        return lambda frame, ctx: run(frame, ctx)["mask"]

    # --- helpers -------------------------------------------------------------------------
    def _kernel(
        self, final: Callable[[pl.DataFrame], pl.DataFrame], exprs: list[pl.Expr] | None = None
    ) -> FrameKernel:
        """``final`` after the stages, reporting the rows that become errors; ``exprs``, when
        given, are the columns ``final`` selects, so that the error checks run in the same
        Polars query (each query has a fixed cost that dominates small batches)."""
        groups = stage_levels(self.stages)
        new_errors = list(self.new_errors)
        operator = self.operator
        if new_errors and exprs is not None:
            flags = [condition.fill_null(False).alias(f"\x00error{i}")
                     for i, (condition, *_) in enumerate(new_errors)]
            width = len(exprs)

            def fused(frame: pl.DataFrame, ctx: RunContext) -> pl.DataFrame:
                for group in groups:
                    frame = group.run(frame, ctx, operator)
                out = frame.select(*exprs, *flags)
                columns = out.get_columns()
                if out.height == frame.height:
                    _report_flagged(frame, columns[width:], new_errors, ctx, operator)
                else:  # only literals were selected: the flags are not per row
                    _report_new_errors(frame, new_errors, ctx, operator)
                return pl.DataFrame(columns[:width])

            return fused

        def kernel(frame: pl.DataFrame, ctx: RunContext) -> pl.DataFrame:
            for group in groups:
                frame = group.run(frame, ctx, operator)
            if new_errors:
                _report_new_errors(frame, new_errors, ctx, operator)
            return final(frame)

        return kernel

    def _stage_column(self) -> str:
        return f"\x00stage{len(self.stages)}"

    def _new_error(
        self,
        condition: pl.Expr,
        guard: pl.Expr | None,
        message: str,
        where: str,
        exception: type[Exception] = ValueError,
    ) -> None:
        """Rows where ``condition`` holds become errors; a run that terminates on errors raises
        ``exception`` (the type Python raises for the same mistake)."""
        self.new_errors.append((_guarded(condition, guard), f"{message} ({where})", exception))

    def _rowwise(
        self,
        name: str,
        function: Callable[..., Any],
        args: Sequence[ex.ColumnExpression],
        result_type: dt.DType,
        guard: pl.Expr | None,
        where: str,
        *,
        kwarg_names: Sequence[str] = (),
        propagate_none: bool = False,
        batched: bool = False,
        vectorized: Callable[[pl.DataFrame], pl.Series] | None = None,
        none_is_error: bool = False,
    ) -> Compiled:
        compiled_args = [self.compile(a, guard) for a in args]
        out = self._stage_column()
        self.stages.append(
            RowwiseStage(
                out,
                name,
                function,
                compiled_args,
                [a.dtype for a in args],
                list(kwarg_names),
                result_type,
                propagate_none,
                guard,
                where,
                batched=batched,
                vectorized=vectorized,
                none_is_error=none_is_error,
            )
        )
        return Compiled(pl.col(out), pl.col(error_column(out)))

    # --- node compilers --------------------------------------------------------------------
    def _c_InputColumn(self, node: ex.InputColumn, guard: pl.Expr | None) -> Compiled:
        name = self.column_name(node.source, node.name)
        error = pl.col(error_column(name)) if node.fallible else None
        return Compiled(pl.col(name), error)

    def _c_Literal(self, node: ex.Literal, guard: pl.Expr | None) -> Compiled:
        value = node.value
        dtype = node.dtype
        if dtype.polars() == pl.Object:
            return self._rowwise("literal", lambda: value, [], dtype, None, node._where)
        if isinstance(value, Pointer):
            return Compiled(pl.lit(value.value, dtype=ID_DTYPE))
        if value is None:
            return Compiled(pl.lit(None))
        if isinstance(value, (datetime.datetime, datetime.timedelta)):
            nanoseconds = getattr(value, "value", None)
            if isinstance(nanoseconds, int):
                # pandas' Timestamp/Timedelta: their nanosecond count keeps what Python drops.
                return Compiled(pl.lit(nanoseconds, dtype=pl.Int64).cast(dtype.polars()))
            return Compiled(pl.lit(value).cast(dtype.polars()))
        return Compiled(pl.lit(value, dtype=dtype.polars()))

    def _c_BinaryOp(self, node: ex.BinaryOp, guard: pl.Expr | None) -> Compiled:
        a_type, b_type = node.left.dtype.strip_optional(), node.right.dtype.strip_optional()
        if (
            a_type.polars() == pl.Object
            or b_type.polars() == pl.Object
            or (node.op == "*" and dt.STR in (a_type, b_type))
        ):
            return self._rowwise(
                f"operator {node.op}",
                _PY_BINARY[node.op],
                [node.left, node.right],
                node.dtype,
                guard,
                node._where,
                propagate_none=node.op not in ("==", "!="),
            )
        left, right = self.compile(node.left, guard), self.compile(node.right, guard)
        a, b = left.value, right.value
        error = any_error(left.error, right.error)
        op = node.op
        if a_type == dt.DURATION and op in ("//", "%") and b_type in (dt.DURATION, dt.INT):
            # On nanosecond counts, with Python's floor semantics (as timedelta has).
            a_ns = a.dt.total_nanoseconds()
            b_num = b.dt.total_nanoseconds() if b_type == dt.DURATION else b
            zero = (b_num == 0).fill_null(False)
            self._new_error(
                zero, guard, f"division by zero in {op}", node._where, ZeroDivisionError
            )
            error = any_error(error, zero)
            divisor = pl.when(zero).then(1).otherwise(b_num)
            value = a_ns // divisor if op == "//" else a_ns % divisor
            if node.dtype.strip_optional() == dt.DURATION:
                value = value.cast(pl.Duration("ns"))
        elif op in ("/", "//", "%") and b_type in (dt.INT, dt.FLOAT):
            zero = (b == 0).fill_null(False)
            self._new_error(
                zero, guard, f"division by zero in {op}", node._where, ZeroDivisionError
            )
            error = any_error(error, zero)
            if op == "/":
                value = a.cast(pl.Float64) / b if a_type == dt.INT else a / b
            elif op == "//" and a_type == b_type == dt.INT:
                # The one int64 quotient that does not fit: -2**63 // -1.
                value, overflow = _checked_int_op(op, a, b)
                self._new_error(
                    overflow, guard, f"integer overflow in {op}", node._where, OverflowError
                )
                error = any_error(error, overflow)
            else:
                value = _POLARS_BINARY[op](a, b)
        elif op == "**" and a_type == b_type == dt.INT:
            negative = (b < 0).fill_null(False)
            self._new_error(
                negative, guard, "negative exponent for an int power", node._where, ValueError
            )
            value, overflow = _checked_int_power(a, pl.when(negative).then(0).otherwise(b))
            self._new_error(overflow, guard, "integer overflow in **", node._where, OverflowError)
            error = any_error(error, negative, overflow)
        elif op in _CHECKED_INT_OPS and a_type == b_type == dt.INT:
            value, overflow = _checked_int_op(op, a, b)
            self._new_error(
                overflow, guard, f"integer overflow in {op}", node._where, OverflowError
            )
            error = any_error(error, overflow)
        elif op == "**":
            value = a.cast(pl.Float64).pow(b)
        elif op == "/" and a_type == dt.DURATION and b_type == dt.DURATION:
            value = a.dt.total_nanoseconds() / b.dt.total_nanoseconds()
        elif op in _COMPARISONS and dt.FLOAT in (a_type, b_type):
            value = _float_comparison(op, a, b, a_type, b_type)
        else:
            value = _POLARS_BINARY[op](a, b)
        return Compiled(value, error)

    def _c_UnaryOp(self, node: ex.UnaryOp, guard: pl.Expr | None) -> Compiled:
        arg = self.compile(node.arg, guard)
        if node.op == "-" and node.arg.dtype.strip_optional() == dt.INT:
            overflow = (arg.value == INT64_MIN).fill_null(False)
            self._new_error(
                overflow, guard, "integer overflow in unary -", node._where, OverflowError
            )
            value = pl.when(overflow).then(None).otherwise(-arg.value)
            return Compiled(value, any_error(arg.error, overflow))
        return Compiled(-arg.value if node.op == "-" else ~arg.value, arg.error)

    def _c_IsNone(self, node: ex.IsNone, guard: pl.Expr | None) -> Compiled:
        arg = self.compile(node.arg, guard)
        value = arg.value.is_not_null() if node.negate else arg.value.is_null()
        return Compiled(value, arg.error)

    def _c_IfElse(self, node: ex.IfElse, guard: pl.Expr | None) -> Compiled:
        cond = self.compile(node.condition, guard)
        truth = cond.value.fill_null(False)
        then = self.compile(node.then, _guarded(truth, guard))
        otherwise = self.compile(node.otherwise, _guarded(~truth, guard))
        storage = node.dtype.polars()
        then_value, else_value = then.value, otherwise.value
        if storage not in (pl.Object, pl.Null):
            then_value, else_value = then_value.cast(storage), else_value.cast(storage)
        value = pl.when(truth).then(then_value).otherwise(else_value)
        branch_error = None
        if then.error is not None or otherwise.error is not None:
            branch_error = (
                pl.when(truth)
                .then(then.error if then.error is not None else pl.lit(False))
                .otherwise(otherwise.error if otherwise.error is not None else pl.lit(False))
            )
        return Compiled(value, any_error(cond.error, branch_error))

    def _c_Coalesce(self, node: ex.Coalesce, guard: pl.Expr | None) -> Compiled:
        args = [self.compile(a, guard) for a in node.args]
        storage = node.dtype.polars()
        values = [
            a.value if storage in (pl.Object, pl.Null) else a.value.cast(storage) for a in args
        ]
        return Compiled(pl.coalesce(values), any_error(*(a.error for a in args)))

    def _c_Require(self, node: ex.Require, guard: pl.Expr | None) -> Compiled:
        value = self.compile(node.value, guard)
        deps = [self.compile(d, guard) for d in node.deps]
        missing = any_error(*(d.value.is_null() for d in deps))
        result = (
            value.value if missing is None else (pl.when(missing).then(None).otherwise(value.value))
        )
        return Compiled(result, any_error(value.error, *(d.error for d in deps)))

    def _c_Cast(self, node: ex.Cast, guard: pl.Expr | None) -> Compiled:
        arg = self.compile(node.arg, guard)
        source = node.arg.dtype.strip_optional()
        target = node.target.strip_optional()
        if source == target:
            return arg
        if target == dt.STR and source == dt.BOOL:
            return Compiled(
                pl.when(arg.value)
                .then(pl.lit("True"))
                .otherwise(pl.lit("False"))
                .cast(pl.String)
                .alias("cast"),
                arg.error,
            )
        cast = arg.value.cast(target.polars(), strict=False)
        if source == dt.STR:
            if target == dt.BOOL:
                # As Python's (and Pathway's) bool(text): true unless the text is empty.
                return Compiled(arg.value.str.len_chars() > 0, arg.error)
            else:
                cast = arg.value.str.strip_chars().cast(target.polars(), strict=False)
        failed = (cast.is_null() & arg.value.is_not_null()).fill_null(False)
        self._new_error(
            failed,
            guard,
            f"cannot cast value of type {node.arg.dtype!r} to {node.target!r}",
            node._where,
        )
        return Compiled(cast, any_error(arg.error, failed))

    def _c_DeclareType(self, node: ex.DeclareType, guard: pl.Expr | None) -> Compiled:
        if node.arg.dtype.polars() == pl.Object and node.dtype.polars() != pl.Object:
            # Python objects declared as a type stored natively: move them into that storage
            # (a value of another type becomes an error naming it).
            return self._rowwise(
                "declare_type", _identity, [node.arg], node.dtype, guard, node._where
            )
        return self.compile(node.arg, guard)

    def _c_Unwrap(self, node: ex.Unwrap, guard: pl.Expr | None) -> Compiled:
        arg = self.compile(node.arg, guard)
        missing = arg.value.is_null()
        if arg.error is not None:
            missing = missing & ~arg.error
        self._new_error(
            missing, guard, "cannot unwrap a None value (use pw.coalesce to give a default)",
            node._where,
        )
        return Compiled(arg.value, any_error(arg.error, missing))

    def _c_FillError(self, node: ex.FillError, guard: pl.Expr | None) -> Compiled:
        arg = self.compile(node.arg, guard)
        replacement = self.compile(node.replacement, guard)
        if arg.error is None:
            return arg
        storage = node.dtype.polars()
        a_value, r_value = arg.value, replacement.value
        if storage not in (pl.Object, pl.Null):
            a_value, r_value = a_value.cast(storage), r_value.cast(storage)
        value = pl.when(arg.error).then(r_value).otherwise(a_value)
        error = None
        if replacement.error is not None:
            error = arg.error & replacement.error
        return Compiled(value, error)

    def _c_MakeTuple(self, node: ex.MakeTuple, guard: pl.Expr | None) -> Compiled:
        return self._rowwise(
            "make_tuple",
            lambda *items: tuple(items),
            node.args,
            node.dtype,
            guard,
            node._where,
        )

    def _c_GetItem(self, node: ex.GetItem, guard: pl.Expr | None) -> Compiled:
        return self._rowwise(
            "get item",
            _get_item_function(node),
            [node.obj, node.index, node.default],
            node.dtype,
            guard,
            node._where,
        )

    def _c_PolarsCall(self, node: ex.PolarsCall, guard: pl.Expr | None) -> Compiled:
        args = [self.compile(a, guard) for a in node.args]
        values = [a.value for a in args]
        error = any_error(*(a.error for a in args))
        if node.error_when is not None:
            failed = node.error_when(*values).fill_null(False)
            if error is not None:
                failed = failed & ~error
            self._new_error(failed, guard, f"{node.name}: {node.error_message}", node._where)
            error = any_error(error, failed)
            value = pl.when(failed).then(None).otherwise(node.kernel(*values))
        else:
            value = node.kernel(*values)
        return Compiled(value, error)

    def _c_RowwiseCall(self, node: ex.RowwiseCall, guard: pl.Expr | None) -> Compiled:
        item = node.args[0] if len(node.args) == 1 and not node.kwargs else None
        kind = getattr(node.function, "json_type", None)
        if (
            kind is not None
            and isinstance(item, ex.GetItem)
            and item.obj.dtype.strip_optional() == dt.JSON
        ):
            return self._rowwise(
                node.name, _json_field_function(item, node.function, kind),
                [item.obj, item.index, item.default], node.dtype, guard, node._where,
                none_is_error=True,
            )
        return self._rowwise(
            node.name,
            node.function,
            [*node.args, *node.kwargs.values()],
            node.dtype,
            guard,
            node._where,
            kwarg_names=list(node.kwargs),
            propagate_none=node.propagate_none,
            batched=node.batched,
            none_is_error=True,
        )

    def _c_PointerFrom(self, node: ex.PointerFrom, guard: pl.Expr | None) -> Compiled:
        count = len(node.args)
        salt = node.salt
        optional = node.optional

        def vectorized(inputs: pl.DataFrame) -> pl.Series:
            columns = [f"a{i}" for i in range(count)]
            ids = hash_columns(inputs, columns, salt)
            if optional and count:
                missing = inputs.select(pl.any_horizontal(pl.col(columns).is_null()))
                ids = ids.set(missing.to_series(), None)
            return ids

        return self._rowwise(
            "pointer_from",
            lambda *a: None,
            node.args,
            node.dtype,
            guard,
            node._where,
            vectorized=vectorized,
        )

    def _c_ReducerExpression(self, node: ex.ReducerExpression, guard: pl.Expr | None) -> Compiled:
        from reflow.plan.errors import BuildValueError

        raise BuildValueError(
            f"reducer {node.reducer.name} can only be used inside reduce()", node._where
        )


def _get_item_function(node: ex.GetItem) -> Callable[[Any, Any, Any], Any]:
    """The per-row function of ``obj[index]`` / ``obj.get(index, default)``."""
    checked = node.checked
    json = node.obj.dtype.strip_optional() == dt.JSON

    def get_item(obj: Any, index: Any, default: Any) -> Any:
        if obj is None:
            return None
        container = obj.value if isinstance(obj, Json) else obj
        try:
            item = container[index]
        except (IndexError, KeyError, TypeError):
            if json and checked:
                return Json(None)  # json["missing"] is JSON null, as in Pathway
            if checked:
                raise
            return default
        return Json(item) if json else item

    return get_item


def _json_field_function(
    item: ex.GetItem, convert: Callable[[Any], Any], kind: type
) -> Callable[[Any, Any, Any], Any]:
    """The per-row function of ``json[key].as_...()``: one call, not one for the item and
    one for the conversion (reading a field costs less than the stage around each call).

    A field of the wanted type in a JSON object is returned at once; everything else (a
    missing key, JSON null, another type, ``get`` with a default) goes the way of the two
    calls, so results and error messages are the same.
    """
    get_item = _get_item_function(item)
    checked = item.checked

    def field(obj: Any, index: Any, default: Any) -> Any:
        if checked and type(obj) is Json and type(obj.value) is dict:
            try:
                value = obj.value.get(index)
            except TypeError:  # an unhashable key
                value = None
            if type(value) is kind:
                return value
        found = get_item(obj, index, default)
        return None if found is None else convert(found)

    return field


def _identity(value: Any) -> Any:
    return value


def _report_new_errors(
    frame: pl.DataFrame,
    new_errors: list[tuple[pl.Expr, str, type[Exception]]],
    ctx: RunContext,
    operator: str,
) -> None:
    flags = frame.select(
        pl.int_range(pl.len()).alias("row"),
        *(
            condition.fill_null(False).alias(f"e{i}")
            for i, (condition, *_) in enumerate(new_errors)
        ),
    )
    _report_flagged(frame, [flags[f"e{i}"] for i in range(len(new_errors))], new_errors, ctx,
                    operator)


def _report_flagged(
    frame: pl.DataFrame,
    flags: list[pl.Series],
    new_errors: list[tuple[pl.Expr, str, type[Exception]]],
    ctx: RunContext,
    operator: str,
) -> None:
    """Report the rows of ``frame`` flagged in ``flags`` (one boolean column per error)."""
    for column, (_, message, exception) in zip(flags, new_errors, strict=True):
        if not column.any():
            continue
        ids = frame.filter(column)[ID].to_list() if ID in frame.columns else [None]
        for row_id in ids:
            ctx.report_error(operator, message, row_id, exception)


_COMPARISONS = ("==", "!=", "<", "<=", ">", ">=")

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
_CHECKED_INT_OPS = ("+", "-", "*")


def _outside_int64(value: pl.Expr) -> pl.Expr:
    return ((value < INT64_MIN) | (value > INT64_MAX)).fill_null(False)


def _checked_int_op(op: str, a: pl.Expr, b: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """``a op b`` for int64 columns with the cells whose exact result does not fit int64
    flagged (and null), never wrapped around.

    Polars' int64 arithmetic wraps; the wrapped result ``r`` tells whether it did: a sum
    overflowed when both operands have the sign ``r`` lacks, a difference when the operands'
    signs differ and ``r`` lacks ``a``'s, a product when ``r // a != b`` (a wrapped product
    differs from ``a * b`` by a multiple of 2**64, more than ``|a|``), checked apart for the
    one quotient that itself wraps (``-2**63 // -1``). Cheaper than computing in int128
    (measured 2-5x, see BENCHMARKS.md).
    """
    if op == "//":
        overflow = (a == INT64_MIN) & (b == -1)
        return pl.when(overflow).then(None).otherwise(a // b), overflow.fill_null(False)
    result = _POLARS_BINARY[op](a, b)
    if op == "+":
        overflow = ((a < 0) == (b < 0)) & ((result < 0) != (a < 0))
    elif op == "-":
        overflow = ((a < 0) != (b < 0)) & ((result < 0) != (a < 0))
    else:
        edge = ((a == -1) & (b == INT64_MIN)) | ((b == -1) & (a == INT64_MIN))
        safe_a = pl.when(a == 0).then(1).otherwise(a)
        overflow = edge | ((a != 0) & (result // safe_a != b))
    overflow = overflow.fill_null(False)
    return pl.when(overflow).then(None).otherwise(result), overflow


def _checked_int_power(a: pl.Expr, b: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """``a ** b`` for int64 columns and a non-negative exponent, with overflow flagged.

    A float estimate of ``|a| ** b`` rules out the results far beyond int64; the others are
    small enough (below 2**66) to be computed exactly in int128. Exponents above 64 only matter
    for bases -1, 0 and 1, so they are reduced to 64 or 65 keeping their parity.
    """
    exponent = pl.when(b > 64).then(64 + b % 2).otherwise(b)
    estimate = a.cast(pl.Float64).abs().pow(exponent)
    small = (estimate < 2.0**66).fill_null(True)
    base = pl.when(small).then(a).otherwise(0).cast(pl.Int128)
    wide = base.pow(exponent.cast(pl.UInt32))
    overflow = ~small | _outside_int64(wide)
    value = pl.when(overflow).then(None).otherwise(wide).cast(pl.Int64)
    return value, overflow.fill_null(False)


def _float_comparison(
    op: str, a: pl.Expr, b: pl.Expr, a_type: dt.DType, b_type: dt.DType
) -> pl.Expr:
    """A comparison with Python's float semantics: NaN is unequal to everything, itself
    included, and neither smaller nor larger than anything (Polars orders NaN last)."""
    nan: pl.Expr | None = None
    for value, kind in ((a, a_type), (b, b_type)):
        if kind == dt.FLOAT:
            is_nan = value.is_nan().fill_null(False)
            nan = is_nan if nan is None else (nan | is_nan)
    result = _POLARS_BINARY[op](a, b)
    if nan is None:
        return result
    if op == "!=":
        return result | nan
    return result & ~nan


_POLARS_BINARY: dict[str, Callable[[pl.Expr, pl.Expr], pl.Expr]] = {
    "+": py_operator.add,
    "-": py_operator.sub,
    "*": py_operator.mul,
    "/": py_operator.truediv,
    "//": py_operator.floordiv,
    "%": py_operator.mod,
    "==": lambda a, b: a.eq_missing(b),
    "!=": lambda a, b: a.ne_missing(b),
    "<": py_operator.lt,
    "<=": py_operator.le,
    ">": py_operator.gt,
    ">=": py_operator.ge,
    "&": py_operator.and_,
    "|": py_operator.or_,
    "^": py_operator.xor,
}

_PY_BINARY: dict[str, Callable[[Any, Any], Any]] = {
    "+": py_operator.add,
    "-": py_operator.sub,
    "*": py_operator.mul,
    "/": py_operator.truediv,
    "//": py_operator.floordiv,
    "%": py_operator.mod,
    "**": py_operator.pow,
    "@": py_operator.matmul,
    "==": py_operator.eq,
    "!=": py_operator.ne,
    "<": py_operator.lt,
    "<=": py_operator.le,
    ">": py_operator.gt,
    ">=": py_operator.ge,
    "&": py_operator.and_,
    "|": py_operator.or_,
    "^": py_operator.xor,
}
