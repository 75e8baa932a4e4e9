"""The string functions of expressions (behind ``.str``): result types and Polars kernels.

The API's namespace (``reflow.api.namespaces.strings``) names them; each builds a plan
expression node.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import polars as pl

from reflow.plan import dtypes as dt
from reflow.plan import expr as ex

TRUE_VALUES = ("on", "true", "yes", "1")
FALSE_VALUES = ("off", "false", "no", "0")


def _requires_str(*types: dt.DType) -> None:
    if types and types[0].strip_optional() != dt.STR:
        raise TypeError(f"expected a str column, got {types[0]!r}")


def _check_args(types: Sequence[dt.DType], expected: Sequence[dt.DType]) -> None:
    """Check the extra arguments (after the string itself) against ``expected`` types."""
    for position, (got, want) in enumerate(zip(types[1:], expected, strict=False), start=1):
        base = got.strip_optional()
        if base == want or got == dt.NONE:
            continue
        raise TypeError(f"argument {position} must be {want!r}, got {got!r}")


def _keep_optional(result: dt.DType, *arg_types: dt.DType) -> Callable[..., dt.DType]:
    """A result-type function: ``result`` (Optional when the string column is Optional)."""

    def result_type(*types: dt.DType) -> dt.DType:
        _requires_str(*types)
        _check_args(types, arg_types)
        optional = any(t.is_optional or t == dt.NONE for t in types)
        return dt.Optional(result) if optional else result

    return result_type


def _clamp_index(index: pl.Expr, length: pl.Expr) -> pl.Expr:
    """Python's slice-bound normalization: negative counts from the end, clipped to [0, len]."""
    index = index.cast(pl.Int64)
    return (
        pl.when(index < 0)
        .then(pl.max_horizontal(length + index, pl.lit(0, pl.Int64)))
        .otherwise(pl.min_horizontal(index, length))
    )


def _bounds(
    s: pl.Expr, start: pl.Expr | None, end: pl.Expr | None
) -> tuple[pl.Expr, pl.Expr, pl.Expr]:
    """The length of ``s`` and the normalized bounds of ``s[start:end]``."""
    length = s.str.len_chars().cast(pl.Int64)
    lo = pl.lit(0, pl.Int64) if start is None else _clamp_index(start, length)
    hi = length if end is None else _clamp_index(end, length)
    return length, lo, hi


def _py_slice(s: pl.Expr, start: pl.Expr | None, end: pl.Expr | None) -> tuple[pl.Expr, pl.Expr]:
    """``s[start:end]`` with Python semantics, and the normalized start offset."""
    _, lo, hi = _bounds(s, start, end)
    size = pl.max_horizontal(hi - lo, pl.lit(0, pl.Int64))
    return s.str.slice(lo, size), lo


def _empty_range(s: pl.Expr, start: pl.Expr | None, end: pl.Expr | None) -> pl.Expr:
    """Where ``str.find``/``str.count`` see no range at all: ``start`` lies beyond the string
    or ``end`` before ``start`` (then even an empty ``sub`` is not found)."""
    length, lo, hi = _bounds(s, start, end)
    beyond = pl.lit(False) if start is None else start.cast(pl.Int64) > length
    return beyond | (hi < lo)


def _char_find(s: pl.Expr, sub: pl.Expr) -> pl.Expr:
    """Character index of the first occurrence of ``sub`` in ``s``, or -1."""
    byte_index = s.str.find(sub, literal=True)
    # Polars gives a byte offset; count the characters of the bytes before it.
    before = s.cast(pl.Binary).bin.head(byte_index.fill_null(0)).cast(pl.String)
    return (
        pl.when(s.is_null() | sub.is_null()).then(pl.lit(None, pl.Int64))
        .when(byte_index.is_null()).then(pl.lit(-1, pl.Int64))
        .otherwise(before.str.len_chars().cast(pl.Int64))
    )


def _char_rfind(s: pl.Expr, sub: pl.Expr) -> pl.Expr:
    """Character index of the last occurrence of ``sub`` in ``s``, or -1."""
    length = s.str.len_chars().cast(pl.Int64)
    after = s.str.split(sub).list.last().str.len_chars().cast(pl.Int64)
    return (
        pl.when(~s.str.contains(sub, literal=True)).then(pl.lit(-1, pl.Int64))
        .when(sub.str.len_bytes() == 0).then(length)
        .otherwise(length - after - sub.str.len_chars().cast(pl.Int64))
    )


