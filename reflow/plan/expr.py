"""Expression nodes: the vocabulary of column computations the plan compiles.

``pw.this.a + 1`` builds a tree of these nodes; building computes nothing. When a table
operation receives an expression it is *resolved* against that table (``api/resolve.py``):
references are bound to ``InputColumn``s, every node gets its ``dtype`` and type errors are
raised with the user's line. The compiler (``plan/compile.py``) turns the resolved tree into
vectorized Polars kernels. The ``.str``, ``.dt``, ``.num`` namespaces and the Json converters
(``as_int``, ...) are builders of the API layer, attached to ``ColumnExpression`` by
``reflow.api.namespaces``.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import polars as pl

from reflow.plan import dtypes as dt
from reflow.plan.errors import (
    BuildAttributeError,
    BuildError,
    BuildIndexError,
    BuildRuntimeError,
    BuildTypeError,
    BuildValueError,
    user_frame,
)

PolarsKernel = Callable[..., pl.Expr]


class ColumnExpression:
    """Base class of every expression node.

    >>> import reflow as pw
    >>> t = pw.debug.table_from_markdown('''
    ... a | b
    ... 1 | 2
    ... ''')
    >>> pw.debug.compute_and_print(t.select(c=(pw.this.a + pw.this.b) * 10), include_id=False)
    c
    30
    """

    # Set when the expression is resolved; the plan only ever sees resolved expressions.
    dtype: dt.DType = None  # type: ignore[assignment]

    def __init__(self) -> None:
        self._where = user_frame()

    # --- tree plumbing -------------------------------------------------------------------
    def _children(self) -> Sequence[ColumnExpression]:
        return ()

    def _rebuild(self, children: list[ColumnExpression]) -> ColumnExpression:
        return self

    def _infer(self) -> dt.DType:
        raise NotImplementedError

    def _name(self) -> str | None:
        """The column name this expression gives when used positionally in ``select``."""
        return None

    # --- operators -------------------------------------------------------------------------
    def __add__(self, other: Any) -> ColumnExpression:
        return BinaryOp("+", self, other)

    def __radd__(self, other: Any) -> ColumnExpression:
        return BinaryOp("+", other, self)

    def __sub__(self, other: Any) -> ColumnExpression:
        return BinaryOp("-", self, other)

    def __rsub__(self, other: Any) -> ColumnExpression:
        return BinaryOp("-", other, self)

    def __mul__(self, other: Any) -> ColumnExpression:
        return BinaryOp("*", self, other)

    def __rmul__(self, other: Any) -> ColumnExpression:
        return BinaryOp("*", other, self)

    def __truediv__(self, other: Any) -> ColumnExpression:
        return BinaryOp("/", self, other)

    def __rtruediv__(self, other: Any) -> ColumnExpression:
        return BinaryOp("/", other, self)

    def __floordiv__(self, other: Any) -> ColumnExpression:
        return BinaryOp("//", self, other)

    def __rfloordiv__(self, other: Any) -> ColumnExpression:
        return BinaryOp("//", other, self)

    def __mod__(self, other: Any) -> ColumnExpression:
        return BinaryOp("%", self, other)

    def __rmod__(self, other: Any) -> ColumnExpression:
        return BinaryOp("%", other, self)

    def __matmul__(self, other: Any) -> ColumnExpression:
        return BinaryOp("@", self, other)

    def __rmatmul__(self, other: Any) -> ColumnExpression:
        return BinaryOp("@", other, self)

    def __pow__(self, other: Any) -> ColumnExpression:
        return BinaryOp("**", self, other)

    def __rpow__(self, other: Any) -> ColumnExpression:
        return BinaryOp("**", other, self)

    def __eq__(self, other: Any) -> ColumnExpression:  # type: ignore[override]
        return BinaryOp("==", self, other)

    def __ne__(self, other: Any) -> ColumnExpression:  # type: ignore[override]
        return BinaryOp("!=", self, other)

    def __lt__(self, other: Any) -> ColumnExpression:
        return BinaryOp("<", self, other)

    def __le__(self, other: Any) -> ColumnExpression:
        return BinaryOp("<=", self, other)

    def __gt__(self, other: Any) -> ColumnExpression:
        return BinaryOp(">", self, other)

    def __ge__(self, other: Any) -> ColumnExpression:
        return BinaryOp(">=", self, other)

    def __and__(self, other: Any) -> ColumnExpression:
        return BinaryOp("&", self, other)

    def __rand__(self, other: Any) -> ColumnExpression:
        return BinaryOp("&", other, self)

    def __or__(self, other: Any) -> ColumnExpression:
        return BinaryOp("|", self, other)

    def __ror__(self, other: Any) -> ColumnExpression:
        return BinaryOp("|", other, self)

    def __xor__(self, other: Any) -> ColumnExpression:
        return BinaryOp("^", self, other)

    def __rxor__(self, other: Any) -> ColumnExpression:
        return BinaryOp("^", other, self)

    def __neg__(self) -> ColumnExpression:
        return UnaryOp("-", self)

    def __invert__(self) -> ColumnExpression:
        return UnaryOp("~", self)

    def __abs__(self) -> ColumnExpression:
        return self.num.abs()  # type: ignore[attr-defined]  # attached by reflow.api

    __hash__ = object.__hash__

    def __bool__(self) -> bool:
        raise BuildRuntimeError(
            "a column expression has no truth value; use & | ~ instead of and/or/not, "
            "and pw.if_else instead of if"
        )

    def __getitem__(self, index: Any) -> ColumnExpression:
        return GetItem(self, index, default=None, checked=True)

    def get(self, index: Any, default: Any = None) -> ColumnExpression:
        """Element ``index`` of a tuple or Json value, or ``default`` when it is missing.

        >>> import reflow as pw
        >>> t = pw.debug.table_from_rows(pw.schema_from_types(t=tuple[int, int]), [((1, 2),)])
        >>> pw.debug.compute_and_print(t.select(x=pw.this.t.get(5, -1)), include_id=False)
        x
        -1
        """
        return GetItem(self, index, default=default, checked=False)

    def is_none(self) -> ColumnExpression:
        """True where the value is ``None``."""
        return IsNone(self, negate=False)

    def is_not_none(self) -> ColumnExpression:
        """True where the value is not ``None``."""
        return IsNone(self, negate=True)

    def to_string(self) -> ColumnExpression:
        """The value as text, written as Pathway writes it: date-times in ISO form with
        nanoseconds, durations in nanoseconds, Json compactly, anything else as ``str()``.

        >>> import reflow as pw, datetime
        >>> t = pw.debug.table_from_rows(
        ...     pw.schema_from_types(t=pw.DateTimeNaive, d=pw.Duration),
        ...     [(datetime.datetime(2024, 1, 2, 3, 4, 5), datetime.timedelta(milliseconds=5))])
        >>> pw.debug.compute_and_print(
        ...     t.select(a=pw.this.t.to_string(), b=pw.this.d.to_string()), include_id=False)
        a                             | b
        2024-01-02T03:04:05.000000000 | 5000000ns
        """
        from reflow.plan.text import to_text

        return RowwiseCall("to_string", to_text, (self,), dt.STR)


def any_node(expressions: Iterable[Any], test: Callable[[ColumnExpression], bool]) -> bool:
    """Whether ``test`` holds for a node of any of the expression trees ``expressions``.

    >>> any_node([BinaryOp("+", Literal(1), Literal(2))], lambda n: isinstance(n, Literal))
    True
    """
    stack = list(expressions)
    while stack:
        node = stack.pop()
        if isinstance(node, ColumnExpression):
            if test(node):
                return True
            stack.extend(node._children())
    return False


def wrap_arg(value: Any) -> ColumnExpression:
    """Turn a Python value into a literal expression; expressions pass through."""
    if isinstance(value, ColumnExpression):
        return value
    return Literal(value)


class Literal(ColumnExpression):
    def __init__(self, value: Any) -> None:
        super().__init__()
        self.value = value

    def _infer(self) -> dt.DType:
        return dt.of_value(self.value)


class ColumnReference(ColumnExpression):
    """A column of a specific table, as in ``t.a`` or ``t["a"]``."""

    def __init__(self, table: Any, name: str) -> None:
        super().__init__()
        self.table = table
        self.name = name

    def _name(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return f"<{self.name}>"


class ThisReference(ColumnExpression):
    """A column of whichever table the expression is used with: ``pw.this.a``."""

    def __init__(self, side: str, name: str) -> None:
        super().__init__()
        self.side = side
        self.name = name

    def _name(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return f"pw.{self.side}.{self.name}"


class InputColumn(ColumnExpression):
    """A resolved reference: column ``name`` of the operation's input ``source``."""

    def __init__(self, source: int, name: str, dtype: dt.DType, fallible: bool) -> None:
        self.source = source
        self.name = name
        self.dtype = dtype
        self.fallible = fallible
        self._where = ""

    def _name(self) -> str:
        return self.name


