"""Sinks: file contents of csv/jsonlines writers, null, subscribe callbacks."""

from __future__ import annotations

import csv
import json

import reflow as pw

STREAM = """
  | word  | n | __time__ | __diff__
1 | hello | 1 | 2        | 1
2 | a,"b" | 2 | 2        | 1
1 | hello | 1 | 4        | -1
1 | hello | 5 | 4        | 1
2 | a,"b" | 2 | 6        | -1
"""


def _run():
    pw.run(monitoring_level=pw.MonitoringLevel.NONE)


def test_csv_write_carries_the_update_stream(tmp_path):
    t = pw.debug.table_from_markdown(STREAM)
    pw.io.csv.write(t, tmp_path / "out.csv")
    _run()
    with open(tmp_path / "out.csv", newline="") as handle:
        lines = list(csv.reader(handle))
    assert lines[0] == ["word", "n", "time", "diff"]
    body = sorted(tuple(line) for line in lines[1:])
    assert body == sorted([
        ("hello", "1", "2", "1"),
        ('a,"b"', "2", "2", "1"),
        ("hello", "1", "4", "-1"),
        ("hello", "5", "4", "1"),
        ('a,"b"', "2", "6", "-1"),
    ])
    # Every line is quoted, like the other writers of this format.
    assert (tmp_path / "out.csv").read_text().splitlines()[1].startswith('"')


def test_csv_write_empty_table_writes_the_header(tmp_path):
    t = pw.debug.table_from_markdown(STREAM).filter(pw.this.n > 100)
    pw.io.csv.write(t, tmp_path / "out.csv")
    _run()
    assert (tmp_path / "out.csv").read_text() == '"word","n","time","diff"\n'


