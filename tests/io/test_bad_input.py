"""Bad rows are reported with file and line while the other rows flow on; bad setups fail at
start with one clear error."""

from __future__ import annotations

import logging
import os

import pytest

import reflow as pw
from reflow.engine.operator import EngineError
from tests.io.live import Collector, run_while, write_atomic
from tests.utils import rows


class Item(pw.Schema):
    name: str
    qty: int


def _messages(log_rows):
    return sorted(m for (m,) in log_rows)


def _static_with_log(table):
    log = pw.global_error_log().select(pw.this.message)
    data = Collector(table)
    errors = Collector(log)
    pw.run(monitoring_level=pw.MonitoringLevel.NONE)
    return data.rows(), _messages(errors.rows())


def test_csv_wrong_column_count_and_bad_value(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text("name,qty\napple,3\npear\nplum,x\nfig,4,extra\nkiwi,5\n")
    data, messages = _static_with_log(pw.io.csv.read(path, schema=Item, mode="static"))
    assert data == [("apple", 3), ("kiwi", 5)]
    assert messages == [
        f"{path}, line 3: expected 2 fields, found 1",
        f"{path}, line 4: column 'qty': cannot parse 'x' as INT",
        f"{path}, line 5: expected 2 fields, found 3",
    ]


def test_csv_unparsable_value_fast_path(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text("name,qty\napple,3\nplum,x\n")
    data, messages = _static_with_log(pw.io.csv.read(path, schema=Item, mode="static"))
    assert data == [("apple", 3)]
    assert messages == [f"{path}, line 3: column 'qty': cannot parse 'x' as INT"]


def test_csv_invalid_utf8(tmp_path):
    path = tmp_path / "a.csv"
    path.write_bytes(b"name,qty\napple,3\n\xff\xfe,4\nkiwi,5\n")
    data, messages = _static_with_log(pw.io.csv.read(path, schema=Item, mode="static"))
    assert data == [("apple", 3), ("kiwi", 5)]
    assert len(messages) == 1 and messages[0].startswith(f"{path}, line 3: invalid UTF-8")


def test_jsonlines_invalid_json_missing_field_wrong_type_and_utf8(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_bytes(
        b'{"name": "a", "qty": 1}\n{"name": "b", \n{"name": "c"}\n'
        b'{"name": "d", "qty": "many"}\n"text"\n{"name": "\xff", "qty": 2}\n'
        b'{"name": "e", "qty": 5}\n'
    )
    data, messages = _static_with_log(pw.io.jsonlines.read(path, schema=Item, mode="static"))
    assert data == [("a", 1), ("e", 5)]
    assert [m.split(":")[0] for m in messages] == [f"{path}, line {n}" for n in (2, 3, 4, 5, 6)]
    assert "invalid JSON" in messages[0]
    assert "column 'qty': missing" in messages[1]
    assert "expected INT" in messages[2]
    assert "expected a JSON object" in messages[3]
    assert "invalid UTF-8" in messages[4]


def test_plaintext_invalid_utf8_line(tmp_path):
    path = tmp_path / "a.txt"
    path.write_bytes(b"good\n\xc3\x28\nalso good\n")
    data, messages = _static_with_log(pw.io.plaintext.read(path, mode="static"))
    assert data == [("also good",), ("good",)]
    assert len(messages) == 1 and messages[0].startswith(f"{path}, line 2: invalid UTF-8")


def test_bad_rows_are_logged(tmp_path, caplog):
    path = tmp_path / "a.csv"
    path.write_text("name,qty\nplum,x\n")
    with caplog.at_level(logging.WARNING, logger="reflow"):
        _static_with_log(pw.io.csv.read(path, schema=Item, mode="static"))
    assert any(f"{path}, line 2" in r.getMessage() for r in caplog.records)


def test_streaming_pipeline_goes_on_after_a_bad_file(tmp_path):
    t = pw.io.csv.read(tmp_path, schema=Item, mode="streaming", autocommit_duration_ms=10)
    data = Collector(t)
    errors = Collector(pw.global_error_log().select(pw.this.message))

    def driver():
        write_atomic(tmp_path / "bad.csv", "name,qty\nx,1,2\ny,oops\nz,3\n")
        data.wait_rows([("z", 3)])
        errors.wait_for(lambda c: len(c.state) == 2)
        write_atomic(tmp_path / "good.csv", "name,qty\nw,9\n")
        data.wait_rows([("w", 9), ("z", 3)])

    run_while(driver)
    assert _messages(errors.rows()) == [
        f"{tmp_path / 'bad.csv'}, line 2: expected 2 fields, found 3",
        f"{tmp_path / 'bad.csv'}, line 3: column 'qty': cannot parse 'oops' as INT",
    ]


def test_terminate_on_error_stops_with_the_message(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text("name,qty\napple,3\nplum,x\n")
    pw.io.null.write(pw.io.csv.read(path, schema=Item, mode="static"))
    with pytest.raises(EngineError, match="line 3: column 'qty': cannot parse 'x' as INT"):
        pw.run(monitoring_level=pw.MonitoringLevel.NONE, terminate_on_error=True)


def test_terminate_on_error_in_streaming_mode_closes_sinks(tmp_path):
    write_atomic(tmp_path / "a.csv", "name,qty\napple,3\n")
    out = tmp_path / "out" / "result.csv"
    out.parent.mkdir()
    t = pw.io.csv.read(tmp_path / "a.csv", schema=Item, mode="streaming",
                       autocommit_duration_ms=10)
    pw.io.csv.write(t, out)
    seen = Collector(t)

    def driver():
        seen.wait_rows([("apple", 3)])
        write_atomic(tmp_path / "a.csv", "name,qty\napple,3\nplum,x\n")

    # The run must end by itself on the bad row: stopping it when the driver returns could
    # come before the poll that reads the rewritten file.
    with pytest.raises(EngineError, match="cannot parse 'x'"):
        run_while(driver, stop_on_return=False, terminate_on_error=True)
    assert '"apple","3"' in out.read_text()


def test_missing_path_is_one_clear_error(tmp_path):
    missing = tmp_path / "nope.csv"
    pw.io.null.write(pw.io.csv.read(missing, schema=Item, mode="static"))
    with pytest.raises(FileNotFoundError, match=r"nope\.csv") as info:
        pw.run(monitoring_level=pw.MonitoringLevel.NONE)
    assert isinstance(info.value, ValueError)
    assert "does not exist" in str(info.value)


def test_header_not_matching_schema_is_one_clear_error(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text("name,amount\napple,3\n")
    pw.io.null.write(pw.io.csv.read(path, schema=Item, mode="streaming"))
    with pytest.raises(ValueError, match="lacks the schema column\\(s\\) 'qty'") as info:
        pw.run(monitoring_level=pw.MonitoringLevel.NONE)
    assert str(path) in str(info.value)


def test_unreadable_file_is_one_clear_error(tmp_path):
    if os.geteuid() == 0:
        # Permissions do not stop root; a file whose reads fail for everyone does.
        path = "/proc/self/mem"
    else:
        path = tmp_path / "a.csv"
        path.write_text("name,qty\napple,3\n")
        path.chmod(0)
    pw.io.null.write(pw.io.csv.read(path, schema=Item, mode="static"))
    with pytest.raises(ValueError, match="cannot read input file") as info:
        pw.run(monitoring_level=pw.MonitoringLevel.NONE)
    assert str(path) in str(info.value)


def test_debug_helpers_work_on_file_tables(tmp_path):
    (tmp_path / "a.csv").write_text("name,qty\napple,3\n")
    assert rows(pw.io.csv.read(tmp_path, schema=Item, mode="static")) == [("apple", 3)]


def test_streaming_file_with_a_wrong_header_is_reported_not_fatal(tmp_path):
    t = pw.io.csv.read(tmp_path, schema=Item, mode="streaming", autocommit_duration_ms=10)
    data = Collector(t)
    errors = Collector(pw.global_error_log().select(pw.this.message))

    write_atomic(tmp_path / "first.csv", "name,qty\nw,0\n")

    def driver():
        data.wait_rows([("w", 0)])  # the run has started: later files are checked live
        write_atomic(tmp_path / "a.csv", "name,amount\nx,1\n")
        errors.wait_for(lambda c: len(c.state) == 1)
        write_atomic(tmp_path / "b.csv", "name,qty\ny,2\n")
        data.wait_rows([("w", 0), ("y", 2)])

    run_while(driver)
    ((message,),) = errors.rows()
    assert str(tmp_path / "a.csv") in message and "'qty'" in message