_ARITHMETIC = {"+", "-", "*", "/", "//", "%", "**", "@"}
_COMPARISON = {"==", "!=", "<", "<=", ">", ">="}
_BOOLEAN = {"&", "|", "^"}


class BinaryOp(ColumnExpression):
    def __init__(self, op: str, left: Any, right: Any) -> None:
        super().__init__()
        self.op = op
        self.left = wrap_arg(left)
        self.right = wrap_arg(right)

    def _children(self) -> Sequence[ColumnExpression]:
        return (self.left, self.right)

    def _rebuild(self, children: list[ColumnExpression]) -> ColumnExpression:
        new = BinaryOp(self.op, *children)
        new._where = self._where
        return new

    def _infer(self) -> dt.DType:
        return binary_result_type(self.op, self.left.dtype, self.right.dtype, self)


class UnaryOp(ColumnExpression):
    def __init__(self, op: str, arg: Any) -> None:
        super().__init__()
        self.op = op
        self.arg = wrap_arg(arg)

    def _children(self) -> Sequence[ColumnExpression]:
        return (self.arg,)

    def _rebuild(self, children: list[ColumnExpression]) -> ColumnExpression:
        new = UnaryOp(self.op, children[0])
        new._where = self._where
        return new

    def _infer(self) -> dt.DType:
        base = self.arg.dtype.strip_optional()
        if self.op == "-" and base in (dt.INT, dt.FLOAT, dt.DURATION):
            return self.arg.dtype
        if self.op == "~" and base in (dt.BOOL, dt.INT):
            return self.arg.dtype
        raise type_error(f"operator {self.op} is not defined for {self.arg.dtype!r}", self)


