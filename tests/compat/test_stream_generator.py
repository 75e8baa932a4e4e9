"""``pw.debug.StreamGenerator``: batches of rows at logical times 2, 4, 6, ..., as in Pathway."""

from __future__ import annotations

import pandas as pd
import pytest

import reflow as pw
from tests.utils import updates


class Letters(pw.Schema):
    a: int
    b: str


class Keyed(pw.Schema):
    a: int = pw.column_definition(primary_key=True)
    b: str


def ids_and_times(table: pw.Table) -> list[tuple]:
    names = table.column_names()
    return sorted(
        (time, row_id, *(row[n] for n in names), diff)
        for time, row_id, row, diff in pw.debug.output.collect_updates(table)
    )


def test_batches_enter_at_even_times_and_an_empty_batch_takes_its_time():
    t = pw.debug.StreamGenerator().table_from_list_of_batches(
        [[{"a": 1, "b": "x"}, {"a": 2, "b": "y"}], [], [{"a": 3, "b": "z"}]], Letters
    )
    assert updates(t) == [(1, "x", 2, 1), (2, "y", 2, 1), (3, "z", 6, 1)]
    assert t.is_append_only


def test_rows_get_ids_by_position_and_a_primary_key_does_not_merge_them():
    t = pw.debug.StreamGenerator().table_from_list_of_batches(
        [[{"a": 1, "b": "x"}], [{"a": 1, "b": "z"}]], Keyed
    )
    assert ids_and_times(t) == [
        (2, pw.pointer_from(0), 1, "x", 1),
        (4, pw.pointer_from(1), 1, "z", 1),
    ]


def test_batches_by_workers_take_every_worker_of_a_batch_at_its_time():
    t = pw.debug.StreamGenerator().table_from_list_of_batches_by_workers(
        [{0: [{"a": 1, "b": "x"}], 1: [{"a": 2, "b": "y"}]}, {0: [{"a": 3, "b": "z"}]}], Letters
    )
    assert updates(t) == [(1, "x", 2, 1), (2, "y", 2, 1), (3, "z", 4, 1)]


def test_a_row_without_a_schema_column_is_a_key_error_naming_it():
    with pytest.raises(KeyError, match="'b'"):
        pw.debug.StreamGenerator().table_from_list_of_batches([[{"a": 1}]], Letters)


def test_pandas_and_markdown_take_time_diff_and_worker_columns():
    gen = pw.debug.StreamGenerator()
    df = pd.DataFrame({"a": [1, 2], "b": ["x", "y"], "_time": [2, 4], "_diff": [1, 1],
                       "_worker": [0, 1]})
    from_pandas = gen.table_from_pandas(df)
    from_markdown = gen.table_from_markdown(
        """
        a | b | _time | _diff | _worker
        1 | x | 2     | 1     | 0
        2 | y | 4     | 1     | 1
        1 | x | 6     | -1    | 0
        """
    )
    assert from_pandas.column_names() == from_markdown.column_names() == ["a", "b"]
    assert updates(from_pandas) == [(1, "x", 2, 1), (2, "y", 4, 1)]
    assert updates(from_markdown) == [(1, "x", 2, 1), (1, "x", 6, -1), (2, "y", 4, 1)]


def test_persistence_config_is_none_and_accepted_by_run():
    gen = pw.debug.StreamGenerator()
    t = gen.table_from_list_of_batches([[{"a": 1, "b": "x"}]], Letters)
    seen = []
    pw.io.subscribe(t, lambda key, row, time, is_addition: seen.append((row, time)))
    pw.run(persistence_config=gen.persistence_config())
    assert seen == [({"a": 1, "b": "x"}, 2)]
