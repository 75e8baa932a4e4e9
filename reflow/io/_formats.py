"""Parsing the bytes of one input file into typed rows, reporting bad rows by line.

Each parser returns a ``Parsed``: the typed rows (schema columns plus ``_row``, the row's
position in the file, which gives rows without a primary key a stable id) and the problems
found, each naming the line and the reason. CSV goes through Polars' reader in one call; only
a file that Polars rejects (ragged rows, invalid UTF-8) is parsed line by line.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import polars as pl

from reflow.engine.lazy_modules import imported_on_use
from reflow.io._values import BadValue, cast_text_columns, coerce
from reflow.plan import dtypes as dt
from reflow.runtime.batches import column_series

if TYPE_CHECKING:
    import numpy as np
else:
    np = imported_on_use("numpy", globals(), "np")

ROW = "_row"

# Cells are limited by memory, not by the csv module's default 128 KiB.
csv.field_size_limit(2**31 - 1)


@dataclass(frozen=True)
class CsvParserSettings:
    """How CSV text is split into cells.

    >>> import reflow as pw
    >>> pw.io.csv.CsvParserSettings(delimiter=";").delimiter
    ';'
    """

    delimiter: str = ","
    quote: str = '"'
    escape: str | None = None
    enable_double_quote_escapes: bool = True
    enable_quoting: bool = True
    comment_character: str | None = None


@dataclass
class Parsed:
    frame: pl.DataFrame
    errors: list[str] = field(default_factory=list)


class HeaderMismatch(ValueError):
    """A CSV header lacks columns of the schema."""


def _with_rows(frame: pl.DataFrame, rows: pl.Series | list[int]) -> pl.DataFrame:
    return frame.with_columns(pl.Series(ROW, rows, dtype=pl.Int64))


def empty_rows(dtypes: dict[str, dt.DType]) -> pl.DataFrame:
    return pl.DataFrame(
        [column_series(n, [], d) for n, d in dtypes.items()]
        + [pl.Series(ROW, [], dtype=pl.Int64)]
    )


# --- CSV ----------------------------------------------------------------------------------------
_BOM = b"\xef\xbb\xbf"


def strip_bom(data: bytes) -> bytes:
    """``data`` without a leading UTF-8 byte order mark."""
    return data[len(_BOM):] if data.startswith(_BOM) else data


def csv_header(data: bytes, settings: CsvParserSettings, path: str = "") -> list[str]:
    """The column names in the first line of a CSV file (without its byte order mark)."""
    end = data.find(b"\n")  # the first line only: ``split`` would copy the rest of the file
    first = (data if end < 0 else data[:end]).rstrip(b"\r").decode("utf-8", errors="replace")
    reader = csv.reader([first], delimiter=settings.delimiter, quotechar=settings.quote)
    try:
        return [name.strip() for name in next(reader, [])]
    except csv.Error as exc:
        raise HeaderMismatch(f"{path}: the CSV header cannot be read ({exc})") from None


def check_csv_header(
    header: list[str], dtypes: dict[str, dt.DType], defaults: dict, path: str
) -> None:
    missing = [n for n in dtypes if n not in header and n not in defaults]
    if missing:
        raise HeaderMismatch(
            f"{path}: the CSV header {header} lacks the schema column(s) "
            f"{', '.join(map(repr, missing))}"
        )
    twice = sorted({n for n in header if n in dtypes and header.count(n) > 1})
    if twice:
        raise HeaderMismatch(
            f"{path}: the CSV header {header} names the schema column(s) "
            f"{', '.join(map(repr, twice))} more than once"
        )


def _unique_names(header: list[str]) -> list[str]:
    """``header`` with repeated names (of columns outside the schema) made distinct."""
    seen: dict[str, int] = {}
    out = []
    for name in header:
        count = seen.get(name, 0)
        seen[name] = count + 1
        out.append(name if count == 0 else f"{name}\x00{count}")
    return out


def parse_csv(
    data: bytes, path: str, dtypes: dict[str, dt.DType], defaults: dict,
    settings: CsvParserSettings,
) -> Parsed:
    data = strip_bom(data)
    if not data or data.isspace():  # (``data.strip()`` would copy the whole file)
        return Parsed(empty_rows(dtypes))
    header = csv_header(data, settings, path)
    check_csv_header(header, dtypes, defaults, path)
    header = _unique_names(header)
    raw = None
    if settings.comment_character is None and settings.escape is None:
        try:
            raw = pl.read_csv(
                io.BytesIO(data),
                infer_schema=False,
                separator=settings.delimiter,
                quote_char=settings.quote if settings.enable_quoting else None,
                has_header=True,
                new_columns=None,
            )
        except pl.exceptions.PolarsError:
            raw = None
        if raw is not None and raw.width != len(header):
            raw = None
        # Polars fills short rows with nulls; a null in the last column may be a short row.
        if raw is not None and raw.height and raw[raw.columns[-1]].null_count():
            raw = None
        # A quote can make Polars read several lines as one cell (or swallow the rest of the
        # file), and rows are numbered by line below: with quotes, the fast path is kept only
        # when it gave one row per non-blank line.
        if raw is not None and settings.quote.encode() in data:
            line_count = data.count(b"\n") + (not data.endswith(b"\n"))
            # Blank lines and multi-line cells both give fewer rows than lines: count the
            # non-empty lines only then.
            if raw.height != line_count - 1 and raw.height != _non_empty_lines(data) - 1:
                raw = None
    if raw is not None:
        raw = raw.rename({old: new for old, new in zip(raw.columns, header) if old != new})
        lines = None
    else:
        raw, lines, errors = _csv_rows_slowly(data, path, header, settings)
        if errors:
            parsed = _typed_csv(raw, lines, path, dtypes, defaults)
            parsed.errors = sorted(errors + parsed.errors, key=_line_of)
            return parsed
    return _typed_csv(raw, lines, path, dtypes, defaults)


def _non_empty_lines(data: bytes) -> int:
    """How many lines of ``data`` hold more than a line end (counted with numpy)."""
    if not data:
        return 0
    codes = np.frombuffer(data, dtype=np.uint8)
    ends = np.flatnonzero(codes == 10)
    starts = np.concatenate([np.zeros(1, dtype=np.int64), ends[:-1] + 1])
    lengths = ends - starts
    empty = (lengths == 0) | ((lengths == 1) & (codes[np.minimum(starts, len(codes) - 1)] == 13))
    tail = data[ends[-1] + 1:] if ends.size else data
    return int(ends.size - empty.sum()) + (1 if tail.strip(b"\r") else 0)


def _line_of(message: str) -> int:
    found = re.search(r", line (\d+): ", message)
    return int(found.group(1)) if found else 0


def _csv_rows_slowly(
    data: bytes, path: str, header: list[str], settings: CsvParserSettings
) -> tuple[pl.DataFrame, list[int], list[str]]:
    """Parse record by record (a quoted cell may span lines), keeping the good rows and
    describing the bad ones by the line where they start."""
    errors: list[str] = []
    # Undecodable bytes are kept as lone surrogates, so that one bad byte spoils one record.
    text = data.decode("utf-8", errors="surrogateescape")
    reader = csv.reader(
        io.StringIO(text, newline=""),
        delimiter=settings.delimiter,
        quotechar=settings.quote,
        escapechar=settings.escape,
        doublequote=settings.enable_double_quote_escapes,
        quoting=csv.QUOTE_MINIMAL if settings.enable_quoting else csv.QUOTE_NONE,
        strict=False,
    )
    cells: list[list[str | None]] = [[] for _ in header]
    kept: list[int] = []
    line = 0  # the last line read so far
    try:
        for row in reader:
            number, line = line + 1, reader.line_num
            if number == 1 or not row or (len(row) == 1 and not row[0].strip()):
                continue  # the header, or a blank line
            first = row[0]
            if settings.comment_character and first.startswith(settings.comment_character):
                continue
            bad = _undecodable(row)
            if bad is not None:
                errors.append(f"{path}, line {number}: invalid UTF-8 ({bad})")
                continue
            if len(row) != len(header):
                errors.append(
                    f"{path}, line {number}: expected {len(header)} fields, found {len(row)}"
                )
                continue
            for column, value in zip(cells, row):
                column.append(value if value != "" else None)
            kept.append(number)
    except csv.Error as exc:
        errors.append(f"{path}, line {line + 1}: {exc}; the rest of the file is skipped")
    raw = pl.DataFrame(
        [pl.Series(name, column, dtype=pl.String) for name, column in zip(header, cells)]
    )
    return raw, kept, errors


def _undecodable(row: list[str]) -> str | None:
    for cell in row:
        try:
            cell.encode("utf-8")
        except UnicodeEncodeError:
            return "invalid start byte or sequence"
    return None


def _typed_csv(
    raw: pl.DataFrame, lines: list[int] | None, path: str, dtypes: dict[str, dt.DType],
    defaults: dict,
) -> Parsed:
    present = {n: d for n, d in dtypes.items() if n in raw.columns}
    typed, bad, reasons = cast_text_columns(raw.select(list(present)), present)
    line_numbers = (
        pl.Series(ROW, lines, dtype=pl.Int64) if lines is not None
        else pl.int_range(2, raw.height + 2, eager=True).cast(pl.Int64).alias(ROW)
    )
    errors = []
    if bad is not None:
        bad_lines = line_numbers.filter(bad).to_list()
        errors = [f"{path}, line {n}: {r}" for n, r in zip(bad_lines, reasons)]
        typed = typed.filter(~bad)
        line_numbers = line_numbers.filter(~bad)
    for name, dtype in dtypes.items():
        if name not in present:
            typed = typed.with_columns(
                column_series(name, [defaults[name]] * typed.height, dtype)
            )
    typed = typed.select(list(dtypes))
    return Parsed(_with_rows(typed, line_numbers), errors)


# --- JSON lines ---------------------------------------------------------------------------------
def parse_jsonlines(
    data: bytes, path: str, dtypes: dict[str, dt.DType], defaults: dict,
    field_paths: dict[str, str] | None = None,
) -> Parsed:
    columns: dict[str, list] = {n: [] for n in dtypes}
    rows: list[int] = []
    errors: list[str] = []
    for number, raw_line in enumerate(data.split(b"\n"), start=1):
        if not raw_line.strip():
            continue
        try:
            document = json.loads(raw_line.decode("utf-8"))
        except UnicodeDecodeError as exc:
            errors.append(f"{path}, line {number}: invalid UTF-8 ({exc.reason})")
            continue
        except ValueError as exc:
            errors.append(f"{path}, line {number}: invalid JSON ({exc})")
            continue
        except RecursionError:
            errors.append(f"{path}, line {number}: invalid JSON (nested too deeply)")
            continue
        if not isinstance(document, dict):
            errors.append(f"{path}, line {number}: expected a JSON object, got {document!r}")
            continue
        try:
            values = row_from_mapping(document, dtypes, defaults, field_paths)
        except BadValue as exc:
            errors.append(f"{path}, line {number}: {exc}")
            continue
        for name, value in values.items():
            columns[name].append(value)
        rows.append(number)
    frame = pl.DataFrame([column_series(n, columns[n], d) for n, d in dtypes.items()])
    return Parsed(_with_rows(frame, rows), errors)


_MISSING = object()


def row_from_mapping(
    document: dict, dtypes: dict[str, dt.DType], defaults: dict,
    field_paths: dict[str, str] | None = None,
) -> dict:
    """The typed values of one row given as a mapping (a JSON object, ``next(**kwargs)``)."""
    out = {}
    exact = _exact_types(dtypes)
    for name, dtype in dtypes.items():
        if field_paths and name in field_paths:
            value = _pointer_lookup(document, field_paths[name])
        else:
            value = document.get(name, _MISSING)
            # A value already of the column's own Python type is stored as it is (ints still
            # checked against the 64-bit range): the general conversion costs ~1 µs a cell.
            kind = type(value)
            if kind is exact[name] and (
                kind is not int or _INT64_MIN <= value <= _INT64_MAX
            ):
                out[name] = value
                continue
        if value is _MISSING:
            if name in defaults:
                value = defaults[name]
            elif dtype.is_optional:
                value = None
            else:
                raise BadValue(f"column {name!r}: missing")
        out[name] = coerce(value, dtype, name)
    return out


_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1
_EXACT: dict[int, tuple[dict[str, dt.DType], dict[str, type | None]]] = {}


def _exact_types(dtypes: dict[str, dt.DType]) -> dict[str, type | None]:
    """Per column, the Python type whose values ``coerce`` returns unchanged (int, float,
    str, bool for the non-optional simple types; ``None`` otherwise), cached per ``dtypes``."""
    entry = _EXACT.get(id(dtypes))
    if entry is not None and entry[0] is dtypes:
        return entry[1]
    simple: dict[dt.DType, type] = {dt.INT: int, dt.FLOAT: float, dt.STR: str, dt.BOOL: bool}
    exact = {name: simple.get(dtype) for name, dtype in dtypes.items()}
    if len(_EXACT) > 1024:
        _EXACT.clear()
    _EXACT[id(dtypes)] = (dtypes, exact)
    return exact


def _pointer_lookup(document: object, path: str) -> object:
    current = document
    for part in path.strip("/").split("/"):
        if isinstance(current, dict) and part in current:
            current = current[part]
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            return _MISSING
    return current


# --- plain text and binary ----------------------------------------------------------------------
# Unicode's White_Space characters (Python's ``str.strip()`` also drops \x1c-\x1f).
LINE_WHITESPACE = (
    "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007"
    "\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)


def parse_plaintext(data: bytes, path: str) -> Parsed:
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    texts: list[str] = []
    rows: list[int] = []
    errors: list[str] = []
    try:
        decoded = data.decode("utf-8")
    except UnicodeDecodeError:
        decoded = None
    if decoded is not None:
        # As in Pathway, whitespace around each line is not part of it.
        texts = decoded.split("\n")
        if texts and texts[-1] == "":
            texts.pop()
        texts = [line.strip(LINE_WHITESPACE) for line in texts]
        rows = list(range(1, len(texts) + 1))
    else:
        for number, line in enumerate(lines, start=1):
            try:
                texts.append(line.decode("utf-8").strip(LINE_WHITESPACE))
                rows.append(number)
            except UnicodeDecodeError as exc:
                errors.append(f"{path}, line {number}: invalid UTF-8 ({exc.reason})")
    frame = pl.DataFrame([pl.Series("data", texts, dtype=pl.String)])
    return Parsed(_with_rows(frame, rows), errors)


def parse_whole_text(data: bytes, path: str) -> Parsed:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return Parsed(_with_rows(pl.DataFrame({"data": pl.Series([], dtype=pl.String)}), []),
                      [f"{path}: invalid UTF-8 at byte {exc.start} ({exc.reason})"])
    # As in Pathway, whitespace around the text (the final line break) is not part of it.
    text = text.strip()
    return Parsed(_with_rows(pl.DataFrame({"data": [text]}), [0]))


def parse_binary(data: bytes, path: str) -> Parsed:
    return Parsed(_with_rows(pl.DataFrame({"data": pl.Series([data], dtype=pl.Binary)}), [0]))