class IsNone(ColumnExpression):
    def __init__(self, arg: Any, negate: bool) -> None:
        super().__init__()
        self.arg = wrap_arg(arg)
        self.negate = negate

    def _children(self) -> Sequence[ColumnExpression]:
        return (self.arg,)

    def _rebuild(self, children: list[ColumnExpression]) -> ColumnExpression:
        return IsNone(children[0], self.negate)

    def _infer(self) -> dt.DType:
        return dt.BOOL


class IfElse(ColumnExpression):
    def __init__(self, condition: Any, then: Any, otherwise: Any) -> None:
        super().__init__()
        self.condition = wrap_arg(condition)
        self.then = wrap_arg(then)
        self.otherwise = wrap_arg(otherwise)

    def _children(self) -> Sequence[ColumnExpression]:
        return (self.condition, self.then, self.otherwise)

    def _rebuild(self, children: list[ColumnExpression]) -> ColumnExpression:
        new = IfElse(*children)
        new._where = self._where
        return new

    def _infer(self) -> dt.DType:
        if self.condition.dtype.strip_optional() != dt.BOOL:
            raise type_error(
                f"if_else condition must be bool, got {self.condition.dtype!r}", self
            )
        return dt.unify(self.then.dtype, self.otherwise.dtype)


class Coalesce(ColumnExpression):
    def __init__(self, *args: Any) -> None:
        super().__init__()
        self.args = tuple(wrap_arg(a) for a in args)

    def _children(self) -> Sequence[ColumnExpression]:
        return self.args

    def _rebuild(self, children: list[ColumnExpression]) -> ColumnExpression:
        return Coalesce(*children)

    def _infer(self) -> dt.DType:
        result = self.args[0].dtype
        for arg in self.args[1:]:
            result = dt.unify(result, arg.dtype)
        if any(not a.dtype.is_optional and a.dtype != dt.NONE for a in self.args):
            return result.strip_optional()
        return result


