"""CSV structure: quoted cells spanning lines, byte order marks and duplicate header names
(issue classes 3, 8 and 9). Every row is delivered or reported with its file and line."""

import reflow as pw
from tests.io.live import Collector


class Item(pw.Schema):
    name: str
    qty: int


def _read(path, schema=Item):
    table = pw.io.csv.read(path, schema=schema, mode="static")
    log = pw.global_error_log().select(pw.this.message)
    data, errors = Collector(table), Collector(log)
    pw.run(monitoring_level=pw.MonitoringLevel.NONE, terminate_on_error=False)
    return data.rows(), sorted(m for (m,) in errors.rows())


def test_quoted_newline_with_a_ragged_row_and_an_empty_last_cell(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text(
        'name,qty\n"multi\nline",1\nragged\nplain,2\n"two\n\nbreaks",3\nempty,\nlast,4\n'
    )
    data, messages = _read(path)
    assert data == sorted(
        [("multi\nline", 1), ("plain", 2), ("two\n\nbreaks", 3), ("last", 4)]
    )
    assert messages == [
        f"{path}, line 4: expected 2 fields, found 1",
        f"{path}, line 9: column 'qty': missing value for INT",
    ]


def test_quoted_newline_alone_keeps_line_numbers_right(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text('name,qty\n"a\nb",1\nc,x\n')
    data, messages = _read(path)
    assert data == [("a\nb", 1)]
    assert messages == [f"{path}, line 4: column 'qty': cannot parse 'x' as INT"]


def test_a_byte_order_mark_is_stripped(tmp_path):
    path = tmp_path / "a.csv"
    path.write_bytes(b"\xef\xbb\xbfname,qty\napple,3\n")
    assert _read(path) == ([("apple", 3)], [])


def test_duplicate_header_names_outside_the_schema_are_ignored(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text("name,note,qty,note\napple,x,3,y\npear,z,4,\n")
    assert _read(path) == ([("apple", 3), ("pear", 4)], [])


def test_a_schema_column_named_twice_is_a_clear_error(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text("name,qty,qty\napple,3,4\n")
    try:
        _read(path)
    except ValueError as exc:
        assert "names the schema column(s) 'qty' more than once" in str(exc)
        assert str(path) in str(exc)
    else:
        raise AssertionError("expected a clear error")


def test_streaming_survives_a_file_with_a_duplicated_schema_column(tmp_path):
    from tests.io.live import run_while, write_atomic

    (tmp_path / "a.csv").write_text("name,qty\napple,3\n")
    table = pw.io.csv.read(tmp_path, schema=Item, mode="streaming", autocommit_duration_ms=10)
    log = pw.global_error_log().select(pw.this.message)
    data, errors = Collector(table), Collector(log)

    def driver():
        data.wait_rows([("apple", 3)])
        write_atomic(tmp_path / "b.csv", "name,qty,qty\npear,4,5\n")
        errors.wait_for(lambda c: len(c.rows()) == 1)
        write_atomic(tmp_path / "c.csv", "name,qty\nfig,6\n")
        data.wait_rows([("apple", 3), ("fig", 6)])

    run_while(driver, terminate_on_error=False)
    (message,) = [m for (m,) in errors.rows()]
    assert "b.csv" in message and "more than once" in message
