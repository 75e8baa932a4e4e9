"""Parsing the text that PostgreSQL's ``test_decoding`` plugin gives for each change.

>>> parse_change("table public.t: INSERT: id[integer]:1 name[text]:'O''Neil' ok[boolean]:true")
('public.t', 'INSERT', {'id': 1, 'name': "O'Neil", 'ok': True}, None)
>>> parse_change("table public.t: UPDATE: old-key: id[integer]:1 new-tuple: id[integer]:2")
('public.t', 'UPDATE', {'id': 2}, {'id': 1})
>>> parse_change("table public.t: DELETE: id[integer]:2")
('public.t', 'DELETE', {'id': 2}, None)
"""

from __future__ import annotations

import datetime
import decimal
import json
import re
from typing import Any

from reflow.engine.values import Json
from reflow.io._values import BadValue

_HEADER = re.compile(
    r"^table (?P<table>.+?): (?P<kind>INSERT|UPDATE|DELETE|TRUNCATE): ?(?P<rest>.*)$", re.S
)
_FIELD = re.compile(
    r"""(?P<name>"(?:[^"]|"")*"|[^\s\[]+)\[(?P<type>[^\]]+)\]:"""
    r"""(?P<value>'(?:[^']|'')*'|\S+)""",
    re.S,
)

_INTS = {"smallint", "integer", "bigint", "oid"}
_FLOATS = {"real", "double precision", "numeric"}


def _unquote_name(name: str) -> str:
    return name[1:-1].replace('""', '"') if name.startswith('"') else name


def from_text(text: str, type_name: str) -> Any:
    """The Python value of ``text`` printed for a column of PostgreSQL type ``type_name``."""
    base = type_name.split("(")[0].strip()
    if base in _INTS:
        return int(text)
    if base in _FLOATS:
        return float(text)
    if base == "boolean":
        return text == "true"
    if base == "bytea":
        return bytes.fromhex(text[2:]) if text.startswith("\\x") else text.encode()
    if base in ("json", "jsonb"):
        return Json(json.loads(text))
    if base == "timestamp without time zone":
        return datetime.datetime.fromisoformat(text)
    if base == "timestamp with time zone":
        return datetime.datetime.fromisoformat(text)
    return text


def _fields(text: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for match in _FIELD.finditer(text):
        raw = match.group("value")
        if raw == "null":
            value = None
        elif raw == "unchanged-toast-datum":
            continue
        else:
            if raw.startswith("'"):
                raw = raw[1:-1].replace("''", "'")
            value = from_text(raw, match.group("type"))
        out[_unquote_name(match.group("name"))] = value
    return out


def parse_change(line: str) -> tuple[str, str, dict[str, Any], dict[str, Any] | None]:
    """``(table, kind, values, old_key)`` of one change line; ``BadValue`` if unreadable."""
    header = _HEADER.match(line)
    if header is None:
        raise BadValue(f"unreadable change {line[:120]!r}")
    table, kind, rest = header.group("table"), header.group("kind"), header.group("rest")
    old_key = None
    if kind == "UPDATE" and rest.startswith("old-key: "):
        old_text, _, rest = rest[len("old-key: "):].partition(" new-tuple: ")
        old_key = _fields(old_text)
    try:
        values = _fields(rest)
    except (ValueError, decimal.InvalidOperation) as exc:
        raise BadValue(f"unreadable value in {line[:120]!r}: {exc}") from None
    return table, kind, values, old_key


def qualified_names(schema: str, table: str) -> set[str]:
    """How ``test_decoding`` may print the table's name (quoted only where needed)."""

    def quote(name: str) -> set[str]:
        return {name, '"' + name.replace('"', '""') + '"'}

    return {f"{s}.{t}" for s in quote(schema) for t in quote(table)}