class Require(ColumnExpression):
    def __init__(self, value: Any, *deps: Any) -> None:
        super().__init__()
        self.value = wrap_arg(value)
        self.deps = tuple(wrap_arg(d) for d in deps)

    def _children(self) -> Sequence[ColumnExpression]:
        return (self.value, *self.deps)

    def _rebuild(self, children: list[ColumnExpression]) -> ColumnExpression:
        return Require(children[0], *children[1:])

    def _infer(self) -> dt.DType:
        if self.value.dtype == dt.NONE:
            return dt.NONE
        return dt.Optional(self.value.dtype)


class Cast(ColumnExpression):
    """Convert values to another type (``pw.cast``); a failed conversion is an error value."""

    def __init__(self, target: dt.DType, arg: Any) -> None:
        super().__init__()
        self.target = target
        self.arg = wrap_arg(arg)

    def _children(self) -> Sequence[ColumnExpression]:
        return (self.arg,)

    def _rebuild(self, children: list[ColumnExpression]) -> ColumnExpression:
        new = Cast(self.target, children[0])
        new._where = self._where
        return new

    def _infer(self) -> dt.DType:
        source = self.arg.dtype.strip_optional()
        target = self.target.strip_optional()
        castable = {dt.INT, dt.FLOAT, dt.BOOL, dt.STR}
        if source == target or (source in castable and target in castable) or source == dt.NONE:
            if self.arg.dtype.is_optional and not self.target.is_optional:
                return dt.Optional(self.target)
            return self.target
        raise type_error(f"cannot cast {self.arg.dtype!r} to {self.target!r}", self)


class DeclareType(ColumnExpression):
    """Tell the type checker a column's type without converting anything."""

    def __init__(self, target: dt.DType, arg: Any) -> None:
        super().__init__()
        self.target = target
        self.arg = wrap_arg(arg)

    def _children(self) -> Sequence[ColumnExpression]:
        return (self.arg,)

    def _rebuild(self, children: list[ColumnExpression]) -> ColumnExpression:
        return DeclareType(self.target, children[0])

    def _infer(self) -> dt.DType:
        return self.target


class Unwrap(ColumnExpression):
    def __init__(self, arg: Any) -> None:
        super().__init__()
        self.arg = wrap_arg(arg)

    def _children(self) -> Sequence[ColumnExpression]:
        return (self.arg,)

    def _rebuild(self, children: list[ColumnExpression]) -> ColumnExpression:
        new = Unwrap(children[0])
        new._where = self._where
        return new

    def _infer(self) -> dt.DType:
        return self.arg.dtype.strip_optional()


class FillError(ColumnExpression):
    def __init__(self, arg: Any, replacement: Any) -> None:
        super().__init__()
        self.arg = wrap_arg(arg)
        self.replacement = wrap_arg(replacement)

    def _children(self) -> Sequence[ColumnExpression]:
        return (self.arg, self.replacement)

    def _rebuild(self, children: list[ColumnExpression]) -> ColumnExpression:
        return FillError(*children)

    def _infer(self) -> dt.DType:
        return dt.unify(self.arg.dtype, self.replacement.dtype)


class MakeTuple(ColumnExpression):
    def __init__(self, *args: Any) -> None:
        super().__init__()
        self.args = tuple(wrap_arg(a) for a in args)

    def _children(self) -> Sequence[ColumnExpression]:
        return self.args

    def _rebuild(self, children: list[ColumnExpression]) -> ColumnExpression:
        return MakeTuple(*children)

    def _infer(self) -> dt.DType:
        return dt.Tuple(*(a.dtype for a in self.args))


