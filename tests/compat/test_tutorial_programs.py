"""Small programs in the style of Pathway's tutorials, with the output Pathway 0.33 gives."""

from __future__ import annotations

import pytest

import reflow as pw
from tests.utils import rows


def test_a_static_file_table_is_read_again_by_every_run(tmp_path):
    path = tmp_path / "people.csv"
    path.write_text("name,age,score\nAlice,30,1.5\nBob,25,2.5\nAlice,31,3.0\n")
    people = pw.io.csv.read(path, schema=pw.schema_from_csv(str(path)), mode="static")
    assert rows(people) == [("Alice", 30, 1.5), ("Alice", 31, 3.0), ("Bob", 25, 2.5)]
    totals = pw.sql(
        "SELECT name, SUM(score) AS total FROM tab WHERE age > 24 GROUP BY name", tab=people
    )
    assert rows(totals) == [("Alice", 4.5), ("Bob", 2.5)]


def test_plaintext_lines_lose_the_whitespace_around_them(tmp_path):
    (tmp_path / "a.txt").write_text("\t a b \t\n\n  x\r\n")
    lines = pw.io.plaintext.read(tmp_path, mode="static")
    assert rows(lines) == [("",), ("a b",), ("x",)]


def test_windowby_instance_is_read_back_as_pw_instance():
    t = pw.debug.table_from_markdown(
        """
        shop | amount | t
        a    | 10     | 1
        a    | 5      | 3
        b    | 7      | 2
        """
    )
    windows = t.windowby(pw.this.t, window=pw.temporal.tumbling(duration=10),
                         instance=pw.this.shop)
    with pytest.raises(ValueError, match="shop"):
        windows.reduce(pw.this.shop, total=pw.reducers.sum(pw.this.amount))
    result = windows.reduce(shop=pw.this._pw_instance, total=pw.reducers.sum(pw.this.amount))
    assert rows(result) == [("a", 15), ("b", 7)]


def test_a_schema_prints_as_pathway_prints_it():
    class Item(pw.Schema):
        a: int = pw.column_definition(primary_key=True)
        b: str | None
        d: pw.Json

    assert str(Item) == (
        "id           | a   | b             | d\n"
        "Pointer(INT) | INT | Optional(STR) | Json"
    )
    stream = pw.debug.table_from_markdown(
        """
        a
        1
        """
    ).to_stream()
    assert str(stream.schema) == (
        "id          | a   | is_upsert\n"
        "ANY_POINTER | INT | BOOL     "
    )


def test_udfs_receive_date_times_and_durations_as_pandas_values():
    import pandas as pd

    t = pw.debug.table_from_markdown(
        """
        ts
        2024-01-01T10:00:00
        """
    ).select(ts=pw.this.ts.dt.strptime("%Y-%m-%dT%H:%M:%S"))
    t = t.with_columns(later=pw.this.ts + pw.Duration("90m"))
    t = t.with_columns(gap=pw.this.later - pw.this.ts)
    kinds = t.select(
        ts=pw.apply(lambda v: type(v).__name__, pw.this.ts),
        gap=pw.apply(lambda v: type(v).__name__, pw.this.gap),
        hour=pw.apply_with_type(lambda v: v.hour, int, pw.this.later),
    )
    assert rows(kinds) == [("Timestamp", "Timedelta", 11)]
    assert pd.Timestamp("2024-01-01T10:00:00") == rows(t)[0][0]


def test_a_markdown_column_named_id_labels_the_rows():
    labelled = pw.debug.table_from_markdown(
        """
        id | a
        1  | x
        2  | y
        """
    )
    unnamed = pw.debug.table_from_markdown(
        """
          | a
        1 | x
        2 | y
        """
    )
    assert labelled.column_names() == ["a"]
    assert pw.debug.table_to_dicts(labelled) == pw.debug.table_to_dicts(unnamed)


@pytest.mark.parametrize(
    "build",
    [
        lambda t: t.select(pw.this.id),
        lambda t: t.select(id=pw.this.a),
        lambda t: t.with_columns(id=pw.this.a),
        lambda t: t.groupby(pw.this.a).reduce(id=pw.this.a),
        lambda t: t.join(t.copy(), pw.left.a == pw.right.a).select(pw.left.id),
    ],
)
def test_no_column_may_be_named_id(build):
    t = pw.debug.table_from_markdown(
        """
        a
        1
        """
    )
    with pytest.raises(ValueError, match="Can't use 'id' as a column name"):
        build(t)
    assert t.select(me=pw.this.id).column_names() == ["me"]
