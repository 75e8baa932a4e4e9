"""Table schemas: column names, types, primary keys and defaults."""

from __future__ import annotations

import re
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from reflow.engine.values import Json, Pointer, PyObjectWrapper
from reflow.plan import dtypes as dt

# The names a string annotation may use without importing them (``"pw.Json"``, ``"Pointer"``).
_ANNOTATION_NAMES = SimpleNamespace(
    Json=Json, Pointer=Pointer, PyObjectWrapper=PyObjectWrapper, DateTimeNaive=dt.DateTimeNaive,
    DateTimeUtc=dt.DateTimeUtc, Duration=dt.Duration,
)

_NO_DEFAULT = object()


@dataclass(frozen=True)
class ColumnDefinition:
    """How a schema column is declared: ``a: int = pw.column_definition(primary_key=True)``."""

    primary_key: bool = False
    default_value: Any = _NO_DEFAULT
    dtype: Any = None
    name: str | None = None

    @property
    def has_default(self) -> bool:
        return self.default_value is not _NO_DEFAULT


def column_definition(
    *,
    primary_key: bool = False,
    default_value: Any = _NO_DEFAULT,
    dtype: Any = None,
    name: str | None = None,
    append_only: bool | None = None,
    description: str | None = None,
    example: Any = None,
    source_component: str = "payload",
) -> Any:
    """Declare a schema column with extra properties (``append_only``, ``description``,
    ``example`` and ``source_component`` are accepted as documentation only).

    >>> import reflow as pw
    >>> class Prices(pw.Schema):
    ...     sku: str = pw.column_definition(primary_key=True)
    ...     price: float = pw.column_definition(default_value=0.0)
    >>> Prices.primary_key_columns()
    ['sku']
    """
    return ColumnDefinition(primary_key, default_value, dtype, name)


@dataclass(frozen=True)
class SchemaProperties:
    """Properties of a whole schema; ``append_only`` is accepted as documentation only."""

    append_only: bool | None = None


@dataclass(frozen=True)
class ColumnSchema:
    name: str
    dtype: dt.DType
    primary_key: bool = False
    default_value: Any = _NO_DEFAULT

    @property
    def has_default(self) -> bool:
        return self.default_value is not _NO_DEFAULT


def _evaluated_annotations(cls: type, raw: dict[str, Any]) -> dict[str, Any]:
    """Annotations with string forms (``from __future__ import annotations``) evaluated."""
    if not any(isinstance(a, str) for a in raw.values()):
        return raw
    import sys

    module = sys.modules.get(cls.__module__)
    scope = {"pw": _ANNOTATION_NAMES, **vars(_ANNOTATION_NAMES), **(vars(module) if module else {})}
    frame = sys._getframe(2)
    scope.update(frame.f_globals)
    scope.update(frame.f_locals)
    return {
        name: eval(annotation, scope) if isinstance(annotation, str) else annotation
        for name, annotation in raw.items()
    }


class SchemaMetaclass(type):
    __columns__: dict[str, ColumnSchema]

    def __new__(mcs, name, bases, namespace, **kwargs):
        cls = super().__new__(mcs, name, bases, namespace)
        columns: dict[str, ColumnSchema] = {}
        for base in reversed(cls.__mro__[1:]):
            columns.update(getattr(base, "__columns__", {}))
        annotations = _evaluated_annotations(cls, namespace.get("__annotations__", {}))
        for attr, annotation in annotations.items():
            declared = namespace.get(attr, _NO_DEFAULT)
            if isinstance(declared, ColumnDefinition):
                definition = declared
            elif declared is _NO_DEFAULT:
                definition = ColumnDefinition()
            else:
                definition = ColumnDefinition(default_value=declared)
            dtype = dt.wrap(definition.dtype if definition.dtype is not None else annotation)
            column_name = definition.name or attr
            columns[column_name] = ColumnSchema(
                column_name, dtype, definition.primary_key, definition.default_value
            )
        cls.__columns__ = columns
        return cls

    def __or__(cls, other: SchemaMetaclass) -> type[Schema]:
        return _schema_from_columns({**cls.__columns__, **other.__columns__}, "UnionSchema")

    def __repr__(cls) -> str:
        inner = ", ".join(f"{c.name}: {c.dtype!r}" for c in cls.__columns__.values())
        return f"<reflow.Schema types={{{inner}}}>"

    def __str__(cls) -> str:
        """The columns and their types as two aligned lines, as Pathway prints a schema.

        >>> import reflow as pw
        >>> print(pw.schema_from_types(is_upsert=bool, a=int))
        id          | is_upsert | a
        ANY_POINTER | BOOL      | INT
        """
        key = [c for c in cls.__columns__.values() if c.primary_key]
        id_type = (
            "Pointer(" + ", ".join(_pathway_type_name(c.dtype) for c in key) + ")" if key
            else "ANY_POINTER"
        )
        names = ["id", *cls.__columns__]
        types = [id_type, *(_pathway_type_name(c.dtype) for c in cls.__columns__.values())]
        widths = [max(len(n), len(t)) for n, t in zip(names, types, strict=True)]
        header = " | ".join(
            [*(n.ljust(w) for n, w in zip(names[:-1], widths, strict=False)), names[-1]]
        )
        return header + "\n" + " | ".join(t.ljust(w) for t, w in zip(types, widths, strict=True))

    def __eq__(cls, other: object) -> bool:
        return isinstance(other, SchemaMetaclass) and cls.__columns__ == other.__columns__

    def __hash__(cls) -> int:
        return hash(tuple(cls.__columns__.items()))


