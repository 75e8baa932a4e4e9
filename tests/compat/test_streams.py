"""Tables to streams of upsert/delete events and back (``to_stream``, ``stream_to_table``,
``from_streams``), and which operations keep a table append-only, as in Pathway 0.33."""

from __future__ import annotations

import pytest

import reflow as pw
from tests.utils import rows, updates


def changing() -> pw.Table:
    return pw.debug.table_from_markdown(
        """
          | a | b | __time__ | __diff__
        1 | 2 | 3 |    2     |     1
        2 | 3 | 4 |    2     |     1
        1 | 2 | 3 |    4     |    -1
        1 | 4 | 5 |    4     |     1
        2 | 3 | 4 |    6     |    -1
        3 | 7 | 7 |    6     |     1
        3 | 7 | 7 |    8     |    -1
        """
    )


def events(table: pw.Table) -> list[tuple]:
    """The events of a stream as Pathway shows them: insertions only, in time order."""
    return sorted((u for u in updates(table) if u[-1] == 1), key=lambda u: (u[-2], repr(u)))


def test_to_stream_gives_an_upsert_per_change_and_a_deletion_with_the_last_values():
    stream = changing().to_stream()
    assert stream.column_names() == ["a", "b", "is_upsert"]
    assert stream.schema.typehints()["is_upsert"] is bool
    assert events(stream) == [
        (2, 3, True, 2, 1),
        (3, 4, True, 2, 1),
        (4, 5, True, 4, 1),  # an update is one upsert
        (3, 4, False, 6, 1),
        (7, 7, True, 6, 1),
        (7, 7, False, 8, 1),
    ]
    assert stream.is_append_only


def test_to_stream_keeps_the_ids_of_the_rows():
    table = changing()
    ids = set(pw.debug.table_to_dicts(table.to_stream())[0])
    assert ids == {pw.pointer_from(1), pw.pointer_from(2), pw.pointer_from(3)}


def test_to_stream_names_the_flag_column():
    stream = changing().to_stream(upsert_column_name="upsert")
    assert stream.column_names() == ["a", "b", "upsert"]
    with pytest.raises(ValueError, match="already has a column 'a'"):
        changing().to_stream("a")


def test_stream_to_table_reverses_to_stream():
    table = changing()
    back = table.to_stream().stream_to_table(pw.this.is_upsert)
    assert back.column_names() == ["a", "b", "is_upsert"]
    assert rows(back.without(pw.this.is_upsert)) == rows(table)
    assert updates(back.without(pw.this.is_upsert)) == updates(table)
    assert not back.is_append_only


def test_stream_to_table_upserts_deletes_and_ignores_deleting_an_absent_id():
    stream = pw.debug.table_from_markdown(
        """
          | a | is_upsert | __time__
        1 | 1 | True      | 2
        2 | 5 | True      | 2
        1 | 4 | True      | 4
        2 | 0 | False     | 6
        2 | 9 | False     | 8
        3 | 1 | False     | 8
        """
    )
    assert updates(stream.stream_to_table(pw.this.is_upsert)) == sorted([
        (1, True, 2, 1), (5, True, 2, 1), (1, True, 4, -1), (4, True, 4, 1), (5, True, 6, -1),
    ], key=repr)
    # Any boolean expression decides; the flag column stays a column.
    assert updates(stream.stream_to_table(pw.this.a > 2)) == sorted([
        (5, True, 2, 1), (4, True, 4, 1), (5, True, 6, -1), (9, False, 8, 1),
    ], key=repr)


def test_stream_to_table_needs_a_bool_flag():
    stream = pw.debug.table_from_markdown(
        """
        a
        1
        """
    )
    with pytest.raises(TypeError, match="is_upsert must be a bool"):
        stream.stream_to_table(pw.this.a)


def test_from_streams_applies_upserts_and_deletions_by_id():
    upserts = pw.debug.table_from_markdown(
        """
          | a | __time__
        1 | 1 | 2
        2 | 5 | 2
        1 | 4 | 4
        """
    )
    deletions = pw.debug.table_from_markdown(
        """
          | a | __time__
        2 | 0 | 6
        1 | 0 | 4
        """
    )
    table = pw.Table.from_streams(upserts, deletions)
    assert table.column_names() == ["a"]
    # At time 4 row 1 is both upserted and deleted: the upsert stays.
    assert updates(table) == sorted(
        [(1, 2, 1), (5, 2, 1), (1, 4, -1), (4, 4, 1), (5, 6, -1)], key=repr
    )
    assert not table.is_append_only


def letters() -> pw.Table:
    return pw.debug.table_from_markdown(
        """
        k | v
        a | 1
        b | 2
        a | 3
        """
    )


def retracting() -> pw.Table:
    return pw.debug.table_from_markdown(
        """
        k | v | __time__ | __diff__
        a | 1 | 2        | 1
        a | 1 | 4        | -1
        """
    )


@pytest.mark.parametrize(
    ("build", "expected"),
    [
        (lambda t: t.select(x=t.ix(t.pointer_from(pw.this.k)).v), True),
        (lambda t: t.select(x=retracting().ix(t.pointer_from(pw.this.k), optional=True).v),
         False),
        (lambda t: t.restrict(t), True),
        (lambda t: t.intersect(t.filter(pw.this.v > 1)), True),
        (lambda t: t.intersect(retracting()), False),
        (lambda t: t.update_cells(t.select(v=pw.this.v * 2)), True),
        (lambda t: t.update_cells(t.filter(pw.this.v > 1).select(v=pw.this.v * 2)), False),
        (lambda t: t.update_rows(t.with_id_from(pw.this.v)), False),
        (lambda t: t.interval_join(t.copy(), pw.left.v, pw.right.v,
                                   pw.temporal.interval(-1, 1)).select(pw.left.v), True),
        (lambda t: t.interval_join_left(t.copy(), pw.left.v, pw.right.v,
                                        pw.temporal.interval(-1, 1)).select(pw.left.v), False),
        (lambda t: t.window_join(t.copy(), pw.left.v, pw.right.v,
                                 pw.temporal.tumbling(2)).select(pw.left.v), False),
        (lambda t: retracting().to_stream(), True),
        (lambda t: t.deduplicate(value=pw.this.v, acceptor=lambda new, old: new > old), False),
    ],
)
def test_is_append_only_as_pathway_decides_it(build, expected):
    assert build(letters()).is_append_only is expected
