"""Property-based fuzzing of every reader: valid tables are written in each format, corrupted
at random (truncation, bad bytes, quotes, ragged rows, huge or deep values, byte order marks,
duplicate headers) and read back. Every record of the corrupted file must be delivered exactly
or reported with its file and line -- never dropped, altered or duplicated silently -- and the
reader must not crash.

The expected outcome comes from a small reference reader written here with Python's ``csv``
and ``json`` modules, independent of the Polars fast path the readers use.
"""

from __future__ import annotations

import csv
import io
import json
import re

from hypothesis import given
from hypothesis import strategies as st

import reflow as pw
from reflow.io._formats import (
    LINE_WHITESPACE,
    CsvParserSettings,
    parse_csv,
    parse_jsonlines,
    parse_plaintext,
)
from tests.io.live import Collector
from tests.reliability.fuzz_profiles import fuzz_settings

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


class Row(pw.Schema):
    k: int
    s: str


DTYPES = Row.dtypes()
PATH = "/data/input.file"

texts = st.text(alphabet=st.sampled_from(list("ab ,;\"'\n\té€x")), max_size=8)
ints = st.one_of(st.integers(-1000, 1000), st.integers(INT64_MIN, INT64_MAX))
tables = st.lists(st.tuples(ints, texts), min_size=0, max_size=8)


@st.composite
def corruptions(draw, size: int):
    """A list of edits of a file of ``size`` bytes: (kind, position, payload)."""
    kinds = st.sampled_from(
        ["truncate", "bad_byte", "quote", "ragged_extra", "ragged_short", "huge_int",
         "huge_text", "deep", "bom", "blank_line", "crlf"]
    )
    edits = draw(st.lists(st.tuples(kinds, st.integers(0, max(size, 1))), max_size=3))
    return edits


def _apply(data: bytes, edits, *, fmt: str) -> bytes:
    for kind, position in edits:
        position = min(position, len(data))
        lines = data.split(b"\n")
        line = min(data[:position].count(b"\n"), len(lines) - 1)
        if kind == "truncate":
            data = data[:position]
        elif kind == "bad_byte":
            data = data[:position] + b"\xff" + data[position:]
        elif kind == "quote":
            data = data[:position] + b'"' + data[position:]
        elif kind == "ragged_extra":
            lines[line] += b",extra" if fmt == "csv" else b', "x": 1'
            data = b"\n".join(lines)
        elif kind == "ragged_short":
            lines[line] = lines[line].split(b",")[0]
            data = b"\n".join(lines)
        elif kind == "huge_int":
            data = re.sub(rb"-?\d+", b"99999999999999999999", data, count=1)
        elif kind == "huge_text":
            data = data[:position] + b"y" * 100_000 + data[position:]
        elif kind == "deep":
            deep = b"[" * 5000 + b"]" * 5000
            data = data[:position] + deep + data[position:]
        elif kind == "bom":
            data = b"\xef\xbb\xbf" + data
        elif kind == "blank_line":
            data = data[:position] + b"\n\n" + data[position:]
        elif kind == "crlf":
            data = re.sub(rb"(?<!\r)\n", b"\r\n", data)  # Windows line ends, once
    return data


# --- the reference readers ------------------------------------------------------------------
def _int_cell(text: str | None) -> int | None:
    if text is None or not re.fullmatch(r"\s*[+-]?\d+\s*", text):
        return None
    value = int(text)
    return value if INT64_MIN <= value <= INT64_MAX else None


