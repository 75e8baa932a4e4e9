"""Schemas from a dict or a CSV header, and checking a table against a schema."""

from __future__ import annotations

import csv
from typing import Any

from reflow.api.schema import (
    _NO_DEFAULT,
    ColumnDefinition,
    ColumnSchema,
    Schema,
    _schema_from_columns,
)
from reflow.plan import dtypes as dt


def schema_from_dict(
    columns: dict, *, name: str | None = None, properties: Any = None
) -> type[Schema]:
    """A schema from ``{column: type}``; a value may also be a dict with ``dtype``,
    ``primary_key`` and ``default_value`` (or a ``pw.column_definition``).

    >>> import reflow as pw
    >>> s = pw.schema_from_dict({"a": int, "b": {"dtype": str, "primary_key": True}})
    >>> s.typehints(), s.primary_key_columns()
    ({'a': <class 'int'>, 'b': <class 'str'>}, ['b'])
    """
    out: dict[str, ColumnSchema] = {}
    for column, spec in columns.items():
        if isinstance(spec, ColumnDefinition):
            spec = {
                "dtype": spec.dtype if spec.dtype is not None else Any,
                "primary_key": spec.primary_key,
                "default_value": spec.default_value,
            }
        if isinstance(spec, dict):
            unknown = set(spec) - {"dtype", "primary_key", "default_value"}
            if unknown:
                raise ValueError(
                    f"schema_from_dict: column {column!r} has unknown keys {sorted(unknown)}"
                )
            out[column] = ColumnSchema(
                column,
                dt.wrap(spec.get("dtype", Any)),
                bool(spec.get("primary_key", False)),
                spec.get("default_value", _NO_DEFAULT),
            )
        else:
            out[column] = ColumnSchema(column, dt.wrap(spec))
    return _schema_from_columns(out, name or "Schema")


def schema_from_csv(
    path: str,
    *,
    name: str | None = None,
    properties: Any = None,
    delimiter: str = ",",
    quote: str = '"',
    comment_character: str | None = None,
    escape: str | None = None,
    double_quote_escapes: bool = True,
    num_parsed_rows: int | None = None,
) -> type[Schema]:
    """A schema from a CSV file's header; column types are inferred from the first
    ``num_parsed_rows`` rows (all rows if ``None``): int, then float, else str.

    >>> import os, tempfile, reflow as pw
    >>> path = os.path.join(tempfile.mkdtemp(), "prices.csv")
    >>> _ = open(path, "w").write("sku,price,qty\\nA1,2.5,3\\n")
    >>> pw.schema_from_csv(path).typehints()
    {'sku': <class 'str'>, 'price': <class 'float'>, 'qty': <class 'int'>}
    """
    with open(path, newline="", encoding="utf-8") as file:
        lines = (
            line for line in file
            if comment_character is None or not line.startswith(comment_character)
        )
        reader = csv.reader(
            lines, delimiter=delimiter, quotechar=quote, escapechar=escape,
            doublequote=double_quote_escapes,
        )
        try:
            header = next(reader)
        except StopIteration:
            raise ValueError(f"{path}: the file is empty, so it has no header") from None
        samples: list[list[str]] = []
        for row in reader:
            if num_parsed_rows is not None and len(samples) >= num_parsed_rows:
                break
            samples.append(row)
    columns = {}
    for position, column in enumerate(header):
        values = [row[position] for row in samples if position < len(row)]
        columns[column] = ColumnSchema(column, _csv_type(values))
    return _schema_from_columns(columns, name or "Schema")


def _csv_type(values: list[str]) -> dt.DType:
    if not values:
        return dt.STR
    for dtype, parse in ((dt.INT, int), (dt.FLOAT, float)):
        try:
            for value in values:
                parse(value)
        except ValueError:
            continue
        return dtype
    return dt.STR


def assert_table_has_schema(
    table: Any,
    schema: type[Schema],
    *,
    allow_superset: bool = True,
    ignore_primary_keys: bool = True,
    allow_subtype: bool = True,
) -> None:
    """Raise ``AssertionError`` unless ``table`` has the columns and types of ``schema``.

    >>> import reflow as pw
    >>> t = pw.debug.table_from_markdown('''
    ... a | b
    ... 1 | x
    ... ''')
    >>> pw.assert_table_has_schema(t, pw.schema_from_dict({"a": int}))
    >>> pw.assert_table_has_schema(t, pw.schema_from_dict({"a": str}))
    Traceback (most recent call last):
    AssertionError: column 'a' is of type INT in the table, STR in the schema
    """
    have = table.schema.dtypes()
    want = schema.dtypes()
    missing = [name for name in want if name not in have]
    if missing:
        raise AssertionError(f"the table has no columns {missing}")
    extra = [name for name in have if name not in want]
    if extra and not allow_superset:
        raise AssertionError(f"the table has columns {extra} that are not in the schema")
    for name, wanted in want.items():
        found = have[name]
        fits = dt.is_subtype(found, wanted) if allow_subtype else found == wanted
        if not fits:
            raise AssertionError(
                f"column {name!r} is of type {found!r} in the table, {wanted!r} in the schema"
            )
    if not ignore_primary_keys:
        ours = table.schema.primary_key_columns()
        if ours != schema.primary_key_columns():
            raise AssertionError(
                f"primary keys differ: {ours} in the table, {schema.primary_key_columns()} "
                "in the schema"
            )