def _pathway_type_name(dtype: dt.DType) -> str:
    """A dtype as Pathway names it (``Json``, ``ANY_POINTER``; the others as reflow does)."""
    text = re.sub(r"\bJSON\b", "Json", repr(dtype))
    return re.sub(r"\bPOINTER\b", "ANY_POINTER", text)


class Schema(metaclass=SchemaMetaclass):
    """Base class of table schemas; subclass it with annotated columns.

    >>> import reflow as pw
    >>> class Events(pw.Schema):
    ...     user: str
    ...     amount: float | None
    >>> Events.column_names(), Events.typehints()["amount"]
    (['user', 'amount'], float | None)
    """

    @classmethod
    def columns(cls) -> dict[str, ColumnSchema]:
        return dict(cls.__columns__)

    @classmethod
    def column_names(cls) -> list[str]:
        return list(cls.__columns__)

    @classmethod
    def typehints(cls) -> dict[str, Any]:
        return {name: c.dtype.typehint() for name, c in cls.__columns__.items()}

    @classmethod
    def dtypes(cls) -> dict[str, dt.DType]:
        return {name: c.dtype for name, c in cls.__columns__.items()}

    @classmethod
    def primary_key_columns(cls) -> list[str] | None:
        keys = [name for name, c in cls.__columns__.items() if c.primary_key]
        return keys or None

    @classmethod
    def default_values(cls) -> dict[str, Any]:
        return {n: c.default_value for n, c in cls.__columns__.items() if c.has_default}

    @classmethod
    def with_types(cls, **types: Any) -> type[Schema]:
        """A copy of this schema with some column types replaced."""
        columns = dict(cls.__columns__)
        for name, annotation in types.items():
            if name not in columns:
                raise ValueError(f"schema has no column {name!r}")
            old = columns[name]
            columns[name] = ColumnSchema(name, dt.wrap(annotation), old.primary_key,
                                         old.default_value)
        return _schema_from_columns(columns, cls.__name__)

    @classmethod
    def without(cls, *names: str) -> type[Schema]:
        """A copy of this schema without some columns."""
        return _schema_from_columns(
            {n: c for n, c in cls.__columns__.items() if n not in names}, cls.__name__
        )

    @classmethod
    def update_types(cls, **types: Any) -> type[Schema]:
        return cls.with_types(**types)


def _schema_from_columns(columns: dict[str, ColumnSchema], name: str) -> type[Schema]:
    schema: type[Schema] = SchemaMetaclass(name, (Schema,), {})  # type: ignore[assignment]
    schema.__columns__ = dict(columns)
    return schema


def schema_from_types(_name: str | None = None, **types: Any) -> type[Schema]:
    """A schema from column names and Python types.

    >>> import reflow as pw
    >>> pw.schema_from_types(a=int, b=str).column_names()
    ['a', 'b']
    """
    columns = {n: ColumnSchema(n, dt.wrap(t)) for n, t in types.items()}
    return _schema_from_columns(columns, _name or "Schema")


def schema_from_dtypes(types: dict[str, dt.DType], name: str = "Schema") -> type[Schema]:
    return _schema_from_columns({n: ColumnSchema(n, t) for n, t in types.items()}, name)


def schema_builder(
    columns: dict[str, ColumnDefinition], *, name: str | None = None, properties: Any = None
) -> type[Schema]:
    """A schema from a dict of ``column_definition``\\ s.

    >>> import reflow as pw
    >>> s = pw.schema_builder({"k": pw.column_definition(dtype=int, primary_key=True)})
    >>> s.primary_key_columns()
    ['k']
    """
    out = {}
    for column_name, definition in columns.items():
        dtype = dt.wrap(definition.dtype) if definition.dtype is not None else dt.ANY
        real_name = definition.name or column_name
        out[real_name] = ColumnSchema(
            real_name, dtype, definition.primary_key, definition.default_value
        )
    return _schema_from_columns(out, name or "Schema")


def schema_from_pandas(frame: Any, *, id_from: list[str] | None = None,
                       name: str | None = None) -> type[Schema]:
    """A schema whose column types are inferred from a pandas DataFrame."""
    from reflow.plan.inference import infer_column_dtype

    columns = {}
    for column in frame.columns:
        dtype = infer_column_dtype(list(frame[column]))
        columns[column] = ColumnSchema(column, dtype, bool(id_from and column in id_from))
    return _schema_from_columns(columns, name or "Schema")