class GetItem(ColumnExpression):
    """``expr[index]`` on tuples, lists and Json, and ``expr.get(index, default)``."""

    def __init__(self, obj: Any, index: Any, default: Any, checked: bool) -> None:
        super().__init__()
        self.obj = wrap_arg(obj)
        self.index = wrap_arg(index)
        self.default = wrap_arg(default)
        self.checked = checked

    def _children(self) -> Sequence[ColumnExpression]:
        return (self.obj, self.index, self.default)

    def _rebuild(self, children: list[ColumnExpression]) -> ColumnExpression:
        obj, index, default = children
        new = GetItem(obj, index, default, self.checked)
        new._where = self._where
        return new

    def _infer(self) -> dt.DType:
        base = self.obj.dtype.strip_optional()
        if base == dt.JSON:
            # ``json.get(key)`` without a default may give None, as in Pathway
            if not self.checked and self.default.dtype in (dt.NONE, dt.Optional(dt.ANY)):
                return dt.Optional(dt.JSON)
            if not self.checked and self.default.dtype.strip_optional() not in (dt.JSON, dt.ANY):
                raise type_error(
                    f"the default of get() on a Json column must be a Json value or None, got "
                    f"{self.default.dtype!r}; wrap it: pw.Json(...)", self)
            return dt.JSON
        if isinstance(base, dt.Tuple):
            if isinstance(self.index, Literal) and isinstance(self.index.value, int):
                position = self.index.value
                if -len(base.args) <= position < len(base.args):
                    item = base.args[position]
                elif self.checked:
                    raise BuildIndexError(
                        f"index {position} is out of range for {self.obj.dtype!r}",
                        getattr(self, "_where", None) or None,
                    )
                else:
                    warnings.warn(
                        f"index {position} is out of range for {self.obj.dtype!r}: get() always "
                        f"gives its default here ({getattr(self, '_where', '') or 'no location'})",
                        UserWarning,
                        stacklevel=2,
                    )
                    return self.default.dtype
            else:
                item = dt.ANY
                for arg in base.args:
                    item = arg if item == dt.ANY else dt.unify(item, arg)
        elif isinstance(base, dt.List):
            item = base.wrapped
        elif base in (dt.ANY, dt.Array(), dt.STR):
            item = dt.ANY if base != dt.STR else dt.STR
        else:
            raise type_error(f"{self.obj.dtype!r} cannot be indexed", self)
        if not self.checked:
            return dt.unify(item, self.default.dtype)
        return item


class PolarsCall(ColumnExpression):
    """A named operation computed by a vectorized Polars kernel.

    ``kernel`` receives one Polars expression per argument and returns the result;
    ``result_type`` receives the argument dtypes and returns the result dtype (raising
    ``TypeError`` for unsupported types); ``error_when``, if given, returns a boolean
    expression that is true on rows where the operation fails with ``error_message``.
    """

    def __init__(
        self,
        name: str,
        args: Sequence[Any],
        kernel: PolarsKernel,
        result_type: Callable[..., dt.DType],
        error_when: PolarsKernel | None = None,
        error_message: str = "",
    ) -> None:
        super().__init__()
        self.name = name
        self.args = tuple(wrap_arg(a) for a in args)
        self.kernel = kernel
        self.result_type = result_type
        self.error_when = error_when
        self.error_message = error_message

    def _children(self) -> Sequence[ColumnExpression]:
        return self.args

    def _rebuild(self, children: list[ColumnExpression]) -> ColumnExpression:
        new = PolarsCall(
            self.name, children, self.kernel, self.result_type, self.error_when,
            self.error_message,
        )
        new._where = self._where
        return new

    def _infer(self) -> dt.DType:
        try:
            return self.result_type(*(a.dtype for a in self.args))
        except TypeError as exc:
            raise type_error(f"{self.name}: {exc}", self) from None


class TypedPolarsCall(PolarsCall):
    """A ``PolarsCall`` whose kernel also needs the argument dtypes.

    ``kernel(types, *values)`` receives the resolved argument dtypes first. When the call is
    resolved against a table the dtypes are bound, giving a plain ``PolarsCall``.
    """

    def _rebuild(self, children: list[ColumnExpression]) -> ColumnExpression:
        types = [c.dtype for c in children]
        kernel = self.kernel
        error_when = self.error_when
        new = PolarsCall(
            self.name, children, lambda *values: kernel(types, *values), self.result_type,
            None if error_when is None else (lambda *values: error_when(types, *values)),
            self.error_message,
        )
        new._where = self._where
        return new


