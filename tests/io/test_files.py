"""File sources (csv, jsonlines, plaintext, fs) in static and streaming mode."""

from __future__ import annotations

import json

import pytest

import reflow as pw
from tests.io.live import Collector, run_while, write_atomic
from tests.utils import rows


class Item(pw.Schema):
    name: str
    qty: int


class KeyedItem(pw.Schema):
    name: str = pw.column_definition(primary_key=True)
    qty: int


# --- static ---------------------------------------------------------------------------------------
def test_csv_static_reads_a_directory_with_types(tmp_path):
    (tmp_path / "a.csv").write_text("name,qty\napple,3\npear,5\n")
    (tmp_path / "b.csv").write_text("qty,name,extra\n7,plum,x\n")
    t = pw.io.csv.read(tmp_path, schema=Item, mode="static")
    assert rows(t) == [("apple", 3), ("pear", 5), ("plum", 7)]


def test_csv_static_glob_settings_and_defaults(tmp_path):
    (tmp_path / "a.csv").write_text("name;note\n'x;y';1\nz;2\n")
    (tmp_path / "skip.txt").write_text("name;note\nno;0\n")

    class S(pw.Schema):
        name: str
        qty: int = 9

    settings = pw.io.csv.CsvParserSettings(delimiter=";", quote="'")
    t = pw.io.csv.read(str(tmp_path / "*.csv"), schema=S, csv_settings=settings, mode="static")
    assert rows(t) == [("x;y", 9), ("z", 9)]


def test_csv_optional_and_float_and_bool_columns(tmp_path):
    (tmp_path / "a.csv").write_text("a,b,c\n1.5,true,\n2,False,4\n")

    class S(pw.Schema):
        a: float
        b: bool
        c: int | None

    t = pw.io.csv.read(tmp_path / "a.csv", schema=S, mode="static")
    assert rows(t) == [(1.5, True, None), (2.0, False, 4)]


def test_static_primary_key_keeps_last_row_per_key(tmp_path):
    (tmp_path / "a.csv").write_text("name,qty\napple,1\npear,2\napple,3\n")
    t = pw.io.csv.read(tmp_path / "a.csv", schema=KeyedItem, mode="static")
    state = pw.debug.table_to_dicts(t)[1]["qty"]
    assert state == {pw.pointer_from("apple"): 3, pw.pointer_from("pear"): 2}


def test_jsonlines_static_with_field_paths(tmp_path):
    (tmp_path / "a.jsonl").write_text(
        '{"user": {"name": "ann"}, "n": 1}\n\n{"user": {"name": "bob"}, "n": 2}\n'
    )

    class S(pw.Schema):
        name: str
        n: int

    t = pw.io.jsonlines.read(
        tmp_path, schema=S, mode="static", json_field_paths={"name": "/user/name"}
    )
    assert rows(t) == [("ann", 1), ("bob", 2)]


def test_jsonlines_json_column(tmp_path):
    (tmp_path / "a.jsonl").write_text('{"k": 1, "payload": {"a": [1, 2]}}\n')

    class S(pw.Schema):
        k: int
        payload: pw.Json

    t = pw.io.jsonlines.read(tmp_path, schema=S, mode="static")
    assert rows(t) == [(1, pw.Json({"a": [1, 2]}))]


def test_plaintext_and_whole_file_formats(tmp_path):
    (tmp_path / "a.txt").write_text("one\ntwo\r\n")
    (tmp_path / "b.txt").write_text("three")
    (tmp_path / "c.txt").write_text("  four \n\n")
    lines = pw.io.plaintext.read(tmp_path, mode="static")
    # whitespace around each line is dropped, as in Pathway
    assert rows(lines) == [("",), ("four",), ("one",), ("three",), ("two",)]
    files = pw.io.fs.read(tmp_path, format="plaintext_by_file", mode="static")
    # whitespace around a file's text is dropped, as in Pathway
    assert rows(files) == [("four",), ("one\ntwo",), ("three",)]
    only_a = pw.io.fs.read(tmp_path, format="plaintext", mode="static", object_pattern="a.*")
    assert rows(only_a) == [("one",), ("two",)]
    binary = pw.io.fs.read(tmp_path / "b.txt", format="binary", mode="static")
    assert rows(binary) == [(b"three",)]


def test_with_metadata(tmp_path):
    (tmp_path / "a.txt").write_text("x\n")
    t = pw.io.fs.read(tmp_path, format="plaintext", mode="static", with_metadata=True)
    ((data, meta),) = rows(t)
    assert data == "x"
    assert meta.value["path"] == str(tmp_path / "a.txt")
    assert meta.value["size"] == 2


def test_ids_are_stable_per_file_and_position(tmp_path):
    (tmp_path / "a.csv").write_text("name,qty\napple,3\n")
    first = set(pw.debug.table_to_dicts(pw.io.csv.read(tmp_path, schema=Item, mode="static"))[0])
    second = set(pw.debug.table_to_dicts(pw.io.csv.read(tmp_path, schema=Item, mode="static"))[0])
    assert first == second