def _count_matches(s: pl.Expr, sub: pl.Expr) -> pl.Expr:
    """Number of non-overlapping occurrences of ``sub`` in ``s``."""
    return s.str.count_matches(sub, literal=True).cast(pl.Int64)


def _in_range(
    s: pl.Expr,
    sub: pl.Expr,
    start: pl.Expr | None,
    end: pl.Expr | None,
    compute: Callable[[pl.Expr, pl.Expr, pl.Expr, pl.Expr], pl.Expr],
) -> pl.Expr:
    """``compute(part, sub, offset, empty)`` on ``part = s[start:end]``.

    The intermediate columns are materialized once per batch (a plain expression tree would
    recompute the slice for every use, several times slower than per-row Python).
    """
    fields = [s.alias("s"), sub.alias("sub")]
    if start is not None:
        fields.append(start.cast(pl.Int64).alias("start"))
    if end is not None:
        fields.append(end.cast(pl.Int64).alias("end"))

    def run(batch: pl.Series) -> pl.Series:
        frame = batch.struct.unnest()
        lo = pl.col("start") if start is not None else None
        hi = pl.col("end") if end is not None else None
        part, offset = _py_slice(pl.col("s"), lo, hi)
        frame = frame.with_columns(
            part.alias("part"), offset.alias("offset"),
            _empty_range(pl.col("s"), lo, hi).alias("empty"),
        )
        result = compute(pl.col("part"), pl.col("sub"), pl.col("offset"), pl.col("empty"))
        return frame.select(
            pl.when(pl.col("s").is_null()).then(None).otherwise(result).alias("v")
        ).to_series()

    return pl.struct(fields).map_batches(run, return_dtype=pl.Int64)


def _start_end_args(start: Any, end: Any) -> list[Any]:
    return [a for a in (start, end) if a is not None]


def _unpack(
    values: Sequence[pl.Expr], start: Any, end: Any
) -> tuple[pl.Expr | None, pl.Expr | None]:
    rest = list(values)
    lo = rest.pop(0) if start is not None else None
    hi = rest.pop(0) if end is not None else None
    return lo, hi


