"""Pieces of real Pathway programs that run unchanged on reflow."""

from __future__ import annotations

import datetime

import pytest

import reflow as pw
from tests.utils import rows, rows_by_id


def scores() -> pw.Table:
    return pw.debug.table_from_markdown(
        """
        name  | score
        alice | 10
        bob   | 7
        """
    )


def test_license_key_and_monitoring_config_are_accepted():
    assert pw.set_license_key("demo-license-key-with-telemetry") is None
    assert pw.set_license_key(None) is None
    assert pw.set_monitoring_config(server_endpoint="https://example.invalid") is None
    assert rows(scores()) == [("alice", 10), ("bob", 7)]


def test_adding_tables_adds_columns():
    t = scores()
    t += t.select(double=pw.this.score * 2)
    assert t.column_names() == ["name", "score", "double"]
    assert rows(t) == [("alice", 10, 20), ("bob", 7, 14)]
    u = scores()
    both = u + u.select(bonus=pw.this.score + 1)
    assert rows_by_id(both).keys() == rows_by_id(u).keys()


def test_adding_a_table_with_other_ids_is_rejected():
    other = pw.debug.table_from_markdown(
        """
        x
        1
        """
    )
    with pytest.raises(ValueError):
        scores() + other


def test_from_columns_takes_columns_of_one_table():
    t = scores()
    assert rows(pw.Table.from_columns(t.score, who=t.name)) == [(10, "alice"), (7, "bob")]


def test_schema_annotations_are_accepted():
    class Item(pw.Schema):
        name: str
        parent: pw.Pointer[pw.Schema] | None
        payload: pw.PyObjectWrapper[dict]

    def transform(table: pw.Table[Item]) -> pw.Table[Item]:
        return table

    assert Item.column_names() == ["name", "parent", "payload"]
    assert transform(scores()) is not None


def test_schema_from_dict_with_types_and_properties():
    schema = pw.schema_from_dict(
        {"k": {"dtype": int, "primary_key": True}, "v": str, "w": {"dtype": float,
                                                                  "default_value": 1.5}},
        name="Rows",
    )
    assert schema.__name__ == "Rows"
    assert schema.typehints() == {"k": int, "v": str, "w": float}
    assert schema.primary_key_columns() == ["k"]
    assert schema.default_values() == {"w": 1.5}
    with pytest.raises(ValueError, match="unknown keys"):
        pw.schema_from_dict({"k": {"type": int}})


