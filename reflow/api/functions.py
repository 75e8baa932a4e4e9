"""Free functions that build expressions: ``pw.if_else``, ``pw.apply``, ``pw.cast`` and friends."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from reflow.plan import dtypes as dt
from reflow.plan import expr as ex


def if_else(condition: Any, then: Any, otherwise: Any) -> ex.ColumnExpression:
    """``then`` where ``condition`` holds, else ``otherwise``; only the chosen side is evaluated.

    >>> import reflow as pw
    >>> t = pw.debug.table_from_markdown('''
    ... a | b
    ... 6 | 2
    ... 1 | 0
    ... ''')
    >>> r = t.select(q=pw.if_else(pw.this.b != 0, pw.this.a // pw.this.b, -1))
    >>> pw.debug.compute_and_print(r, include_id=False)
    q
    -1
    3
    """
    return ex.IfElse(condition, then, otherwise)


def coalesce(*args: Any) -> ex.ColumnExpression:
    """The first argument that is not ``None``.

    >>> import reflow as pw
    >>> t = pw.debug.table_from_markdown('''
    ... a    | b
    ... None | 2
    ... 1    | 3
    ... ''')
    >>> pw.debug.compute_and_print(t.select(c=pw.coalesce(pw.this.a, pw.this.b)), include_id=False)
    c
    1
    2
    """
    return ex.Coalesce(*args)


def require(value: Any, *deps: Any) -> ex.ColumnExpression:
    """``value``, or ``None`` where any of ``deps`` is ``None``."""
    return ex.Require(value, *deps)


def cast(target: Any, expr: Any) -> ex.ColumnExpression:
    """Convert ``expr`` to type ``target``; a value that cannot be converted is an error.

    >>> import reflow as pw
    >>> t = pw.debug.table_from_markdown('''
    ... a
    ... 7
    ... ''')
    >>> pw.debug.compute_and_print(t.select(f=pw.cast(float, pw.this.a)), include_id=False)
    f
    7.0
    """
    return ex.Cast(dt.wrap(target), expr)


def declare_type(target: Any, expr: Any) -> ex.ColumnExpression:
    """Tell the type checker ``expr`` has type ``target``; values are not converted."""
    return ex.DeclareType(dt.wrap(target), expr)


def unwrap(expr: Any) -> ex.ColumnExpression:
    """The value with its Optional removed; a ``None`` becomes an error value."""
    return ex.Unwrap(expr)


def fill_error(expr: Any, replacement: Any) -> ex.ColumnExpression:
    """``replacement`` where ``expr`` is an error value.

    >>> import reflow as pw
    >>> t = pw.debug.table_from_markdown('''
    ... a | b
    ... 1 | 0
    ... ''')
    >>> r = t.select(q=pw.fill_error(pw.this.a // pw.this.b, -1))
    >>> pw.debug.compute_and_print(r, include_id=False, terminate_on_error=False)
    q
    -1
    """
    return ex.FillError(expr, replacement)


def make_tuple(*args: Any) -> ex.ColumnExpression:
    """A tuple built from the arguments, one per row."""
    return ex.MakeTuple(*args)


def apply(function: Callable[..., Any], *args: Any, **kwargs: Any) -> ex.ColumnExpression:
    """Call a Python function on each row; the result type comes from its annotation.

    >>> import reflow as pw
    >>> def shout(s: str) -> str:
    ...     return s.upper() + "!"
    >>> t = pw.debug.table_from_markdown('''
    ... w
    ... hi
    ... ''')
    >>> pw.debug.compute_and_print(t.select(s=pw.apply(shout, pw.this.w)), include_id=False)
    s
    HI!
    """
    return apply_with_type(function, return_annotation(function), *args, **kwargs)


def apply_with_type(
    function: Callable[..., Any], ret_type: Any, *args: Any, **kwargs: Any
) -> ex.ColumnExpression:
    """``apply`` with an explicit result type."""
    name = getattr(function, "__name__", "function")
    return ex.RowwiseCall(name, function, args, dt.wrap(ret_type), kwargs)


def return_annotation(function: Callable[..., Any]) -> Any:
    """The return annotation of ``function`` (a string one evaluated), ``Any`` without one.

    >>> from reflow.api.functions import return_annotation
    >>> def double(x) -> int:
    ...     return 2 * x
    >>> return_annotation(double), return_annotation(lambda x: x)
    (<class 'int'>, typing.Any)
    """
    import inspect

    try:
        annotation = inspect.signature(function).return_annotation
    except (TypeError, ValueError):
        return Any
    if annotation is inspect.Signature.empty:
        return Any
    if isinstance(annotation, str):
        try:
            import typing

            return typing.get_type_hints(function).get("return", Any)
        except Exception:  # noqa: BLE001 - unresolvable annotation: fall back to ANY
            return Any
    return annotation
