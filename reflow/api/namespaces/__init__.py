"""Expression namespaces: ``.str``, ``.dt``, ``.num`` and Json access.

Their methods name plan operations; importing this package attaches them to every
``ColumnExpression``. The namespace modules load on first use, which keeps ``import reflow``
fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from reflow.plan import dtypes as dt
from reflow.plan.expr import ColumnExpression

if TYPE_CHECKING:
    from reflow.api.namespaces.datetimes import DateTimeNamespace
    from reflow.api.namespaces.numbers import NumericalNamespace
    from reflow.api.namespaces.strings import StringNamespace


def _str(self: ColumnExpression) -> StringNamespace:
    """String operations (``pw.this.name.str.upper()``)."""
    from reflow.api.namespaces.strings import StringNamespace

    return StringNamespace(self)


def _dt(self: ColumnExpression) -> DateTimeNamespace:
    """Date and time operations (``pw.this.t.dt.year()``)."""
    from reflow.api.namespaces.datetimes import DateTimeNamespace

    return DateTimeNamespace(self)


def _num(self: ColumnExpression) -> NumericalNamespace:
    """Numerical operations (``pw.this.x.num.abs()``)."""
    from reflow.api.namespaces.numbers import NumericalNamespace

    return NumericalNamespace(self)


def _json_as(
    expr: ColumnExpression, target: dt.DType, default: Any, unwrap: bool
) -> ColumnExpression:
    """``json_as``, then None replaced by ``default`` and, with ``unwrap``, made
    non-optional."""
    from reflow.api.functions import coalesce
    from reflow.api.functions import unwrap as unwrap_none
    from reflow.plan.json_ops import json_as

    result = json_as(expr, target)
    defaults: dict[dt.DType, tuple[type, ...]] = {
        dt.INT: (int,), dt.FLOAT: (int, float), dt.STR: (str,), dt.BOOL: (bool,)
    }
    allowed = defaults[target]
    wrong_type = not isinstance(default, allowed) or (
        isinstance(default, bool) and bool not in allowed
    )
    if default is not None and not isinstance(default, ColumnExpression) and wrong_type:
        from reflow.plan.errors import BuildTypeError, user_frame

        raise BuildTypeError(
            f"the default {default!r} ({type(default).__name__}) is not compatible with "
            f"{target!r}", user_frame())
    if default is not None:
        result = coalesce(result, default)
    if unwrap:
        result = unwrap_none(result)
    return result


def _as_int(self: ColumnExpression, default: Any = None, unwrap: bool = False) -> ColumnExpression:
    """Json value as int (``None`` for JSON null, error when it is not a number); ``default``
    replaces None, ``unwrap=True`` makes the result non-optional (None is an error)."""
    return _json_as(self, dt.INT, default, unwrap)


def _as_float(
    self: ColumnExpression, default: Any = None, unwrap: bool = False
) -> ColumnExpression:
    """Json value as float (see ``as_int``)."""
    return _json_as(self, dt.FLOAT, default, unwrap)


def _as_str(self: ColumnExpression, default: Any = None, unwrap: bool = False) -> ColumnExpression:
    """Json value as str (see ``as_int``)."""
    return _json_as(self, dt.STR, default, unwrap)


def _as_bool(self: ColumnExpression, default: Any = None, unwrap: bool = False) -> ColumnExpression:
    """Json value as bool (see ``as_int``)."""
    return _json_as(self, dt.BOOL, default, unwrap)


for _name, _value in {
    "str": property(_str), "dt": property(_dt), "num": property(_num),
    "as_int": _as_int, "as_float": _as_float, "as_str": _as_str, "as_bool": _as_bool,
}.items():
    setattr(ColumnExpression, _name, _value)
