"""Deeply nested JSON and non-JSON messages are reported bad rows, never a crash (classes 10
and 11)."""

import reflow as pw
from tests.io.live import Collector

DEEP = "[" * 100_000 + "]" * 100_000


class Doc(pw.Schema):
    n: int
    doc: pw.Json


def _run(*tables):
    log = pw.global_error_log().select(pw.this.message)
    collectors = [Collector(t) for t in tables]
    errors = Collector(log)
    pw.run(monitoring_level=pw.MonitoringLevel.NONE, terminate_on_error=False)
    return [c.rows() for c in collectors], sorted(m for (m,) in errors.rows())


def test_deeply_nested_json_in_json_lines_and_csv_cells(tmp_path):
    (tmp_path / "a.jsonl").write_text(
        '{"n": 1, "doc": [1]}\n{"n": 2, "doc": ' + DEEP + '}\n{"n": 3, "doc": {}}\n'
    )
    (tmp_path / "a.csv").write_text(f'n,doc\n1,"[1]"\n2,{DEEP}\n3,{{}}\n')
    (json_rows, csv_rows), messages = _run(
        pw.io.jsonlines.read(tmp_path / "a.jsonl", schema=Doc, mode="static"),
        pw.io.csv.read(tmp_path / "a.csv", schema=Doc, mode="static"),
    )
    assert [r[0] for r in json_rows] == [1, 3]
    assert [r[0] for r in csv_rows] == [1, 3]
    assert len(messages) == 2
    assert f"{tmp_path / 'a.jsonl'}, line 2: invalid JSON (nested too deeply)" in messages
    (csv_message,) = [m for m in messages if "a.csv" in m]
    assert csv_message.startswith(f"{tmp_path / 'a.csv'}, line 3: column 'doc': cannot parse")
    assert len(csv_message) < 400


def test_next_str_and_next_json_with_bad_messages_keep_the_run_going():
    class Row(pw.Schema):
        n: int

    class Subject(pw.io.python.ConnectorSubject):
        def run(self):
            self.next(n=1)
            self.next_str('{"n": 2}')
            self.next_str("not json at all")
            self.next_str("[1, 2]")
            self.next_bytes(b"\xff\xfe")
            self.next_str(DEEP)
            self.next_str('{"n": 3}')

    (got,), messages = _run(pw.io.python.read(Subject(), schema=Row))
    assert got == [(1,), (2,), (3,)]
    assert len(messages) == 4
    assert any("'not json at all': invalid JSON" in m for m in messages)
    assert any("'[1, 2]': expected a JSON object" in m for m in messages)
    assert any("nested too deeply" in m for m in messages)


def test_a_subject_that_never_deletes_keeps_no_rows():
    class Row(pw.Schema):
        n: int

    class AppendOnly(pw.io.python.ConnectorSubject):
        def run(self):
            for n in range(1000):
                self.next(n=n)

    class Deleting(pw.io.python.ConnectorSubject):
        def run(self):
            self.next(n=1)
            self.next(n=2)
            self.commit()
            self.delete(n=1)

    append_only, deleting = AppendOnly(), Deleting()
    (kept, after_delete), messages = _run(
        pw.io.python.read(append_only, schema=Row), pw.io.python.read(deleting, schema=Row)
    )
    assert len(kept) == 1000 and after_delete == [(2,)] and messages == []
    assert append_only._deletions_enabled is False and append_only._source._live == []
    assert deleting._deletions_enabled is True