class StringOps:
    """The plan operations behind ``.str``: each method builds the expression node of one
    string function of the column ``expr``."""

    def __init__(self, expr: ex.ColumnExpression) -> None:
        self._expr = expr

    def _call(
        self,
        name: str,
        kernel: Callable[..., pl.Expr],
        result: dt.DType,
        *args: Any,
        arg_types: Sequence[dt.DType] = (),
    ) -> ex.ColumnExpression:
        return ex.PolarsCall(
            f"str.{name}", [self._expr, *args], kernel, _keep_optional(result, *arg_types)
        )

    # --- case ------------------------------------------------------------------------------
    def lower(self) -> ex.ColumnExpression:
        """Lowercase."""
        return self._call("lower", lambda s: s.str.to_lowercase(), dt.STR)

    def upper(self) -> ex.ColumnExpression:
        """Uppercase."""
        return self._call("upper", lambda s: s.str.to_uppercase(), dt.STR)

    def swapcase(self) -> ex.ColumnExpression:
        """Lowercase letters become uppercase and the other way round."""
        return ex.RowwiseCall(
            "str.swapcase", str.swapcase, (self._expr,), _keep_optional(dt.STR),
            propagate_none=True,
        )

    def title(self) -> ex.ColumnExpression:
        """Each word starts with an uppercase letter, the rest is lowercase."""
        return self._call("title", lambda s: s.str.to_titlecase(), dt.STR)

    def reversed(self) -> ex.ColumnExpression:
        """The string reversed."""
        return self._call("reversed", lambda s: s.str.reverse(), dt.STR)

    # --- measuring and searching ------------------------------------------------------------
    def len(self) -> ex.ColumnExpression:
        """Number of characters."""
        return self._call("len", lambda s: s.str.len_chars().cast(pl.Int64), dt.INT)

    def find(self, sub: Any, start: Any = None, end: Any = None) -> ex.ColumnExpression:
        """Index of the first occurrence of ``sub`` in ``s[start:end]``, or -1 (as ``str.find``)."""
        return self._search("find", _char_find, sub, start, end)

    def rfind(self, sub: Any, start: Any = None, end: Any = None) -> ex.ColumnExpression:
        """Index of the last occurrence of ``sub`` in ``s[start:end]``, or -1 (as ``str.rfind``)."""
        return self._search("rfind", _char_rfind, sub, start, end)

    def _search(
        self, name: str, finder: Callable[[pl.Expr, pl.Expr], pl.Expr], sub: Any, start: Any,
        end: Any,
    ) -> ex.ColumnExpression:
        def search(part: pl.Expr, sub_col: pl.Expr, lo: pl.Expr, empty: pl.Expr) -> pl.Expr:
            index = finder(part, sub_col)
            missing = (index < 0) | empty
            return pl.when(missing).then(pl.lit(-1, pl.Int64)).otherwise(index + lo)

        return self._sub_in_range(name, finder, search, sub, start, end)

    def _sub_in_range(
        self, name: str, whole: Callable[[pl.Expr, pl.Expr], pl.Expr],
        in_part: Callable[[pl.Expr, pl.Expr, pl.Expr, pl.Expr], pl.Expr], sub: Any, start: Any,
        end: Any,
    ) -> ex.ColumnExpression:
        """An int about ``sub`` in ``s[start:end]``: ``whole(s, sub)`` without bounds, else
        ``in_part`` as for ``_in_range``."""

        def kernel(s: pl.Expr, sub_value: pl.Expr, *bounds: pl.Expr) -> pl.Expr:
            lo_arg, hi_arg = _unpack(bounds, start, end)
            if lo_arg is None and hi_arg is None:
                return whole(s, sub_value)
            return _in_range(s, sub_value, lo_arg, hi_arg, in_part)

        bounds = _start_end_args(start, end)
        return self._call(
            name, kernel, dt.INT, sub, *bounds, arg_types=(dt.STR, *([dt.INT] * len(bounds)))
        )

    def count(self, sub: Any, start: Any = None, end: Any = None) -> ex.ColumnExpression:
        """Number of non-overlapping occurrences of ``sub`` in ``s[start:end]``."""

        def count(part: pl.Expr, sub_col: pl.Expr, lo: pl.Expr, empty: pl.Expr) -> pl.Expr:
            counted = _count_matches(part, sub_col)
            return pl.when(empty).then(pl.lit(0, pl.Int64)).otherwise(counted)

        return self._sub_in_range("count", _count_matches, count, sub, start, end)

    def startswith(self, prefix: Any) -> ex.ColumnExpression:
        """Whether the string starts with ``prefix``."""
        return self._call(
            "startswith", lambda s, p: s.str.starts_with(p), dt.BOOL, prefix, arg_types=(dt.STR,)
        )

    def endswith(self, suffix: Any) -> ex.ColumnExpression:
        """Whether the string ends with ``suffix``."""
        return self._call(
            "endswith", lambda s, p: s.str.ends_with(p), dt.BOOL, suffix, arg_types=(dt.STR,)
        )

    # --- transforming ----------------------------------------------------------------------
    def replace(self, old_value: Any, new_value: Any, count: int = -1) -> ex.ColumnExpression:
        """Replace occurrences of ``old_value`` by ``new_value``; at most ``count`` if >= 0."""
        if not isinstance(count, int) or isinstance(count, bool):
            raise ex.type_error(f"str.replace: count must be an int, got {count!r}", self._expr)

        def kernel(s: pl.Expr, old: pl.Expr, new: pl.Expr) -> pl.Expr:
            if count == 0:
                return s
            if count < 0:
                return s.str.replace_all(old, new, literal=True)
            return s.str.replace(old, new, literal=True, n=count)

        if isinstance(old_value, ex.ColumnExpression):
            # Polars needs a fixed pattern; a per-row pattern runs Python's str.replace.
            def result_type(*types: dt.DType) -> dt.DType:
                _requires_str(*types)
                _check_args(types, (dt.STR, dt.STR))
                return dt.STR

            return ex.RowwiseCall(
                "str.replace", lambda s, old, new: s.replace(old, new, count),
                (self._expr, old_value, new_value), result_type, propagate_none=True,
            )
        return self._call(
            "replace", kernel, dt.STR, old_value, new_value, arg_types=(dt.STR, dt.STR)
        )

    def strip(self, chars: str | None = None) -> ex.ColumnExpression:
        """Remove leading and trailing ``chars`` (whitespace by default)."""
        return self._strip("strip", lambda s, c: s.str.strip_chars(c), chars)

    def lstrip(self, chars: str | None = None) -> ex.ColumnExpression:
        """Remove leading ``chars`` (whitespace by default)."""
        return self._strip("lstrip", lambda s, c: s.str.strip_chars_start(c), chars)

    def rstrip(self, chars: str | None = None) -> ex.ColumnExpression:
        """Remove trailing ``chars`` (whitespace by default)."""
        return self._strip("rstrip", lambda s, c: s.str.strip_chars_end(c), chars)

    def _strip(
        self, name: str, kernel: Callable[[pl.Expr, Any], pl.Expr], chars: Any
    ) -> ex.ColumnExpression:
        if chars is None:
            return self._call(name, lambda s: kernel(s, None), dt.STR)
        return self._call(name, kernel, dt.STR, chars, arg_types=(dt.STR,))

    def slice(self, start: Any, end: Any) -> ex.ColumnExpression:
        """The substring ``s[start:end]`` (negative indices count from the end; ``None`` leaves that
        side open)."""
        def kernel(s: pl.Expr, *bounds: pl.Expr) -> pl.Expr:
            return _py_slice(s, *_unpack(bounds, start, end))[0]

        bounds = _start_end_args(start, end)
        return self._call("slice", kernel, dt.STR, *bounds, arg_types=(dt.INT,) * len(bounds))

    def removeprefix(self, prefix: Any) -> ex.ColumnExpression:
        """The string without ``prefix`` if it starts with it."""
        return self._call(
            "removeprefix", lambda s, p: s.str.strip_prefix(p), dt.STR, prefix,
            arg_types=(dt.STR,),
        )

    def removesuffix(self, suffix: Any) -> ex.ColumnExpression:
        """The string without ``suffix`` if it ends with it."""
        return self._call(
            "removesuffix", lambda s, p: s.str.strip_suffix(p), dt.STR, suffix,
            arg_types=(dt.STR,),
        )

    def split(self, sep: Any = None, maxsplit: Any = -1) -> ex.ColumnExpression:
        """The words of the string, as ``str.split``: a tuple of str."""
        args: list[Any] = [self._expr]
        if isinstance(sep, ex.ColumnExpression):
            args.append(sep)
        if isinstance(maxsplit, ex.ColumnExpression):
            args.append(maxsplit)

        def split(s: str, *dynamic: Any) -> tuple[str, ...]:
            rest = list(dynamic)
            separator = rest.pop(0) if isinstance(sep, ex.ColumnExpression) else sep
            limit = rest.pop(0) if isinstance(maxsplit, ex.ColumnExpression) else maxsplit
            return tuple(s.split(separator, limit))

        def result_type(*types: dt.DType) -> dt.DType:
            _requires_str(*types)
            return dt.List(dt.STR)

        return ex.RowwiseCall("str.split", split, args, result_type, propagate_none=True)

    # --- parsing ---------------------------------------------------------------------------
    def parse_int(self, optional: bool = False) -> ex.ColumnExpression:
        """Parse the string as an int; a string that is not an int is an error value."""
        return self._parse("parse_int", dt.INT, _parse_int, optional, "not an int")

    def parse_float(self, optional: bool = False) -> ex.ColumnExpression:
        """Parse the string as a float; a string that is not a number is an error value."""
        return self._parse("parse_float", dt.FLOAT, _parse_float, optional, "not a float")

    def parse_bool(
        self,
        true_values: Sequence[str] = TRUE_VALUES,
        false_values: Sequence[str] = FALSE_VALUES,
        optional: bool = False,
    ) -> ex.ColumnExpression:
        """Parse the string as a bool (case-insensitively) using ``true_values`` /
        ``false_values``."""
        trues = [v.lower() for v in true_values]
        falses = [v.lower() for v in false_values]

        def parse(s: pl.Expr) -> pl.Expr:
            lowered = s.str.to_lowercase()
            return (
                pl.when(lowered.is_in(trues)).then(pl.lit(True))
                .when(lowered.is_in(falses)).then(pl.lit(False))
                .otherwise(pl.lit(None, pl.Boolean))
            )

        return self._parse("parse_bool", dt.BOOL, parse, optional, "not a bool")

    def _parse(
        self, name: str, target: dt.DType, parse: Callable[[pl.Expr], pl.Expr], optional: bool,
        what: str,
    ) -> ex.ColumnExpression:
        def result_type(*types: dt.DType) -> dt.DType:
            _requires_str(*types)
            return dt.Optional(target) if optional or types[0].is_optional else target

        def failed(s: pl.Expr) -> pl.Expr:
            return s.is_not_null() & parse(s).is_null()

        return ex.PolarsCall(
            f"str.{name}", [self._expr], parse, result_type,
            error_when=None if optional else failed,
            error_message=f"the string is {what}",
        )


def _parse_int(s: pl.Expr) -> pl.Expr:
    return s.str.strip_chars().cast(pl.Int64, strict=False)


def _parse_float(s: pl.Expr) -> pl.Expr:
    return s.str.strip_chars().cast(pl.Float64, strict=False)
