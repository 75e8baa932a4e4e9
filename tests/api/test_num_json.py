"""The ``.num`` namespace and Json access."""

import math
import random

import pytest

import reflow as pw
from tests.utils import T, rows, updates


def floats(values, optional=False):
    schema = pw.schema_from_types(x=float | None if optional else float)
    return pw.debug.table_from_rows(schema, [(v,) for v in values])


def ints(values, optional=False):
    schema = pw.schema_from_types(x=int | None if optional else int)
    return pw.debug.table_from_rows(schema, [(v,) for v in values])


def same(a, b):
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b and type(a) is type(b)


# --- .num -------------------------------------------------------------------------------


def test_abs_keeps_type_and_none():
    r = ints([-3, 4, None], optional=True).select(a=pw.this.x.num.abs())
    f = floats([-2.5, 0.0, float("-inf")]).select(a=abs(pw.this.x))
    assert r.typehints() == {"a": int | None}
    assert rows(r) == sorted([(3,), (4,), (None,)], key=repr)
    assert f.typehints() == {"a": float}
    assert sorted(v for (v,) in rows(f)) == [0.0, 2.5, math.inf]


@pytest.mark.parametrize("decimals", [0, 1, 2, 3, -1, -2, 6])
def test_round_floats_matches_python(decimals):
    rng = random.Random(decimals)
    values = [rng.uniform(-1000, 1000) for _ in range(400)]
    values += [0.45, 2.675, 1.005, 0.285, -0.45, 2.5, -2.5, 0.5, 1.5, 1e20, -0.0, 125.0]
    values += [float("inf"), float("nan")]
    r = floats(values).select(pw.this.x, r=pw.this.x.num.round(decimals))
    for x, rounded in rows(r):
        assert same(rounded, round(x, decimals)), (x, decimals, rounded)


@pytest.mark.parametrize("decimals", [0, 2, -1, -2, -3])
def test_round_ints_matches_python(decimals):
    values = [1250, 1350, -1250, -1350, 15, -15, 25, 7, 0, 999_999, -1_000_001]
    r = ints(values).select(pw.this.x, r=pw.this.x.num.round(decimals))
    assert r.typehints() == {"x": int, "r": int}
    for x, rounded in rows(r):
        assert same(rounded, round(x, decimals)), (x, decimals, rounded)


def test_round_none_and_bad_decimals():
    r = floats([1.25, None], optional=True).select(r=pw.this.x.num.round(1))
    assert rows(r) == sorted([(1.2,), (None,)], key=repr)
    with pytest.raises(pw.BuildError, match="decimals must be an int"):
        floats([1.0]).select(r=pw.this.x.num.round(1.5))


def test_fill_na():
    f = floats([1.5, float("nan"), None], optional=True)
    i = ints([3, None], optional=True)
    r = f.select(a=pw.this.x.num.fill_na(0), b=pw.this.x.num.fill_na(-1.5))
    s = i.select(a=pw.this.x.num.fill_na(0), b=pw.this.x.num.fill_na(0.5))
    assert r.typehints() == {"a": float, "b": float}
    assert rows(r) == sorted([(1.5, 1.5), (0.0, -1.5), (0.0, -1.5)], key=repr)
    assert s.typehints() == {"a": int, "b": float}
    assert rows(s) == sorted([(3, 3.0), (0, 0.5)], key=repr)


@pytest.mark.parametrize(
    "build", [lambda c: c.num.abs(), lambda c: c.num.round(), lambda c: c.num.fill_na(0)]
)
def test_num_on_str_column_fails_at_build_time(build):
    t = T(
        """
        s
        a
        """
    )
    with pytest.raises(pw.BuildError, match="expected an int or float column, got STR"):
        t.select(v=build(pw.this.s))


def test_num_error_values_propagate():
    t = T(
        """
        a | b
        1 | 0
        5 | 2
        """
    )
    r = t.select(v=(pw.this.a / pw.this.b).num.round(0).num.abs())
    assert rows(r, terminate_on_error=False) == sorted([(pw.ERROR,), (2.0,)], key=repr)


