"""Message payloads to column values: ``json``, ``csv``/``dsv``, ``plaintext`` and ``raw``.

A decoder takes one message's bytes and returns a mapping of column values (typed against
the schema later, by ``row_from_mapping``) or raises ``BadValue`` with the reason.

>>> from reflow.plan import dtypes as dt
>>> decode = message_decoder("json", {"a": dt.INT})
>>> decode(b'{"a": 1}')
{'a': 1}
>>> message_decoder("csv", {"a": dt.INT, "b": dt.STR})(b"1,x")
{'a': 1, 'b': 'x'}
>>> message_decoder("plaintext", {"data": dt.STR})(b"hi")
{'data': 'hi'}
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Mapping
from typing import Any

import polars as pl

from reflow.io._common import ConnectorError
from reflow.io._values import BadValue, cast_text_columns
from reflow.plan import dtypes as dt

_loads: Callable[[bytes], Any]
try:  # several times faster than the standard library on small messages
    from orjson import loads as _loads
except ImportError:  # pragma: no cover - orjson comes with reflow's kafka extra
    _loads = json.loads

Decoder = Callable[[bytes | None], Mapping[str, Any]]

FORMATS = ("json", "csv", "dsv", "plaintext", "raw")


def message_decoder(
    format: str, dtypes: dict[str, dt.DType], *, delimiter: str = ","
) -> Decoder:
    """The decoder for ``format`` over the columns ``dtypes``."""
    if format == "json":
        return _json
    if format in ("csv", "dsv"):
        names = [n for n in dtypes if not n.startswith("_metadata")]
        return lambda value: _delimited(value, names, dtypes, delimiter)
    if format == "plaintext":
        return _plaintext
    if format in ("raw", "binary"):
        return lambda value: {"data": value}
    raise ConnectorError(f"unknown format {format!r}; expected one of {', '.join(FORMATS)}")


def _text(value: bytes | None) -> str:
    if value is None:
        raise BadValue("the message has no value")
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadValue(f"invalid UTF-8 at byte {exc.start} ({exc.reason})") from None


def _json(value: bytes | None) -> Mapping[str, Any]:
    if value is None:
        raise BadValue("the message has no value")
    try:
        document = _loads(value)
    except ValueError:
        text = _text(value)  # names an invalid UTF-8 byte
        try:
            document = json.loads(text)
        except ValueError as exc:
            raise BadValue(f"invalid JSON ({exc})") from None
    if not isinstance(document, dict):
        raise BadValue(f"expected a JSON object, got {_text(value)[:80]!r}")
    return document


def _plaintext(value: bytes | None) -> Mapping[str, Any]:
    return {"data": _text(value)}


def _delimited(
    value: bytes | None, names: list[str], dtypes: dict[str, dt.DType], delimiter: str
) -> Mapping[str, Any]:
    cells = next(csv.reader([_text(value)], delimiter=delimiter), [])
    if len(cells) != len(names):
        raise BadValue(f"expected {len(names)} fields, found {len(cells)}")
    raw = pl.DataFrame(
        [pl.Series(n, [c if c != "" else None], dtype=pl.String) for n, c in zip(names, cells)]
    )
    typed, bad, reasons = cast_text_columns(raw, {n: dtypes[n] for n in names})
    if bad is not None and bad.any():
        raise BadValue(reasons[0])
    return typed.row(0, named=True)