# --- streaming ------------------------------------------------------------------------------------
def test_csv_streaming_new_modified_and_deleted_files(tmp_path):
    write_atomic(tmp_path / "a.csv", "name,qty\napple,1\npear,2\n")
    t = pw.io.csv.read(tmp_path, schema=Item, mode="streaming", autocommit_duration_ms=10)
    out = Collector(t)

    def driver():
        out.wait_rows([("apple", 1), ("pear", 2)])
        write_atomic(tmp_path / "b.csv", "name,qty\nplum,7\n")
        out.wait_rows([("apple", 1), ("pear", 2), ("plum", 7)])
        write_atomic(tmp_path / "a.csv", "name,qty\napple,1\npear,20\nfig,4\n")
        out.wait_rows([("apple", 1), ("pear", 20), ("fig", 4), ("plum", 7)])
        (tmp_path / "b.csv").unlink()
        out.wait_rows([("apple", 1), ("pear", 20), ("fig", 4)])

    run_while(driver)
    assert out.ended
    changes = [(u[0], u[1], u[3]) for u in out.updates]
    # The modification retracts exactly the changed row; the unchanged one stays.
    assert ("apple", 1, -1) not in changes
    assert ("pear", 2, -1) in changes and ("plum", 7, -1) in changes


def test_streaming_primary_key_upserts_across_files(tmp_path):
    write_atomic(tmp_path / "a.csv", "name,qty\napple,1\npear,2\n")
    t = pw.io.csv.read(tmp_path, schema=KeyedItem, mode="streaming", autocommit_duration_ms=10)
    out = Collector(t)

    def driver():
        out.wait_rows([("apple", 1), ("pear", 2)])
        write_atomic(tmp_path / "b.csv", "name,qty\napple,10\n")
        out.wait_rows([("apple", 10), ("pear", 2)])
        # A modified file's rows are the newest data for their keys; pear is gone from it.
        write_atomic(tmp_path / "a.csv", "name,qty\napple,1\n")
        out.wait_rows([("apple", 1)])
        # b no longer owns any key, so deleting it changes nothing; deleting a empties.
        (tmp_path / "b.csv").unlink()
        (tmp_path / "a.csv").unlink()
        out.wait_rows([])

    run_while(driver)
    apple_changes = [(u[1], u[3]) for u in out.updates if u[0] == "apple"]
    assert apple_changes == [(1, 1), (1, -1), (10, 1), (10, -1), (1, 1), (1, -1)]
    assert set(out.state) == set()


def test_jsonlines_streaming_appended_lines(tmp_path):
    path = tmp_path / "events.jsonl"
    write_atomic(path, '{"name": "a", "qty": 1}\n')
    t = pw.io.jsonlines.read(path, schema=Item, mode="streaming", autocommit_duration_ms=10)
    out = Collector(t)

    def driver():
        out.wait_rows([("a", 1)])
        write_atomic(path, '{"name": "a", "qty": 1}\n{"name": "b", "qty": 2}\n')
        out.wait_rows([("a", 1), ("b", 2)])

    run_while(driver)
    assert [u for u in out.updates if u[-1] < 0] == []


def test_plaintext_streaming(tmp_path):
    t = pw.io.plaintext.read(tmp_path, mode="streaming", autocommit_duration_ms=10)
    out = Collector(t)

    def driver():
        out.wait_for(lambda c: bool(c.times_ended) or True)
        write_atomic(tmp_path / "a.txt", "hello\n")
        out.wait_rows([("hello",)])
        write_atomic(tmp_path / "a.txt", "bye\n")
        out.wait_rows([("bye",)])

    run_while(driver)


def test_fs_binary_streaming(tmp_path):
    t = pw.io.fs.read(tmp_path, format="binary", mode="streaming", autocommit_duration_ms=10)
    out = Collector(t)

    def driver():
        write_atomic(tmp_path / "blob", b"\x00\xff")
        out.wait_rows([(b"\x00\xff",)])

    run_while(driver)


def test_static_mode_rejects_unknown_mode_and_format(tmp_path):
    with pytest.raises(ValueError, match="mode"):
        pw.io.csv.read(tmp_path, schema=Item, mode="sometimes")
    with pytest.raises(ValueError, match="format"):
        pw.io.fs.read(tmp_path, format="xml")


def test_csv_read_needs_a_schema(tmp_path):
    with pytest.raises(ValueError, match="schema"):
        pw.io.csv.read(tmp_path, mode="static")


def test_output_jsonlines_roundtrip(tmp_path):
    (tmp_path / "in.csv").write_text("name,qty\napple,3\n")
    t = pw.io.csv.read(tmp_path / "in.csv", schema=Item, mode="static")
    pw.io.jsonlines.write(t, tmp_path / "out.jsonl")
    pw.run(monitoring_level=pw.MonitoringLevel.NONE)
    (line,) = (tmp_path / "out.jsonl").read_text().splitlines()
    document = json.loads(line)
    assert document["name"] == "apple" and document["qty"] == 3 and document["diff"] == 1