def test_update_stream_retraction_flows_through_num_methods():
    t = T(
        """
          | x    | __time__ | __diff__
        1 | -2.5 | 2        | 1
        2 | 3.5  | 2        | 1
        1 | -2.5 | 4        | -1
        1 | -7.5 | 4        | 1
        2 | 3.5  | 6        | -1
        2 | 0.5  | 8        | 1
        """
    )
    r = t.select(a=pw.this.x.num.abs(), r=pw.this.x.num.round())
    assert updates(r) == sorted(
        [
            (2.5, -2.0, 2, 1),
            (3.5, 4.0, 2, 1),
            (2.5, -2.0, 4, -1),
            (7.5, -8.0, 4, 1),
            (3.5, 4.0, 6, -1),
            (0.5, 0.0, 8, 1),
        ],
        key=repr,
    )
    assert rows(r) == [(0.5, 0.0), (7.5, -8.0)]


# --- Json -------------------------------------------------------------------------------

DOCS = [
    {"id": 1, "n": 5, "x": 2.5, "s": "a", "b": True, "z": None, "l": [10, 20], "o": {"k": "v"}},
    {"id": 2, "n": "five", "x": 7, "s": 3, "b": 0, "l": []},
]


def docs():
    return pw.debug.table_from_rows(pw.schema_from_types(data=pw.Json), [(d,) for d in DOCS])


def test_json_item_access_and_get():
    r = docs().select(
        i=pw.this.data["id"].as_int(),
        n=pw.this.data["n"],
        l1=pw.this.data["l"][1],
        k=pw.this.data["o"]["k"],
        g=pw.this.data.get("o", pw.Json({"k": "default"}))["k"],
        missing=pw.this.data["nope"],
    )
    assert r.typehints()["n"] == pw.Json
    got = {row[0]: row[1:] for row in rows(r)}
    assert got[1] == (pw.Json(5), pw.Json(20), pw.Json("v"), pw.Json("v"), pw.Json(None))
    assert got[2] == (
        pw.Json("five"), pw.Json(None), pw.Json(None), pw.Json("default"), pw.Json(None)
    )


def test_json_conversions():
    r = docs().select(
        i=pw.this.data["id"].as_int(),
        n=pw.this.data["n"].as_int(),
        x=pw.this.data["x"].as_float(),
        s=pw.this.data["s"].as_str(),
        b=pw.this.data["b"].as_bool(),
        z=pw.this.data.get("z").as_int(),
    )
    log = pw.global_error_log()
    assert r.typehints() == {
        "i": int | None, "n": int | None, "x": float | None, "s": str | None,
        "b": bool | None, "z": int | None,
    }
    # JSON null and missing keys give None; a value of the wrong kind is an error
    assert rows(r, terminate_on_error=False) == sorted(
        [(1, 5, 2.5, "a", True, None), (2, pw.ERROR, 7.0, pw.ERROR, pw.ERROR, None)],
        key=repr,
    )
    messages = sorted(m for _, m, _ in rows(log, terminate_on_error=False))
    assert len(messages) == 3
    assert any("as_int" in m and "'five'" in m for m in messages)
    assert any("as_str" in m for m in messages)
    assert any("as_bool" in m for m in messages)


def test_json_conversion_on_non_json_column_fails_at_build_time():
    t = T(
        """
        n
        1
        """
    )
    with pytest.raises(pw.BuildError, match="expected a Json column, got INT"):
        t.select(v=pw.this.n.as_int())


def test_update_stream_retraction_flows_through_json_access():
    rows_in = T(
        """
          | raw | __time__ | __diff__
        1 | 1   | 2        | 1
        2 | 2   | 2        | 1
        1 | 1   | 4        | -1
        1 | 3   | 4        | 1
        """
    )
    data = rows_in.select(
        data=pw.apply_with_type(lambda v: pw.Json({"v": v}), pw.Json, pw.this.raw)
    )
    r = data.select(v=pw.this.data["v"].as_int() * 10)
    assert updates(r) == sorted(
        [(10, 2, 1), (20, 2, 1), (10, 4, -1), (30, 4, 1)], key=repr
    )
    assert rows(r) == sorted([(20,), (30,)], key=repr)