def test_schema_from_csv_infers_types_from_the_rows(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text("id,price,label,flag\n1,2.5,x,True\n2,3,y,False\n")
    schema = pw.schema_from_csv(str(path))
    assert schema.typehints() == {"id": int, "price": float, "label": str, "flag": str}
    assert pw.schema_from_csv(str(path), num_parsed_rows=0).typehints()["id"] is str


def test_assert_table_has_schema():
    t = scores()
    pw.assert_table_has_schema(t, pw.schema_from_dict({"name": str}))
    with pytest.raises(AssertionError, match="score"):
        pw.assert_table_has_schema(t, pw.schema_from_dict({"name": str}), allow_superset=False)
    with pytest.raises(AssertionError, match="no columns"):
        pw.assert_table_has_schema(t, pw.schema_from_dict({"age": int}))


def test_load_yaml_builds_objects_and_resolves_variables():
    config = pw.load_yaml(
        """
        $size: 5
        $window: !pw.temporal.tumbling
          duration: $size
        window: $window
        limits: [$size, 2]
        schema: !pw.schema_from_dict
          columns:
            a: !builtins.int
        """
    )
    assert config["limits"] == [5, 2]
    assert config["window"].duration == 5
    assert config["schema"].typehints() == {"a": int}
    with pytest.raises(KeyError, match="missing"):
        pw.load_yaml("x: $missing\n")


def test_duration_and_datetime_from_strings():
    assert pw.Duration("10m") == datetime.timedelta(minutes=10)
    assert pw.Duration("1 day 2h") == datetime.timedelta(days=1, hours=2)
    assert pw.Duration(seconds=3) == datetime.timedelta(seconds=3)
    assert pw.DateTimeNaive("2024-01-02 03:04:05") == datetime.datetime(2024, 1, 2, 3, 4, 5)
    utc = pw.DateTimeUtc("2024-01-02T03:04:05+02:00")
    assert utc == datetime.datetime(2024, 1, 2, 1, 4, 5, tzinfo=datetime.UTC)
    with pytest.raises(ValueError):
        pw.DateTimeUtc("2024-01-02 03:04:05")
    t = pw.debug.table_from_markdown(
        """
        t
        1
        15
        """
    ).select(t=pw.this.t * pw.Duration("1m"))
    assert rows(t) == [(datetime.timedelta(minutes=1),), (datetime.timedelta(minutes=15),)]


def test_stateful_deduplicate_keeps_accepted_values():
    t = pw.debug.table_from_markdown(
        """
        k | v | __time__
        a | 1 | 2
        a | 5 | 4
        b | 2 | 4
        a | 6 | 6
        a | 9 | 8
        """
    )
    kept = pw.stateful.deduplicate(
        t, col=t.v, instance=t.k, acceptor=lambda new, old: new > old + 2
    )
    assert rows(kept) == [("a", 9), ("b", 2)]


def test_utils_filtering_keeps_the_rows_and_ids_of_the_extremes():
    t = pw.debug.table_from_markdown(
        """
        k | v
        a | 1
        a | 9
        b | 2
        """
    )
    best = pw.utils.filtering.argmax_rows(t, t.k, what=t.v)
    worst = pw.utils.filtering.argmin_rows(t, t.k, what=t.v)
    assert rows_by_id(best) == {pw.pointer_from(1): ("a", 9), pw.pointer_from(2): ("b", 2)}
    assert rows_by_id(worst) == {pw.pointer_from(0): ("a", 1), pw.pointer_from(2): ("b", 2)}


def test_demo_streams_deliver_their_rows(tmp_path):
    numbers = pw.demo.range_stream(nb_rows=5, offset=1, input_rate=0)
    assert rows(numbers) == [(1.0,), (2.0,), (3.0,), (4.0,), (5.0,)]
    custom = pw.demo.generate_custom_stream(
        {"i": lambda i: i, "label": lambda i: f"n{i}"},
        schema=pw.schema_from_types(i=int, label=str), nb_rows=3, input_rate=0,
    )
    assert rows(custom) == [(0, "n0"), (1, "n1"), (2, "n2")]
    path = tmp_path / "events.csv"
    path.write_text("t,v\n0,10\n2,20\n")
    schema = pw.schema_from_types(t=int, v=int)
    assert rows(pw.demo.replay_csv(path, schema=schema, input_rate=0)) == [(0, 10), (2, 20)]
    timed = pw.demo.replay_csv_with_time(
        str(path), schema=schema, time_column="t", unit="ms", speedup=10
    )
    assert rows(timed) == [(0, 10), (2, 20)]
    with pytest.raises(ValueError, match="value generator"):
        pw.demo.generate_custom_stream({}, schema=schema, nb_rows=1)


def test_flatten_puts_the_flattened_column_first():
    t = pw.debug.table_from_markdown(
        """
        a | b
        1 | 2
        """
    ).select(pw.this.a, pair=pw.make_tuple(pw.this.a, pw.this.b))
    flat = t.flatten(pw.this.pair)
    assert flat.column_names() == ["pair", "a"]
    assert rows(flat) == [(1, 1), (2, 1)]


def test_sum_strict_is_for_float_columns():
    t = pw.debug.table_from_markdown(
        """
        x   | n
        0.1 | 1
        0.2 | 2
        """
    )
    assert rows(t.reduce(s=pw.reducers.sum(t.x, strict=True))) == [(pytest.approx(0.3),)]
    with pytest.raises(ValueError, match="strict"):
        t.reduce(s=pw.reducers.sum(t.n, strict=True))


def test_run_options_of_pathway_are_accepted_by_debug_helpers():
    rows_seen = pw.debug.table_to_dicts(scores(), event_loop=None, udf_cache_directory=None)
    assert len(rows_seen[0]) == 2


def test_chained_joins_read_columns_of_every_input():
    a = pw.debug.table_from_markdown(
        """
        k | x
        1 | 10
        2 | 20
        3 | 30
        """
    )
    b = pw.debug.table_from_markdown(
        """
        k | y
        1 | 100
        2 | 200
        """
    )
    c = pw.debug.table_from_markdown(
        """
        y   | z
        100 | 7
        300 | 9
        """
    )
    inner = a.join(b, a.k == b.k).join(c, b.y == c.y)
    assert rows(inner.select(a.x, b.y, c.z)) == [(10, 100, 7)]
    assert rows(inner.select(*pw.left, pw.right.z)) == [(1, 10, 100, 7)]
    assert rows(inner.reduce(s=pw.reducers.sum(a.x + c.z))) == [(17,)]
    assert rows(inner.filter(a.x > 5).select(q=a.x * c.z)) == [(70,)]
    left = a.join_left(b, a.k == b.k).join_left(c, pw.left.y == pw.right.y)
    assert rows(left.select(a.x, pw.left.y, c.z)) == [
        (10, 100, 7), (20, 200, None), (30, None, None)
    ]


def test_a_python_subject_runs_again_in_every_run():
    class Numbers(pw.io.python.ConnectorSubject):
        def run(self):
            for n in range(3):
                self.next(n=n)

    t = pw.io.python.read(Numbers(), schema=pw.schema_from_types(n=int))
    first = rows_by_id(t)
    assert sorted(first.values()) == [(0,), (1,), (2,)]
    assert rows_by_id(t) == first  # the same rows with the same ids
    assert rows(t.reduce(s=pw.reducers.sum(pw.this.n))) == [(3,)]


def test_pw_this_ix_looks_up_rows_of_the_selected_table():
    t = pw.debug.table_from_markdown(
        """
          | a  | next
        1 | 10 | 2
        2 | 20 | 1
        """
    )
    linked = t.select(pw.this.a, p=pw.this.pointer_from(pw.this.next))
    result = linked.select(pw.this.a, after=pw.this.ix(pw.this.p).a + 1)
    assert rows(result) == [(10, 21), (20, 11)]


def test_literal_tables_with_the_same_ids_share_their_universe():
    left = pw.debug.table_from_markdown(
        """
        a
        1
        2
        """
    )
    right = pw.debug.table_from_markdown(
        """
        b
        3
        4
        """
    )
    assert rows(left.select(pw.this.a, b=right.b)) == [(1, 3), (2, 4)]
    assert rows(left + right) == [(1, 3), (2, 4)]
    assert rows(left.with_columns(right.b)) == [(1, 3), (2, 4)]
    rows_table = pw.debug.table_from_rows(pw.schema_from_types(c=int), [(5,), (6,)])
    assert rows(left + rows_table) == [(1, 5), (2, 6)]


@pytest.mark.parametrize(
    "other",
    [
        """
          | b
        1 | 5
        """,
        """
        b | __time__
        3 | 2
        4 | 4
        """,
    ],
)
def test_literal_tables_with_other_ids_or_times_keep_their_own_universe(other):
    left = pw.debug.table_from_markdown(
        """
        a | __time__
        1 | 2
        2 | 4
        """
    )
    with pytest.raises(ValueError):
        left.select(pw.this.a, b=pw.debug.table_from_markdown(other).b)


def test_session_windows_with_an_instance_reduce_the_instance_column_by_name():
    t = pw.debug.table_from_markdown(
        """
        t | v | user
        1 | 1 | a
        2 | 2 | a
        9 | 5 | a
        5 | 3 | b
        """
    )
    sessions = t.windowby(t.t, window=pw.temporal.session(max_gap=2), instance=t.user)
    result = sessions.reduce(pw.this.user, n=pw.reducers.count(), s=pw.reducers.sum(pw.this.v))
    assert result.column_names() == ["user", "n", "s"]
    assert rows(result) == [("a", 1, 5), ("a", 2, 3), ("b", 1, 3)]
    tumbling = t.windowby(t.t, window=pw.temporal.tumbling(3), instance=t.user)
    with pytest.raises(ValueError, match="neither a grouping column"):
        tumbling.reduce(pw.this.user)
