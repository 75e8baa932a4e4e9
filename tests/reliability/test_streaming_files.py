"""Streaming file sources: primary keys across files (class 4) and files caught while being
written (class 5)."""

import os
import time

import reflow as pw
from tests.io.live import Collector, run_while, write_atomic


class Keyed(pw.Schema):
    key: int = pw.column_definition(primary_key=True)
    value: str


def test_a_key_comes_back_from_the_file_still_holding_it(tmp_path):
    write_atomic(tmp_path / "a.csv", "key,value\n1,from-a\n2,only-a\n")
    table = pw.io.csv.read(tmp_path, schema=Keyed, mode="streaming", autocommit_duration_ms=10)
    data = Collector(table)

    def driver():
        data.wait_rows([(1, "from-a"), (2, "only-a")])
        write_atomic(tmp_path / "b.csv", "key,value\n1,from-b\n3,only-b\n")
        data.wait_rows([(1, "from-b"), (2, "only-a"), (3, "only-b")])
        os.remove(tmp_path / "b.csv")
        data.wait_rows([(1, "from-a"), (2, "only-a")])
        write_atomic(tmp_path / "b.csv", "key,value\n1,from-b\n")
        data.wait_rows([(1, "from-b"), (2, "only-a")])
        write_atomic(tmp_path / "b.csv", "key,value\n4,other\n")  # b gives key 1 up
        data.wait_rows([(1, "from-a"), (2, "only-a"), (4, "other")])
        write_atomic(tmp_path / "a.csv", "key,value\n2,only-a\n")  # and now a does too
        data.wait_rows([(2, "only-a"), (4, "other")])

    run_while(driver)


class Number(pw.Schema):
    n: int


def _append(path, data: bytes) -> None:
    with open(path, "ab") as handle:
        handle.write(data)


def test_a_row_written_in_two_parts_is_read_once_complete(tmp_path):
    path = tmp_path / "a.csv"
    path.write_bytes(b"n\n1\n")
    table = pw.io.csv.read(tmp_path, schema=Number, mode="streaming", autocommit_duration_ms=10)
    log = pw.global_error_log().select(pw.this.message)
    data, errors = Collector(table), Collector(log)

    def driver():
        data.wait_rows([(1,)])
        _append(path, b"12")
        time.sleep(0.4)  # several polls see the unterminated line
        _append(path, b"3\n")
        data.wait_rows([(1,), (123,)])

    run_while(driver, terminate_on_error=False)
    assert all(row[0] != 12 for row in data.updates)
    assert errors.rows() == []


def test_half_written_json_and_header_are_not_errors(tmp_path):
    json_path = tmp_path / "j" / "a.jsonl"
    csv_path = tmp_path / "c" / "a.csv"
    json_path.parent.mkdir()
    csv_path.parent.mkdir()
    json_path.write_bytes(b'{"n": 1}\n{"n"')
    csv_path.write_bytes(b"n")
    j = pw.io.jsonlines.read(json_path.parent, schema=Number, mode="streaming",
                             autocommit_duration_ms=10)
    c = pw.io.csv.read(csv_path.parent, schema=Number, mode="streaming",
                       autocommit_duration_ms=10)
    log = pw.global_error_log().select(pw.this.message)
    json_rows, csv_rows, errors = Collector(j), Collector(c), Collector(log)

    def driver():
        json_rows.wait_rows([(1,)])
        time.sleep(0.3)
        _append(json_path, b': 2}\n')
        _append(csv_path, b"\n5\n")
        json_rows.wait_rows([(1,), (2,)])
        csv_rows.wait_rows([(5,)])

    run_while(driver, terminate_on_error=False)
    assert errors.rows() == []


def test_an_unterminated_last_line_is_read_once_the_file_settles(tmp_path):
    path = tmp_path / "a.txt"
    path.write_bytes(b"first\nlast")
    table = pw.io.plaintext.read(tmp_path, mode="streaming", autocommit_duration_ms=10)
    data = Collector(table)

    def driver():
        data.wait_rows([("first",), ("last",)])

    run_while(driver)


def test_a_same_size_rewrite_keeping_the_mtime_is_seen(tmp_path):
    path = tmp_path / "a.csv"
    path.write_bytes(b"n\n1\n")
    table = pw.io.csv.read(tmp_path, schema=Number, mode="streaming", autocommit_duration_ms=10)
    data = Collector(table)

    def driver():
        data.wait_rows([(1,)])
        stat = os.stat(path)
        with open(path, "r+b") as handle:  # same size, in place
            handle.write(b"n\n7\n")
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        data.wait_rows([(7,)])

    run_while(driver)
