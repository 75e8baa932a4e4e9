"""Readers never store a wrong value silently: integers beyond int64 are reported errors, not
None (issue class 2)."""

import reflow as pw
from tests.io.live import Collector


class Pair(pw.Schema):
    a: int
    b: int | None


def _run(*tables):
    log = pw.global_error_log().select(pw.this.message)
    collectors = [Collector(t) for t in tables]
    errors = Collector(log)
    pw.run(monitoring_level=pw.MonitoringLevel.NONE, terminate_on_error=False)
    return [c.rows() for c in collectors], sorted(m for (m,) in errors.rows())


def test_ints_beyond_int64_are_reported_not_none(tmp_path):
    (tmp_path / "x.csv").write_text("a,b\n1,99999999999999999999\n2,3\n-9223372036854775809,4\n")
    (tmp_path / "x.jsonl").write_text('{"a":1,"b":99999999999999999999}\n{"a":2,"b":3}\n')

    class Subject(pw.io.python.ConnectorSubject):
        def run(self):
            self.next(a=1, b=2**70)
            self.next(a=2, b=3)
            self.next_json({"a": 3, "b": -(2**64)})

    (csv_rows, json_rows, python_rows), messages = _run(
        pw.io.csv.read(tmp_path / "x.csv", schema=Pair, mode="static"),
        pw.io.jsonlines.read(tmp_path / "x.jsonl", schema=Pair, mode="static"),
        pw.io.python.read(Subject(), schema=Pair),
    )
    assert csv_rows == json_rows == python_rows == [(2, 3)]
    csv_path, json_path = tmp_path / "x.csv", tmp_path / "x.jsonl"
    assert messages == sorted([
        f"{csv_path}, line 2: column 'b': 99999999999999999999 does not fit in a 64-bit INT",
        f"{csv_path}, line 4: column 'a': -9223372036854775809 does not fit in a 64-bit INT",
        f"{json_path}, line 1: column 'b': 99999999999999999999 does not fit in a 64-bit INT",
        "row {'a': 1, 'b': 1180591620717411303424}: column 'b': 1180591620717411303424 does "
        "not fit in a 64-bit INT",
        "row {'a': 3, 'b': -18446744073709551616}: column 'b': -18446744073709551616 does not "
        "fit in a 64-bit INT",
    ])
