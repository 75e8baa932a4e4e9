"""Column data types and their mapping to Python annotations and Polars storage."""

from __future__ import annotations

import datetime
import types
import typing
from typing import TYPE_CHECKING, Any

import polars as pl

from reflow.engine.lazy_modules import imported_on_use
from reflow.engine.values import Json, Pointer, PyObjectWrapper

if TYPE_CHECKING:
    import numpy as np
else:
    np = imported_on_use("numpy", globals(), "np")


class DateTimeNaive(datetime.datetime):
    """Annotation for a timestamp without a time zone; values are ``datetime`` objects.

    Called with one string it parses it, as ``pandas.Timestamp`` does:

    >>> import reflow as pw
    >>> pw.DateTimeNaive("2024-03-01 12:30")
    DateTimeNaive(2024, 3, 1, 12, 30)
    """

    def __new__(cls, *args: Any, **kwargs: Any) -> DateTimeNaive:
        if len(args) == 1 and not kwargs and isinstance(args[0], str):
            return _from_datetime(cls, _parse_timestamp(args[0]))
        return super().__new__(cls, *args, **kwargs)


class DateTimeUtc(datetime.datetime):
    """Annotation for a time-zone-aware timestamp; values are aware ``datetime`` objects.

    >>> import reflow as pw
    >>> pw.DateTimeUtc("2024-03-01T12:30:00+01:00").hour
    11
    """

    def __new__(cls, *args: Any, **kwargs: Any) -> DateTimeUtc:
        if len(args) == 1 and not kwargs and isinstance(args[0], str):
            value = _parse_timestamp(args[0])
            if value.tzinfo is None:
                raise ValueError(f"DateTimeUtc({args[0]!r}): the text has no time zone")
            return _from_datetime(cls, value.astimezone(datetime.UTC))
        return super().__new__(cls, *args, **kwargs)


class Duration(datetime.timedelta):
    """Annotation for a time span; values are ``timedelta`` objects.

    Called with one string it parses it as ``pandas.Timedelta`` does (``"10m"``, ``"2h"``,
    ``"1 day 3s"``):

    >>> import reflow as pw
    >>> pw.Duration("10m") == pw.Duration(minutes=10)
    True
    """

    def __new__(cls, *args: Any, **kwargs: Any) -> Duration:
        if len(args) == 1 and not kwargs and isinstance(args[0], str):
            import pandas as pd

            parsed = pd.Timedelta(args[0]).to_pytimedelta()
            return super().__new__(
                cls, days=parsed.days, seconds=parsed.seconds, microseconds=parsed.microseconds
            )
        return super().__new__(cls, *args, **kwargs)


def _parse_timestamp(text: str) -> datetime.datetime:
    import pandas as pd

    return pd.Timestamp(text).to_pydatetime()


def _from_datetime(cls: type, value: datetime.datetime) -> Any:
    return datetime.datetime.__new__(
        cls, value.year, value.month, value.day, value.hour, value.minute, value.second,
        value.microsecond, value.tzinfo,
    )


class DType:
    """A column's type. Instances are compared by value and are immutable."""

    name: str = "ANY"

    def polars(self) -> pl.DataType:
        """How cells of this type are stored in a Polars column."""
        return pl.Object()

    def strip_optional(self) -> DType:
        return self

    @property
    def is_optional(self) -> bool:
        return False

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self.__dict__ == other.__dict__

    def __hash__(self) -> int:
        return hash((type(self).__name__, tuple(sorted(self.__dict__.items()))))

    def __repr__(self) -> str:
        return self.name

    def typehint(self) -> Any:
        return Any


class _Simple(DType):
    def __init__(self, name: str, storage: pl.DataType, hint: Any) -> None:
        self.name = name
        self._storage = storage
        self._hint = hint

    def polars(self) -> pl.DataType:
        return self._storage

    def typehint(self) -> Any:
        return self._hint

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Simple) and other.name == self.name

    def __hash__(self) -> int:
        return hash(self.name)


INT = _Simple("INT", pl.Int64(), int)
FLOAT = _Simple("FLOAT", pl.Float64(), float)
BOOL = _Simple("BOOL", pl.Boolean(), bool)
STR = _Simple("STR", pl.String(), str)
BYTES = _Simple("BYTES", pl.Binary(), bytes)
POINTER = _Simple("POINTER", pl.UInt128(), Pointer)
DATE_TIME_NAIVE = _Simple("DATE_TIME_NAIVE", pl.Datetime("ns"), DateTimeNaive)
DATE_TIME_UTC = _Simple("DATE_TIME_UTC", pl.Datetime("ns", "UTC"), DateTimeUtc)
DURATION = _Simple("DURATION", pl.Duration("ns"), Duration)
JSON = _Simple("JSON", pl.Object(), Json)
ANY = _Simple("ANY", pl.Object(), Any)
PY_OBJECT_WRAPPER = _Simple("PY_OBJECT_WRAPPER", pl.Object(), PyObjectWrapper)
NONE = _Simple("NONE", pl.Null(), type(None))


class Optional(DType):
    """A type whose cells may also be ``None``."""

    def __init__(self, wrapped: DType) -> None:
        self.wrapped = wrapped.strip_optional() if wrapped != NONE else wrapped
        self.name = f"Optional({self.wrapped!r})"

    def polars(self) -> pl.DataType:
        return self.wrapped.polars()

    def strip_optional(self) -> DType:
        return self.wrapped

    @property
    def is_optional(self) -> bool:
        return True

    def typehint(self) -> Any:
        return self.wrapped.typehint() | None