def test_jsonlines_write_carries_time_and_diff(tmp_path):
    t = pw.debug.table_from_markdown(STREAM)
    pw.io.jsonlines.write(t, tmp_path / "out.jsonl")
    _run()
    documents = [json.loads(x) for x in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert sorted((d["word"], d["n"], d["time"], d["diff"]) for d in documents) == sorted([
        ("hello", 1, 2, 1),
        ('a,"b"', 2, 2, 1),
        ("hello", 1, 4, -1),
        ("hello", 5, 4, 1),
        ('a,"b"', 2, 6, -1),
    ])
    assert list(documents[0]) == ["word", "n", "diff", "time"]


def test_jsonlines_write_nested_json_and_pointers(tmp_path):
    t = pw.debug.table_from_markdown(
        """
        k
        1
        """
    )
    t = t.select(k=pw.this.k, ptr=pw.this.id, doc=pw.apply_with_type(
        lambda k: pw.Json({"k": [k]}), pw.Json, pw.this.k))
    pw.io.jsonlines.write(t, tmp_path / "out.jsonl")
    _run()
    (document,) = [json.loads(x) for x in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert document["doc"] == {"k": [1]}
    assert document["ptr"].startswith("^")
    assert document["k"] == 1 and document["diff"] == 1


def test_csv_write_pointer_and_float_columns(tmp_path):
    t = pw.debug.table_from_markdown(
        """
        x
        1.5
        """
    ).select(pw.this.x, ptr=pw.this.id)
    pw.io.csv.write(t, tmp_path / "out.csv")
    _run()
    with open(tmp_path / "out.csv", newline="") as handle:
        (_, (x, ptr, _time, diff)) = list(csv.reader(handle))
    assert x == "1.5" and ptr.startswith("^") and diff == "1"


def test_null_write_computes_the_table():
    calls = []
    t = pw.debug.table_from_markdown(
        """
        x
        1
        """
    ).select(y=pw.apply(lambda x: calls.append(x) or x, pw.this.x))
    pw.io.null.write(t)
    _run()
    assert calls == [1]


def test_subscribe_callbacks_in_order():
    events = []
    t = pw.debug.table_from_markdown(STREAM)
    pw.io.subscribe(
        t,
        on_change=lambda key, row, time, is_addition: events.append(
            (time, row["n"], is_addition)
        ),
        on_time_end=lambda time: events.append((time, "end")),
        on_end=lambda: events.append("done"),
    )
    _run()
    assert events[-1] == "done"
    assert events.index((2, "end")) < events.index((4, 1, False))
    assert events[events.index((4, "end")) - 2:events.index((4, "end"))] == [
        (4, 1, False), (4, 5, True)
    ]
    assert (6, "end") in events


def test_several_sinks_run_together(tmp_path):
    t = pw.debug.table_from_markdown(STREAM)
    pw.io.csv.write(t, tmp_path / "a.csv")
    pw.io.jsonlines.write(t.select(pw.this.n), tmp_path / "b.jsonl")
    _run()
    assert len((tmp_path / "a.csv").read_text().splitlines()) == 6
    assert len((tmp_path / "b.jsonl").read_text().splitlines()) == 5


def test_writers_handle_bytes_datetimes_durations_and_tuples(tmp_path):
    import datetime

    class S(pw.Schema):
        b: bytes
        d: pw.DateTimeNaive
        dur: pw.Duration
        f: float | None
        t: tuple[int, int]

    class Sub(pw.io.python.ConnectorSubject):
        def run(self):
            self.next(b=b"\x00a", d=datetime.datetime(2024, 1, 2, 3, 4, 5),
                      dur=datetime.timedelta(seconds=3), f=None, t=(1, 2))

    t = pw.io.python.read(Sub(), schema=S)
    pw.io.csv.write(t, tmp_path / "out.csv")
    pw.io.jsonlines.write(t, tmp_path / "out.jsonl")
    _run()
    with open(tmp_path / "out.csv", newline="") as handle:
        (header, row) = list(csv.reader(handle))
    assert header == ["b", "d", "dur", "f", "t", "time", "diff"]
    assert row[:5] == ["AGE=", "2024-01-02 03:04:05.000000000", "PT3S", "", "[1, 2]"]
    (document,) = [json.loads(x) for x in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert document["t"] == [1, 2] and document["b"] == "AGE=" and document["f"] is None
    assert document["d"] == "2024-01-02 03:04:05.000000000"



def test_csv_small_times_are_spelled_as_polars_writes_them():
    """A time of a few rows is formatted in Python, a big one by Polars: both give the same
    bytes, including quotes, newlines, nulls and float spellings; values Python spells
    differently (1e-07, nan, inf) send the time to Polars."""
    import io

    import polars as pl

    from reflow.io._common import output_frame
    from reflow.io.csv import _small_csv
    from reflow.plan import dtypes as dt
    from reflow.plan.nodes import ColumnInfo

    rows = [
        (1, 'a"b', 0.1, True), (2, "x,y", 1e20, False), (3, "l\nm", 1e-7, None),
        (4, None, 2.5e-05, True), (5, "", float("nan"), True), (6, "é", -0.0, False),
        (7, "plain", None, None), (8, '"', 1e15, True), (9, "z", float("inf"), False),
        (None, "w", 123456789.123, True), (2**62, "q", -3.25, False),
    ]
    frame = pl.DataFrame(
        [(k, *row, 1 - 2 * (k % 2)) for k, row in enumerate(rows)],
        schema={"_id": pl.UInt128, "i": pl.Int64, "s": pl.String, "f": pl.Float64,
                "b": pl.Boolean, "_diff": pl.Int64},
        orient="row",
    )
    columns = {"i": ColumnInfo(dt.Optional(dt.INT)), "s": ColumnInfo(dt.Optional(dt.STR)),
               "f": ColumnInfo(dt.Optional(dt.FLOAT)), "b": ColumnInfo(dt.Optional(dt.BOOL))}
    small = 0
    for k in range(frame.height):
        part = frame[k : k + 1]
        ours = _small_csv(columns, part, 12)
        expected = io.BytesIO()
        output_frame(columns, part, 12).write_csv(
            expected, include_header=False, quote_style="always"
        )
        if ours is not None:
            small += 1
            assert ours == expected.getvalue()
        else:
            assert part["f"][0] in (1e-7, 2.5e-05, 1e20) or part["f"].is_nan().any() or (
                part["f"].is_infinite().any()
            )
    assert small == frame.height - 5
    whole = _small_csv(columns, frame[[0, 5, 6, 10]], 3)
    assert whole is not None and whole.count(b"\n") == 4
    # A column that can hold errors: written here while none of its cells is an error.
    from reflow.plan.error_columns import error_column

    fallible = dict(columns, i=ColumnInfo(dt.Optional(dt.INT), fallible=True))
    flagged = frame[[0, 5]].with_columns(pl.Series(error_column("i"), [False, False]))
    assert _small_csv(fallible, flagged, 3) == _small_csv(columns, frame[[0, 5]], 3)
    flagged = flagged.with_columns(pl.Series(error_column("i"), [False, True]))
    assert _small_csv(fallible, flagged, 3) is None


def test_csv_small_path_matches_polars_up_to_its_row_limit():
    """A whole time at the small path's row limit (a join's update of a few hundred rows:
    retractions and insertions, nulls, repeated values) gives the bytes Polars writes."""
    import io

    import polars as pl

    from reflow.io._common import output_frame
    from reflow.io.csv import SMALL_CSV_ROWS, _small_csv
    from reflow.plan import dtypes as dt
    from reflow.plan.nodes import ColumnInfo

    n = SMALL_CSV_ROWS
    frame = pl.DataFrame(
        {
            "_id": list(range(n)),
            "i": [None if k % 7 == 0 else k * (-1) ** k for k in range(n)],
            "s": [None if k % 11 == 0 else f'r"{k % 5},\n' for k in range(n)],
            "f": [None if k % 13 == 0 else k / 8 for k in range(n)],
            "_diff": [(-1) ** k for k in range(n)],
        },
        schema={"_id": pl.UInt128, "i": pl.Int64, "s": pl.String, "f": pl.Float64,
                "_diff": pl.Int64},
    )
    columns = {"i": ColumnInfo(dt.Optional(dt.INT)), "s": ColumnInfo(dt.Optional(dt.STR)),
               "f": ColumnInfo(dt.Optional(dt.FLOAT))}
    expected = io.BytesIO()
    output_frame(columns, frame, 7).write_csv(expected, include_header=False, quote_style="always")
    assert _small_csv(columns, frame, 7) == expected.getvalue()
    bigger = pl.concat([frame, frame[:1]])
    assert _small_csv(columns, bigger, 7) is None  # above the limit: the Polars writer
    # Columns without nulls and strings without quotes take a shorter way: the same bytes.
    plain = frame.with_columns(
        pl.Series("i", [k * (-1) ** k for k in range(n)]),
        pl.Series("s", [f"r {k % 5},\n" for k in range(n)]),
    )
    expected = io.BytesIO()
    output_frame(columns, plain, 7).write_csv(expected, include_header=False, quote_style="always")
    assert _small_csv(columns, plain, 7) == expected.getvalue()
    assert _small_csv(columns, plain[:0], 7) == b""


def test_csv_small_path_template_matches_polars_on_random_times():
    """Random times of every integer dtype and strings (commas, newlines, braces, quotes,
    empty), with and without nulls, one row to the row limit: the lines formatted from one
    template per time are the bytes Polars writes."""
    import io
    import random

    import polars as pl

    from reflow.io._common import output_frame
    from reflow.io.csv import SMALL_CSV_ROWS, _small_csv
    from reflow.plan import dtypes as dt
    from reflow.plan.nodes import ColumnInfo

    rng = random.Random(13)
    kinds = [pl.Int8, pl.Int16, pl.Int32, pl.Int64, pl.UInt8, pl.UInt16, pl.UInt32, pl.UInt64]
    pieces = ["a", ",", "\n", "{", "}", "{0}", "é", " ", "\\", "x" * 20]
    written = 0
    for round_ in range(60):
        n = rng.choice([1, 2, 3, 17, 100, SMALL_CSV_ROWS])
        quotes = round_ % 5 == 0
        nulls = round_ % 3 == 0
        data: dict[str, pl.Series] = {"_id": pl.Series(range(n), dtype=pl.UInt128)}
        columns = {}
        for c in range(rng.randint(1, 4)):
            if rng.random() < 0.5:
                kind = rng.choice(kinds)
                low, high = (0, 2**8 - 1) if kind.is_unsigned_integer() else (-128, 127)
                if kind in (pl.Int64, pl.UInt64):
                    low, high = (0, 2**64 - 1) if kind == pl.UInt64 else (-(2**63), 2**63 - 1)
                values: list = [rng.randint(low, high) for _ in range(n)]
                columns[f"c{c}"] = ColumnInfo(dt.Optional(dt.INT))
            else:
                kind = pl.String
                texts = pieces + (['"', 'q"q'] if quotes else [])
                values = ["".join(rng.choices(texts, k=rng.randint(0, 4))) for _ in range(n)]
                columns[f"c{c}"] = ColumnInfo(dt.Optional(dt.STR))
            if nulls and rng.random() < 0.5:
                values = [None if rng.random() < 0.2 else v for v in values]
            data[f"c{c}"] = pl.Series(values, dtype=kind)
        data["_diff"] = pl.Series([rng.choice([1, -1, 2, -3]) for _ in range(n)], dtype=pl.Int64)
        frame = pl.DataFrame(data)
        expected = io.BytesIO()
        output_frame(columns, frame, 1_765_000_000_000).write_csv(
            expected, include_header=False, quote_style="always"
        )
        ours = _small_csv(columns, frame, 1_765_000_000_000)
        assert ours == expected.getvalue(), (round_, n)
        written += 1
    assert written == 60