class RowwiseCall(ColumnExpression):
    """A Python function applied to each row's argument values.

    An exception raised by ``function`` turns that cell into an error value. With
    ``propagate_none``, rows where an argument is ``None`` give ``None`` without a call.
    ``return_type`` is a dtype or a function of the argument dtypes.
    """

    def __init__(
        self,
        name: str,
        function: Callable[..., Any],
        args: Sequence[Any],
        return_type: dt.DType | Callable[..., dt.DType],
        kwargs: dict[str, Any] | None = None,
        propagate_none: bool = False,
        batched: bool = False,
    ) -> None:
        super().__init__()
        self.name = name
        self.function = function
        self.args = tuple(wrap_arg(a) for a in args)
        self.kwargs = {k: wrap_arg(v) for k, v in (kwargs or {}).items()}
        self.return_type = return_type
        self.propagate_none = propagate_none
        self.batched = batched

    def _children(self) -> Sequence[ColumnExpression]:
        return (*self.args, *self.kwargs.values())

    def _rebuild(self, children: list[ColumnExpression]) -> ColumnExpression:
        # A copy keeps every setting, including those of subclasses (UDF calls).
        n = len(self.args)
        new = copy.copy(self)
        new.args = tuple(children[:n])
        new.kwargs = dict(zip(self.kwargs, children[n:], strict=True))
        return new

    def _infer(self) -> dt.DType:
        if isinstance(self.return_type, dt.DType):
            result = self.return_type
        else:
            try:
                result = self.return_type(*(a.dtype for a in self.args))
            except TypeError as exc:
                raise type_error(f"{self.name}: {exc}", self) from None
        if self.propagate_none and any(a.dtype.is_optional for a in self.args):
            return dt.Optional(result)
        return result


