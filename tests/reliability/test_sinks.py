"""Sinks never write an error as a value and write each logical time whole (classes 6, 7)."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import reflow as pw
from tests.io.live import Collector
from tests.reliability.helpers import rows


def _with_errors():
    t = pw.debug.table_from_markdown(
        """
        a | b
        1 | 0
        4 | 2
        6 | 3
        """
    )
    return t.select(pw.this.a, q=pw.this.a // pw.this.b)


def test_csv_and_jsonlines_sinks_withhold_error_rows_and_report_them(tmp_path):
    r = _with_errors()
    pw.io.csv.write(r, tmp_path / "out.csv")
    pw.io.jsonlines.write(r, tmp_path / "out.jsonl")
    log = Collector(pw.global_error_log().select(pw.this.operator, pw.this.message))
    pw.run(monitoring_level=pw.MonitoringLevel.NONE, terminate_on_error=False)
    lines = (tmp_path / "out.csv").read_text().splitlines()
    assert lines[0] == '"a","q","time","diff"'
    assert sorted(lines[1:]) == ['"4","2","0","1"', '"6","2","0","1"']
    records = [json.loads(x) for x in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert sorted((r["a"], r["q"]) for r in records) == [(4, 2), (6, 2)]
    withheld = [(o, m) for o, m in log.rows() if "withheld" in m]
    assert len(withheld) == 2
    assert all("error value in column(s) 'q'" in m for _, m in withheld)
    assert {o.split()[0] for o, _ in withheld} == {"csv", "jsonlines"}


def test_a_udf_returning_none_for_a_non_optional_type_is_an_error_naming_it():
    @pw.udf
    def half(x: int) -> int:
        return x // 2 if x % 2 == 0 else None

    t = pw.debug.table_from_markdown(
        """
        x
        2
        3
        """
    )
    r = t.select(h=half(pw.this.x))
    assert rows(r) == sorted([(1,), (pw.ERROR,)], key=repr)
    messages = [m for (m,) in rows(pw.global_error_log().select(pw.this.message))]
    assert any("half returned None" in m and "not optional" in m for m in messages)


def test_an_optional_result_may_be_none():
    @pw.udf
    def maybe(x: int) -> int | None:
        return None

    t = pw.debug.table_from_markdown(
        """
        x
        2
        """
    )
    assert rows(t.select(h=maybe(pw.this.x))) == [(None,)]


_WRITER = textwrap.dedent(
    """
    import sys, time
    import reflow as pw

    class S(pw.Schema):
        i: int
        text: str

    class Subject(pw.io.python.ConnectorSubject):
        def run(self):
            for batch in range(100000):
                for i in range(50):
                    self.next(i=batch * 50 + i, text="x" * 200)
                self.commit()

    t = pw.io.python.read(Subject(), schema=S, autocommit_duration_ms=None)
    pw.io.csv.write(t, sys.argv[1])
    pw.run(monitoring_level=pw.MonitoringLevel.NONE)
    """
)


def test_kill_9_leaves_whole_rows_and_whole_times(tmp_path):
    script = tmp_path / "writer.py"
    script.write_text(_WRITER)
    out = tmp_path / "out.csv"
    for trial in range(3):
        process = subprocess.Popen([sys.executable, str(script), str(out)], cwd=os.getcwd())
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                if out.exists() and out.stat().st_size > 200_000 * (trial + 1):
                    break
                time.sleep(0.01)
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait()
        text = out.read_text()
        # A kill during the single write of the last time may cut that time short (a large
        # write is interrupted between pages; see reflow/io/_output_file.py): every time
        # before it must be whole, and so must every row before the cut one.
        lines = text.split("\n")
        lines.pop()  # "" when the file ends with a whole row, else the cut row
        body = lines[1:]
        assert body, "nothing was written"
        per_time: dict[str, int] = {}
        for line in body:
            cells = line.split(",")
            assert len(cells) == 4 and cells[1] == '"' + "x" * 200 + '"'
            per_time[cells[-2]] = per_time.get(cells[-2], 0) + 1
        last = body[-1].split(",")[-2]
        # Every logical time written holds whole commits of 50 rows, but maybe the last.
        assert all(count % 50 == 0 for t, count in per_time.items() if t != last), per_time