class Tuple(DType):
    """A fixed-length tuple with a type per position; stored as Python tuples."""

    def __init__(self, *args: DType) -> None:
        self.args = tuple(args)
        self.name = f"Tuple({', '.join(map(repr, args))})"

    def typehint(self) -> Any:
        return tuple[tuple(a.typehint() for a in self.args)] if self.args else tuple  # type: ignore[misc]


class List(DType):
    """A variable-length sequence of one type; stored as Python tuples."""

    def __init__(self, wrapped: DType) -> None:
        self.wrapped = wrapped
        self.name = f"List({wrapped!r})"

    def typehint(self) -> Any:
        return tuple[self.wrapped.typehint(), ...]  # type: ignore[misc]


class Array(DType):
    """A numpy array, optionally with a known number of dimensions and element type."""

    def __init__(self, n_dim: int | None = None, wrapped: DType | None = None) -> None:
        self.n_dim = n_dim
        self.wrapped = wrapped
        self.name = "Array"

    def typehint(self) -> Any:
        return np.ndarray


class Future(DType):
    """The result of a fully asynchronous call: a pending value until the call finishes.

    Stored as Python objects; ``Table.await_futures()`` turns it back into ``wrapped``.

    >>> Future(INT)
    Future(INT)
    """

    def __init__(self, wrapped: DType) -> None:
        self.wrapped = wrapped
        self.name = f"Future({wrapped!r})"

    def typehint(self) -> Any:
        return self.wrapped.typehint()


def wrap(annotation: Any) -> DType:
    """The ``DType`` of a Python annotation.

    >>> wrap(int | None)
    Optional(INT)
    >>> wrap(tuple[int, str])
    Tuple(INT, STR)
    """
    if isinstance(annotation, DType):
        return annotation
    if annotation is None or annotation is type(None):
        return NONE
    simple = _SIMPLE_ANNOTATIONS.get(annotation)
    if simple is not None:
        return simple
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        non_none = [a for a in args if a is not type(None)]
        if len(non_none) == 1 and len(args) == 2:
            return Optional(wrap(non_none[0]))
        return ANY
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return List(wrap(args[0]))
        return Tuple(*(wrap(a) for a in args))
    if origin is list:
        return List(wrap(args[0]) if args else ANY)
    if annotation is tuple or annotation is list:
        return List(ANY)
    if annotation is np.ndarray or origin is np.ndarray:
        return Array()
    if annotation is typing.Any:
        return ANY
    return ANY


_SIMPLE_ANNOTATIONS: dict[Any, DType] = {
    int: INT,
    float: FLOAT,
    bool: BOOL,
    str: STR,
    bytes: BYTES,
    Pointer: POINTER,
    DateTimeNaive: DATE_TIME_NAIVE,
    DateTimeUtc: DATE_TIME_UTC,
    Duration: DURATION,
    datetime.timedelta: DURATION,
    Json: JSON,
    dict: JSON,
    PyObjectWrapper: PY_OBJECT_WRAPPER,
    typing.Any: ANY,
}


def of_value(value: Any) -> DType:
    """The type of a literal Python value."""
    if value is None:
        return NONE
    if isinstance(value, bool):
        return BOOL
    if isinstance(value, int):
        return INT
    if isinstance(value, float):
        return FLOAT
    if isinstance(value, str):
        return STR
    if isinstance(value, bytes):
        return BYTES
    if isinstance(value, Pointer):
        return POINTER
    if isinstance(value, datetime.datetime):
        return DATE_TIME_UTC if value.tzinfo is not None else DATE_TIME_NAIVE
    if isinstance(value, datetime.timedelta):
        return DURATION
    if isinstance(value, Json):
        return JSON
    if isinstance(value, tuple):
        return Tuple(*(of_value(v) for v in value))
    if isinstance(value, np.ndarray):
        return Array()
    if isinstance(value, PyObjectWrapper):
        return PY_OBJECT_WRAPPER
    return ANY


def unify(a: DType, b: DType) -> DType:
    """The narrowest type holding values of both ``a`` and ``b`` (for if_else, coalesce, concat)."""
    if a == b:
        return a
    if a == NONE:
        return b if b.is_optional or b == NONE else Optional(b)
    if b == NONE:
        return unify(b, a)
    optional = a.is_optional or b.is_optional
    a0, b0 = a.strip_optional(), b.strip_optional()
    if a0 == b0:
        base = a0
    elif {a0, b0} == {INT, FLOAT}:
        base = FLOAT
    elif isinstance(a0, Tuple) and isinstance(b0, Tuple) and len(a0.args) == len(b0.args):
        base = Tuple(*(unify(x, y) for x, y in zip(a0.args, b0.args, strict=True)))
    elif isinstance(a0, (Tuple, List)) and isinstance(b0, (Tuple, List)):
        base = List(ANY)
    else:
        base = ANY
    return Optional(base) if optional else base


def is_subtype(sub: DType, sup: DType) -> bool:
    """Whether every value of ``sub`` is a value of ``sup``."""
    if sup == ANY or sub == sup:
        return True
    if sub == NONE:
        return sup.is_optional
    if isinstance(sup, Optional):
        return is_subtype(sub.strip_optional(), sup.wrapped)
    if isinstance(sub, Optional):
        return False
    if sub == INT and sup == FLOAT:
        return False
    if isinstance(sub, Tuple) and isinstance(sup, Tuple) and len(sub.args) == len(sup.args):
        return all(is_subtype(x, y) for x, y in zip(sub.args, sup.args, strict=True))
    if isinstance(sub, (Tuple, List)) and isinstance(sup, List):
        items = sub.args if isinstance(sub, Tuple) else (sub.wrapped,)
        return all(is_subtype(x, sup.wrapped) for x in items)
    return False


def is_numeric(dtype: DType) -> bool:
    return dtype.strip_optional() in (INT, FLOAT)