class ReducerExpression(ColumnExpression):
    """A reducer call such as ``pw.reducers.sum(pw.this.x)``; only valid inside ``reduce``."""

    def __init__(self, reducer: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__()
        self.reducer = reducer
        self.args = tuple(wrap_arg(a) for a in args)
        self.kwargs = kwargs

    def _children(self) -> Sequence[ColumnExpression]:
        return self.args

    def _rebuild(self, children: list[ColumnExpression]) -> ColumnExpression:
        new = ReducerExpression(self.reducer, *children, **self.kwargs)
        new._where = self._where
        return new

    def _infer(self) -> dt.DType:
        try:
            return self.reducer.result_type(*(a.dtype for a in self.args), **self.kwargs)
        except TypeError as exc:
            arguments = ", ".join(describe(a) for a in self.args)
            raise type_error(f"{self.reducer.name}({arguments}): {exc}", self) from None
        except ValueError as exc:
            raise BuildValueError(
                f"{self.reducer.name}: {exc}", getattr(self, "_where", None) or None
            ) from None


class PointerFrom(ColumnExpression):
    """The id a table gives a row whose key is ``args`` (``t.pointer_from(...)``)."""

    def __init__(self, *args: Any, optional: bool = False, salt: str = "") -> None:
        super().__init__()
        self.args = tuple(wrap_arg(a) for a in args)
        self.optional = optional
        self.salt = salt

    def _children(self) -> Sequence[ColumnExpression]:
        return self.args

    def _rebuild(self, children: list[ColumnExpression]) -> ColumnExpression:
        return PointerFrom(*children, optional=self.optional, salt=self.salt)

    def _infer(self) -> dt.DType:
        if self.optional and any(a.dtype.is_optional for a in self.args):
            return dt.Optional(dt.POINTER)
        return dt.POINTER


def describe(expr: Any) -> str:
    """How a message names an expression: ``column 'x'`` for a column, else its kind."""
    name = getattr(expr, "name", None)
    if isinstance(expr, (ColumnReference, ThisReference, InputColumn)) and isinstance(name, str):
        return f"column {name!r}"
    return f"a {type(expr).__name__} expression"


def type_error(message: str, node: ColumnExpression) -> BuildError:
    """A ``TypeError`` at ``node``; an ``AttributeError`` when a namespace method (``.str``,
    ``.dt``, ``.num``) does not exist for the column's type, as in Pathway."""
    where = getattr(node, "_where", None) or None
    if "expected a" in message and "column" in message:
        return BuildAttributeError(message, where=where)
    return BuildTypeError(message, where=where)


def binary_result_type(op: str, a: dt.DType, b: dt.DType, node: ColumnExpression) -> dt.DType:
    """The dtype of ``a op b``, or a ``BuildError`` naming both types."""
    if op in ("==", "!="):
        a0, b0 = a.strip_optional(), b.strip_optional()
        if a0 != b0 and {a0, b0} <= _SCALARS and not {a0, b0} <= {dt.INT, dt.FLOAT}:
            left, right = _describe(node, 0), _describe(node, 1)
            raise type_error(
                f"operator {op} is not defined for {left}{a!r} and {right}{b!r}", node
            )
        return dt.BOOL
    optional = a.is_optional or b.is_optional or a == dt.NONE or b == dt.NONE
    a0, b0 = a.strip_optional(), b.strip_optional()
    result = _binary_base_type(op, a0, b0)
    if result is None:
        left, right = _describe(node, 0), _describe(node, 1)
        raise type_error(
            f"operator {op} is not defined for {left}{a!r} and {right}{b!r}", node
        )
    if op in _COMPARISON:
        return dt.BOOL
    return dt.Optional(result) if optional else result


def _comparable_tuples(a: dt.DType, b: dt.DType) -> bool:
    """Tuples of one length whose elements compare pairwise (equal or both numeric types)."""
    if not (isinstance(a, dt.Tuple) and isinstance(b, dt.Tuple)) or len(a.args) != len(b.args):
        return False
    numeric = {dt.INT, dt.FLOAT}
    return all(
        x.strip_optional() == y.strip_optional() or {x, y} <= numeric or dt.ANY in (x, y)
        for x, y in zip(a.args, b.args, strict=True)
    )


# Types whose values of two different types are never equal: comparing them is a mistake.
_SCALARS = {
    dt.INT, dt.FLOAT, dt.BOOL, dt.STR, dt.BYTES, dt.POINTER, dt.DATE_TIME_NAIVE,
    dt.DATE_TIME_UTC, dt.DURATION,
}


def _describe(node: ColumnExpression, position: int) -> str:
    children = node._children()
    child = children[position] if position < len(children) else None
    name = child._name() if child is not None else None
    return f"column '{name}' of type " if name else ""


def _binary_base_type(op: str, a: dt.DType, b: dt.DType) -> dt.DType | None:
    numeric = {dt.INT, dt.FLOAT}
    if dt.ANY in (a, b):
        return dt.ANY
    if op in _COMPARISON:
        if a == b or {a, b} <= numeric or _comparable_tuples(a, b):
            return dt.BOOL
        return None
    if op == "@":
        if isinstance(a, dt.Array) and isinstance(b, dt.Array):
            return dt.ANY  # an array, or a number for two vectors (numpy's matmul)
        return None
    if op in _BOOLEAN:
        if a == b == dt.BOOL:
            return dt.BOOL
        if a == b == dt.INT:
            return dt.INT
        return None
    if a in numeric and b in numeric:
        if op == "/":
            return dt.FLOAT
        return dt.INT if a == b == dt.INT else dt.FLOAT
    times = {dt.DATE_TIME_NAIVE, dt.DATE_TIME_UTC}
    if op == "+":
        if a == b and a in (dt.STR, dt.BYTES, dt.DURATION):
            return a
        if (a in times and b == dt.DURATION) or (a == dt.DURATION and b in times):
            return a if a in times else b
        if isinstance(a, (dt.Tuple, dt.List)) and isinstance(b, (dt.Tuple, dt.List)):
            if isinstance(a, dt.Tuple) and isinstance(b, dt.Tuple):
                return dt.Tuple(*a.args, *b.args)
            return dt.List(dt.ANY)
    if op == "-":
        if a == b and a in times:
            return dt.DURATION
        if a in times and b == dt.DURATION:
            return a
        if a == b == dt.DURATION:
            return dt.DURATION
    if op == "*":
        if {a, b} == {dt.STR, dt.INT}:
            return dt.STR
        if (a == dt.DURATION and b == dt.INT) or (a == dt.INT and b == dt.DURATION):
            return dt.DURATION
        if a == dt.DURATION and b == dt.FLOAT:
            return dt.DURATION
    if op in ("/",) and a == dt.DURATION:
        if b == dt.DURATION:
            return dt.FLOAT
        if b in numeric:
            return dt.DURATION
    if op in ("//",) and a == dt.DURATION:
        if b == dt.DURATION:
            return dt.INT
        if b == dt.INT:
            return dt.DURATION
    if op == "%" and a == b == dt.DURATION:
        return dt.DURATION
    return None
