"""Tables written as markdown read the way Pathway reads them."""

from __future__ import annotations

import io
from contextlib import redirect_stdout

import pandas as pd
import pytest

import reflow as pw
from reflow.plan import dtypes as dt
from tests.utils import rows, rows_by_id, updates


def printed(*tables: pw.Table, **options) -> str:
    out = io.StringIO()
    with redirect_stdout(out):
        pw.debug.compute_and_print(*tables, include_id=False, **options)
    return out.getvalue()


def test_an_empty_cell_is_none_and_makes_the_column_optional():
    t = pw.debug.table_from_markdown(
        """
        a | b | c
        1 |   | x
        2 | y |
        """
    )
    assert t.schema.dtypes() == {"a": dt.INT, "b": dt.Optional(dt.STR), "c": dt.Optional(dt.STR)}
    assert rows(t) == [(1, None, "x"), (2, "y", None)]


def test_a_column_of_only_empty_cells_is_of_type_none():
    t = pw.debug.table_from_markdown(
        """
        a | b
        1 |
        2 | None
        """
    )
    assert t.schema.dtypes()["b"] == dt.NONE
    assert rows(t) == [(1, None), (2, None)]


def test_true_and_false_cells_are_bools_in_either_case():
    t = pw.debug.table_from_markdown(
        """
        a | b
        1 | True
        2 | false
        """
    )
    assert t.schema.dtypes()["b"] == dt.BOOL
    assert rows(t) == [(1, True), (2, False)]


def test_a_column_mixing_words_and_bools_stays_text():
    t = pw.debug.table_from_markdown(
        """
        b
        x
        True
        """
    )
    assert t.schema.dtypes()["b"] == dt.STR
    assert rows(t) == [("True",), ("x",)]


def test_unlabelled_rows_get_the_ids_of_a_pandas_index():
    markdown = pw.debug.table_from_markdown(
        """
        a | b
        1 | x
        2 | y
        """
    )
    frame = pw.debug.table_from_pandas(pd.DataFrame({"a": [1, 2], "b": ["x", "y"]}))
    assert rows_by_id(markdown) == rows_by_id(frame)
    assert set(rows_by_id(markdown)) == {pw.pointer_from(0), pw.pointer_from(1)}


def test_a_labelled_row_has_the_id_of_the_row_at_that_position():
    labelled = pw.debug.table_from_markdown(
        """
          | a
        1 | 10
        0 | 20
        """
    )
    assert rows_by_id(labelled) == {pw.pointer_from(1): (10,), pw.pointer_from(0): (20,)}


def test_framed_tables_are_read_without_an_extra_column():
    t = pw.debug.table_from_markdown(
        """
        | a | b |
        | 1 | x |
        """
    )
    assert t.column_names() == ["a", "b"]
    assert rows(t) == [(1, "x")]


def test_a_retraction_without_an_earlier_equal_row_is_a_negative_row_of_its_own():
    t = pw.debug.table_from_markdown(
        """
        a | __time__ | __diff__
        1 | 2        | 1
        1 | 4        | -1
        5 | 4        | -1
        """
    )
    assert updates(t) == [(1, 2, 1), (1, 4, -1), (5, 4, -1)]
    totals = t.reduce(n=pw.reducers.count(), s=pw.reducers.sum(pw.this.a))
    # the earlier equal row is retracted; the group's count never goes below zero in reflow
    assert updates(totals) == [(1, 1, 2, 1), (1, 1, 4, -1)]
    with pytest.raises(KeyError):
        rows(t)  # a snapshot with a row retracted more often than inserted does not exist


def test_none_prints_as_an_empty_cell_and_json_as_utf8():
    t = pw.debug.table_from_markdown(
        """
        a | b
        1 |
        2 | y
        """
    )
    j = t.select(j=pw.apply_with_type(lambda a: pw.Json({"w": "żółw", "n": a}), pw.Json, t.a))
    assert printed(t) == "a | b\n1 |\n2 | y\n"
    assert printed(j) == 'j\n{"w": "żółw", "n": 1}\n{"w": "żółw", "n": 2}\n'


def test_compute_and_print_prints_several_tables_one_after_another():
    t = pw.debug.table_from_markdown(
        """
        a
        1
        """
    )
    u = t.select(b=pw.this.a + 1)
    assert printed(t, u) == "a\n1\nb\n2\n"