def reference_csv(data: bytes) -> tuple[list[tuple], set[int]] | None:
    """Rows and bad lines of a CSV file, or ``None`` when the whole file is rejected."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    if not data.strip():
        return [], set()
    text = data.decode("utf-8", errors="surrogateescape")
    reader = csv.reader(io.StringIO(text, newline=""), strict=False)
    records = []
    line = 0
    for record in reader:
        records.append((line + 1, record))
        line = reader.line_num
    header_line = data.split(b"\n", 1)[0].rstrip(b"\r").decode("utf-8", errors="replace")
    try:
        header = [h.strip() for h in next(csv.reader([header_line]), [])]
    except csv.Error:
        return None
    if "k" not in header or "s" not in header or header.count("k") > 1 or header.count("s") > 1:
        return None
    rows, bad = [], set()
    for number, record in records[1:]:
        if not record or (len(record) == 1 and not record[0].strip()):
            continue
        try:
            "".join(record).encode("utf-8")
        except UnicodeEncodeError:
            bad.add(number)
            continue
        if len(record) != len(header):
            bad.add(number)
            continue
        cells = dict(zip(header, record))
        k = _int_cell(cells["k"] if cells["k"] != "" else None)
        if k is None:
            bad.add(number)
            continue
        rows.append((k, cells["s"]))
    return rows, bad


def reference_jsonlines(data: bytes) -> tuple[list[tuple], set[int]]:
    rows, bad = [], set()
    for number, line in enumerate(data.split(b"\n"), start=1):
        if not line.strip():
            continue
        try:
            document = json.loads(line.decode("utf-8"))
        except (ValueError, RecursionError):
            bad.add(number)
            continue
        k = document.get("k") if isinstance(document, dict) else None
        s = document.get("s") if isinstance(document, dict) else None
        if (not isinstance(k, int) or isinstance(k, bool) or not INT64_MIN <= k <= INT64_MAX
                or not isinstance(s, str)):
            bad.add(number)
            continue
        rows.append((k, s))
    return rows, bad


def reference_plaintext(data: bytes) -> tuple[list[tuple], set[int]]:
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    rows, bad = [], set()
    for number, line in enumerate(lines, start=1):
        try:
            # whitespace around a line is dropped, as in Pathway
            rows.append((line.decode("utf-8").strip(LINE_WHITESPACE),))
        except UnicodeDecodeError:
            bad.add(number)
    return rows, bad


# --- writers ---------------------------------------------------------------------------------
def write_csv(table, duplicate_extra: bool) -> bytes:
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\n")
    header = ["k", "s", "note", "note"] if duplicate_extra else ["k", "s"]
    writer.writerow(header)
    for k, s in table:
        writer.writerow([k, s, "n1", "n2"] if duplicate_extra else [k, s])
    return out.getvalue().encode()


def write_jsonlines(table) -> bytes:
    return "".join(json.dumps({"k": k, "s": s}) + "\n" for k, s in table).encode()


def write_plaintext(table) -> bytes:
    return "".join(s.replace("\n", " ") + "\n" for _, s in table).encode()


# --- checks ----------------------------------------------------------------------------------
def _lines(errors: list[str]) -> set[int]:
    found = set()
    for message in errors:
        match = re.match(re.escape(PATH) + r", line (\d+): ", message)
        assert match, f"an error without file and line: {message[:200]!r}"
        found.add(int(match.group(1)))
    return found


def _delivered(parsed, columns) -> list[tuple]:
    frame = parsed.frame
    return sorted(zip(*(frame[c].to_list() for c in columns)), key=repr)


@fuzz_settings()
@given(tables, st.booleans(), st.data())
def test_csv_reader(table, duplicate_extra, data):
    original = write_csv(table, duplicate_extra)
    corrupted = _apply(original, data.draw(corruptions(len(original))), fmt="csv")
    expected = reference_csv(corrupted)
    try:
        parsed = parse_csv(corrupted, PATH, DTYPES, {}, CsvParserSettings())
    except ValueError as exc:  # the whole file is rejected, with a clear reason
        assert expected is None, f"file rejected: {exc}"
        assert PATH in str(exc)
        return
    assert expected is not None, "a file without the schema's header was read"
    rows, bad = expected
    assert _delivered(parsed, ["k", "s"]) == sorted(rows, key=repr)
    assert _lines(parsed.errors) == bad


@fuzz_settings()
@given(tables, st.data())
def test_jsonlines_reader(table, data):
    original = write_jsonlines(table)
    corrupted = _apply(original, data.draw(corruptions(len(original))), fmt="json")
    parsed = parse_jsonlines(corrupted, PATH, DTYPES, {})
    rows, bad = reference_jsonlines(corrupted)
    assert _delivered(parsed, ["k", "s"]) == sorted(rows, key=repr)
    assert _lines(parsed.errors) == bad


@fuzz_settings()
@given(tables, st.data())
def test_plaintext_reader(table, data):
    original = write_plaintext(table)
    corrupted = _apply(original, data.draw(corruptions(len(original))), fmt="plaintext")
    parsed = parse_plaintext(corrupted, PATH)
    rows, bad = reference_plaintext(corrupted)
    assert _delivered(parsed, ["data"]) == sorted(rows, key=repr)
    assert _lines(parsed.errors) == bad


# --- the Python connector ----------------------------------------------------------------------
messages = st.one_of(
    st.tuples(st.just("next"), st.fixed_dictionaries({"k": ints, "s": texts})),
    st.tuples(st.just("next"), st.fixed_dictionaries(
        {"k": st.one_of(st.integers(2**63, 2**80), st.text(max_size=3), st.booleans(),
                        st.none(), st.floats(allow_nan=False)),
         "s": st.one_of(texts, st.integers())})),
    st.tuples(st.just("next_json"), st.fixed_dictionaries({"k": ints, "s": texts})),
    st.tuples(st.just("next_str"), st.one_of(
        st.builds(lambda k, s: json.dumps({"k": k, "s": s}), ints, texts),
        st.sampled_from(["not json", "[1]", '{"k": 1', "[" * 3000 + "]" * 3000, "null"]),
    )),
)


def _python_expected(kind, payload):
    if kind == "next_str":
        try:
            payload = json.loads(payload)
        except (ValueError, RecursionError):
            return None
        if not isinstance(payload, dict):
            return None
    k, s = payload.get("k"), payload.get("s")
    if (not isinstance(k, int) or isinstance(k, bool) or not INT64_MIN <= k <= INT64_MAX
            or not isinstance(s, str)):
        return None
    return (k, s)


@fuzz_settings(scale=0.25)
@given(st.lists(messages, max_size=12))
def test_python_connector(sent):
    from reflow.plan.nodes import forget_live_nodes
    from reflow.runtime.runner import clear_outputs

    clear_outputs()
    forget_live_nodes()

    class Subject(pw.io.python.ConnectorSubject):
        def run(self):
            for kind, payload in sent:
                if kind == "next":
                    self.next(**payload)
                else:
                    getattr(self, kind)(payload)

    table = pw.io.python.read(Subject(), schema=Row)
    log = pw.global_error_log().select(pw.this.message)
    rows, errors = Collector(table), Collector(log)
    pw.run(monitoring_level=pw.MonitoringLevel.NONE, terminate_on_error=False)
    expected = [_python_expected(kind, payload) for kind, payload in sent]
    assert sorted(rows.rows(), key=repr) == sorted(
        (e for e in expected if e is not None), key=repr
    )
    assert len(errors.rows()) == sum(e is None for e in expected)
