"""Values, types and build-time checks that match Pathway's (groups of values and crashes)."""

from __future__ import annotations

import datetime
import io
from contextlib import redirect_stdout

import pytest

import reflow as pw
from tests.utils import rows, rows_by_id


def durations() -> pw.Table:
    return pw.debug.table_from_markdown(
        """
        a  | b
        1  | 2
        -3 | 4
        5  | 0
        """
    ).with_columns(
        d=pw.this.a * datetime.timedelta(seconds=7), e=pw.this.b * datetime.timedelta(seconds=2)
    )


def test_floor_division_and_modulo_of_durations_follow_timedelta():
    t = durations().filter(pw.this.b != 0)
    result = t.select(pw.this.a, q=pw.this.d // pw.this.e, r=pw.this.d % pw.this.e,
                      h=pw.this.d // pw.this.b)
    expected = []
    for a, b in ((1, 2), (-3, 4)):
        d, e = datetime.timedelta(seconds=7 * a), datetime.timedelta(seconds=2 * b)
        expected.append((a, d // e, d % e, d // b))
    assert rows(result) == sorted(expected, key=repr)


def test_duration_division_by_zero_is_a_zero_division_error():
    t = durations()
    with pytest.raises(ZeroDivisionError):
        rows(t.select(q=pw.this.d // pw.this.e))
    values = rows(t.select(pw.this.a, q=pw.this.d % pw.this.e), terminate_on_error=False)
    assert (5, pw.ERROR) in values


def test_durations_print_as_pathway_prints_them():
    out = io.StringIO()
    with redirect_stdout(out):
        pw.debug.compute_and_print(durations().select(pw.this.d), include_id=False)
    assert out.getvalue().split("\n")[1:4] == [
        "-1 days +23:59:39", "0 days 00:00:07", "0 days 00:00:35"
    ]


def test_cast_of_a_string_to_bool_is_pythons_bool():
    t = pw.debug.table_from_markdown(
        """
        s
        x
        false
        """
    ).with_columns(empty=pw.this.s.str.slice(0, 0))
    assert rows(t.select(pw.this.s, b=pw.cast(bool, pw.this.s), e=pw.cast(bool, pw.this.empty))) \
        == [("false", True, False), ("x", True, False)]


def test_comparing_a_string_with_a_number_is_a_type_error():
    t = pw.debug.table_from_markdown(
        """
        s | a | f
        x | 1 | 1.0
        """
    )
    with pytest.raises(TypeError, match="=="):
        t.select(q=t.s == t.a)
    with pytest.raises(TypeError, match="!="):
        t.select(q=t.s != t.f)
    assert rows(t.select(q=t.a == t.f)) == [(True,)]


@pytest.mark.parametrize(
    ("unit", "rounded", "floored"),
    [
        ("D", (2024, 1, 3, 0, 0), (2024, 1, 2, 0, 0)),
        ("h", (2024, 1, 2, 14, 0), (2024, 1, 2, 13, 0)),
        ("H", (2024, 1, 2, 14, 0), (2024, 1, 2, 13, 0)),
        ("T", (2024, 1, 2, 13, 45), (2024, 1, 2, 13, 45)),
        ("30min", (2024, 1, 2, 14, 0), (2024, 1, 2, 13, 30)),
    ],
)
def test_round_and_floor_take_pandas_frequencies(unit, rounded, floored):
    t = pw.debug.table_from_markdown(
        """
        s
        2024-01-02T13:45:10
        """
    ).select(t=pw.this.s.dt.strptime("%Y-%m-%dT%H:%M:%S"))
    result = t.select(r=pw.this.t.dt.round(unit), f=pw.this.t.dt.floor(unit))
    assert rows(result) == [(datetime.datetime(*rounded), datetime.datetime(*floored))]


def test_an_id_depends_on_the_value_not_on_the_declared_type():
    t = pw.debug.table_from_markdown(
        """
        a | s
        1 | x
        2 | y
        """
    )
    loose = t.select(a=pw.apply(lambda a: a, pw.this.a), s=pw.apply(lambda s: s, pw.this.s))
    assert loose.typehints()["a"] is not int
    typed_ids = set(pw.debug.table_to_dicts(t.with_id_from(pw.this.a, pw.this.s))[0])
    loose_ids = set(pw.debug.table_to_dicts(loose.with_id_from(pw.this.a, pw.this.s))[0])
    assert typed_ids == loose_ids == {pw.pointer_from(1, "x"), pw.pointer_from(2, "y")}


def test_tuples_of_compatible_element_types_compare():
    t = pw.debug.table_from_markdown(
        """
        a | f
        1 | 1.5
        2 | 0.5
        """
    )
    result = t.select(pw.this.a, q=pw.make_tuple(pw.this.a, 1) < pw.make_tuple(pw.this.f, 2))
    assert rows(result) == [(1, True), (2, False)]


def test_json_get_without_default_is_optional():
    t = pw.debug.table_from_rows(pw.schema_from_types(j=pw.Json), [({"x": 1},)])
    types = t.select(
        a=pw.this.j["x"], b=pw.this.j.get("x"), c=pw.this.j.get("x", pw.Json(0))
    ).typehints()
    assert types == {"a": pw.Json, "b": pw.Json | None, "c": pw.Json}


def test_interpolate_fills_missing_values_linearly_and_follows_updates():
    t = pw.debug.table_from_markdown(
        """
          | t | v  | w  | __time__
        1 | 1 |    | 10 | 2
        2 | 2 | 2  |    | 2
        3 | 4 |    | 30 | 2
        4 | 5 | 5  |    | 2
        5 | 7 |    |    | 2
        6 | 8 | 11 | 80 | 2
        3 | 4 | 6  | 30 | 4
        """
    )
    result = t.interpolate(pw.this.t, pw.this.v, pw.this.w)
    assert result.typehints()["v"] == float | None
    assert rows(result) == [
        (1, 2.0, 10.0), (2, 2.0, 10 + 20 * 1 / 3), (4, 6.0, 30.0), (5, 5.0, 42.5),
        (7, 9.0, 67.5), (8, 11.0, 80.0),
    ]
    assert set(rows_by_id(result)) == set(rows_by_id(t))


def test_to_string_writes_values_as_pathway_does():
    t = pw.debug.table_from_rows(
        pw.schema_from_types(t=pw.DateTimeNaive, u=pw.DateTimeUtc, d=pw.Duration, j=pw.Json),
        [(
            datetime.datetime(2024, 1, 2, 13, 45, 10, 123456),
            datetime.datetime(2024, 1, 2, 12, 0, tzinfo=datetime.UTC),
            datetime.timedelta(seconds=1, microseconds=5),
            {"a": [1, "ż"]},
        )],
    )
    result = t.select(**{n: pw.this[n].to_string() for n in ("t", "u", "d", "j")})
    assert rows(result) == [(
        "2024-01-02T13:45:10.123456000",
        "2024-01-02T12:00:00.000000000+0000",
        "1000005000ns",
        '{"a":[1,"ż"]}',
    )]


def test_strptime_without_a_date_gives_the_first_of_january_1900():
    t = pw.debug.table_from_markdown(
        """
        h
        13:45
        """
    )
    assert rows(t.select(x=pw.this.h.dt.strptime("%H:%M"))) == [
        (datetime.datetime(1900, 1, 1, 13, 45),)
    ]


def test_a_reducer_can_read_columns_looked_up_with_ix():
    t = pw.debug.table_from_markdown(
        """
          | k | a | __time__
        1 | x | 1 | 2
        2 | x | 3 | 2
        3 | y | 5 | 2
        2 | x | 7 | 4
        """
    )
    labels = t.select(label=pw.this.k + "!")
    result = t.groupby(t.k).reduce(
        t.k, m=pw.reducers.max(labels.ix(t.id).label), s=pw.reducers.sum(t.ix(t.id).a) + 1
    )
    assert rows(result) == [("x", "x!", 9), ("y", "y!", 6)]
    assert rows(t.reduce(q=pw.reducers.max(t.ix(t.id).a))) == [(7,)]


def test_round_digits_and_strftime_format_may_be_columns():
    t = pw.debug.table_from_markdown(
        """
        x     | d | fmt
        1.234 | 1 | %Y
        5.678 | 2 | %m/%d
        """
    ).with_columns(t=pw.apply_with_type(lambda _: datetime.datetime(2024, 3, 9), pw.DateTimeNaive,
                                        pw.this.x))
    result = t.select(r=pw.this.x.num.round(pw.this.d), s=pw.this.t.dt.strftime(pw.this.fmt))
    assert rows(result) == [(1.2, "2024"), (5.68, "03/09")]


def test_a_temporal_join_accepts_an_int_and_a_float_time_column():
    ints = pw.debug.table_from_markdown(
        """
        t | a
        1 | 10
        3 | 30
        """
    )
    floats = pw.debug.table_from_markdown(
        """
        t   | g
        1.0 | 7
        2.5 | 8
        """
    )
    joined = ints.interval_join(floats, ints.t, floats.t, pw.temporal.interval(-1, 1)).select(
        pw.left.a, pw.right.g
    )
    assert rows(joined) == [(10, 7), (30, 8)]


def test_declare_type_moves_python_objects_into_the_declared_storage():
    t = pw.debug.table_from_markdown(
        """
        a | s
        1 | x
        2 | y
        """
    )
    loose = t.select(o=pw.apply(lambda a: a, pw.this.a), os=pw.apply(lambda s: s, pw.this.s))
    typed = loose.select(
        n=pw.declare_type(int, pw.this.o) + 1, u=pw.declare_type(str, pw.this.os).str.upper()
    )
    assert rows(typed) == [(2, "X"), (3, "Y")]
    wrong = loose.select(n=pw.declare_type(int, pw.this.os))
    with pytest.raises(TypeError, match="not of type INT"):
        rows(wrong)


def test_json_values_print_and_convert_as_in_pathway():
    assert repr(pw.Json({"a": 1})) == "pw.Json({'a': 1})"
    assert str(pw.Json({"w": "żółw"})) == '{"w": "żółw"}'
    assert pw.Json((1, 2)) == pw.Json([1, 2])
    t = pw.debug.table_from_rows(pw.schema_from_types(j=pw.Json), [({"n": 1.0},)])
    with pytest.raises(ValueError, match=r"cannot convert JSON value 1\.0 to an int"):
        rows(t.select(v=pw.this.j["n"].as_int()))


def test_matmul_of_array_columns():
    import numpy as np

    t = pw.debug.table_from_markdown(
        """
        a
        1
        2
        """
    ).select(
        pw.this.a,
        m=pw.apply_with_type(lambda a: np.array([[a, 0], [0, a]]), np.ndarray, pw.this.a),
        v=pw.apply_with_type(lambda a: np.array([1, a]), np.ndarray, pw.this.a),
    )
    result = t.select(pw.this.a, q=pw.this.m @ pw.this.v, s=pw.this.v @ pw.this.v)
    values = {a: (list(q), int(s)) for a, q, s in rows(result)}
    assert values == {1: ([1, 1], 2), 2: ([2, 4], 5)}
    with pytest.raises(TypeError):
        t.select(q=pw.this.a @ pw.this.a)


def test_json_conversions_take_a_default_and_unwrap():
    t = pw.debug.table_from_rows(pw.schema_from_types(j=pw.Json), [({"n": 2, "s": "t"},)])
    result = t.select(
        n=pw.this.j["n"].as_int(unwrap=True),
        m=pw.this.j["m"].as_int(default=7),
        f=pw.this.j["x"].as_float(default=1.5),
        s=pw.this.j["s"].as_str(default="d", unwrap=True),
    )
    assert result.typehints() == {"n": int, "m": int, "f": float, "s": str}
    assert rows(result) == [(2, 7, 1.5, "t")]
    with pytest.raises(ValueError, match="unwrap"):
        rows(t.select(v=pw.this.j["missing"].as_int(unwrap=True)))


def test_durations_and_date_times_keep_their_nanoseconds():
    import pandas as pd

    t = pw.debug.table_from_markdown(
        """
        a
        1
        """
    )
    result = t.select(
        d=pw.this.a * pd.Timedelta(1501, "ns"),
        s=(pw.this.a * pd.Timedelta(1501, "ns")).to_string(),
        u=pw.this.a * datetime.timedelta(microseconds=2),
        t=pd.Timestamp("2024-01-01T00:00:00.000000001") + pw.this.a * pd.Timedelta(1, "ns"),
    )
    [(d, s, u, stamp)] = rows(result)
    assert (d.value, s) == (1501, "1501ns")
    assert type(u) is datetime.timedelta and u == datetime.timedelta(microseconds=2)
    assert stamp == pd.Timestamp("2024-01-01T00:00:00.000000002")
    out = io.StringIO()
    with redirect_stdout(out):
        pw.debug.compute_and_print(result.select(pw.this.d), include_id=False)
    assert out.getvalue().split("\n")[1] == "0 days 00:00:00.000001501"


def test_tuples_of_an_intervals_over_window_are_in_time_order():
    t = pw.debug.table_from_markdown(
        """
        t | v
        4 | 40
        1 | 10
        3 | 30
        2 | 20
        """
    )
    at = pw.debug.table_from_markdown(
        """
        t
        2
        4
        """
    )
    window = pw.temporal.intervals_over(at=at.t, lower_bound=-2, upper_bound=0)
    result = t.windowby(pw.this.t, window=window).reduce(
        pw.this._pw_window_location, v=pw.reducers.tuple(pw.this.v),
        n=pw.reducers.ndarray(pw.this.t),
    )
    assert [(loc, v, list(n)) for loc, v, n in rows(result)] == [
        (2, (10, 20), [1, 2]), (4, (20, 30, 40), [2, 3, 4])
    ]


def test_a_temporal_join_accepts_a_float_and_an_int_time_named_with_left_and_right():
    floats = pw.debug.table_from_markdown(
        """
        t   | a
        1.0 | 1
        2.5 | 2
        """
    )
    ints = pw.debug.table_from_markdown(
        """
        t | b
        1 | 5
        3 | 6
        """
    )
    joined = floats.interval_join(ints, pw.left.t, pw.right.t, pw.temporal.interval(-1, 1))
    result = joined.select(pw.left.a, pw.right.b, lt=pw.left.t, rt=pw.right.t)
    assert result.typehints() == {"a": int, "b": int, "lt": float, "rt": int}
    assert rows(result) == [(1, 5, 1.0, 1), (2, 6, 2.5, 3)]
