"""Expressions: Python semantics, None handling, errors at build time and at run time."""

import datetime

import pytest

import reflow as pw
from tests.utils import T, rows, updates


def nums():
    return T(
        """
        a  | b
        7  | 2
        -7 | 2
        7  | -2
        """
    )


def test_arithmetic_follows_python():
    t = nums()
    r = t.select(
        pw.this.a, pw.this.b,
        add=pw.this.a + pw.this.b, sub=pw.this.a - pw.this.b, mul=pw.this.a * pw.this.b,
        div=pw.this.a / pw.this.b, floordiv=pw.this.a // pw.this.b, mod=pw.this.a % pw.this.b,
        pow=pw.this.b ** 2, neg=-pw.this.a,
    )
    for a, b, add, sub, mul, div, floordiv, mod, power, neg in rows(r):
        assert (add, sub, mul, div, floordiv, mod, power, neg) == (
            a + b, a - b, a * b, a / b, a // b, a % b, b**2, -a
        )
    assert r.typehints()["div"] is float
    assert r.typehints()["floordiv"] is int


def test_mixed_int_float_and_literals_on_the_left():
    t = nums()
    r = t.select(x=1.5 * pw.this.a, y=10 - pw.this.b, z=2 ** pw.this.b.num.abs())
    assert r.typehints() == {"x": float, "y": int, "z": int}
    assert (10.5, 8, 4) in rows(r)


def test_comparisons_and_boolean_operators():
    t = nums()
    r = t.select(
        lt=pw.this.a < pw.this.b, ge=pw.this.a >= 7, eq=pw.this.a == 7, ne=pw.this.b != 2,
        both=(pw.this.a > 0) & (pw.this.b > 0), either=(pw.this.a > 0) | (pw.this.b > 0),
        one=(pw.this.a > 0) ^ (pw.this.b > 0), neither=~((pw.this.a > 0) | (pw.this.b > 0)),
    )
    assert sorted(rows(r)) == sorted([
        (False, True, True, False, True, True, False, False),
        (True, False, False, False, False, True, True, False),
        (False, True, True, True, False, True, True, False),
    ])


def test_string_concatenation_and_repetition():
    t = T(
        """
        s
        ab
        """
    )
    assert rows(t.select(c=pw.this.s + "!", r=pw.this.s * 3)) == [("ab!", "ababab")]


def test_none_handling():
    t = T(
        """
        a    | b
        1    | None
        None | 2
        """
    )
    assert t.typehints() == {"a": int | None, "b": int | None}
    r = t.select(
        a_none=pw.this.a.is_none(), b_some=pw.this.b.is_not_none(),
        c=pw.coalesce(pw.this.a, pw.this.b), eq_none=pw.this.a == None,  # noqa: E711
        req=pw.require(pw.this.a + 100, pw.this.b), s=pw.this.a + pw.this.b,
    )
    assert r.typehints()["c"] == int | None
    assert t.select(c=pw.coalesce(pw.this.a, 0)).typehints()["c"] is int
    assert sorted(rows(r), key=repr) == sorted(
        [(False, False, 1, False, None, None), (True, True, 2, True, None, None)], key=repr
    )


def test_if_else_evaluates_only_the_chosen_branch():
    t = T(
        """
        a | b
        6 | 3
        1 | 0
        """
    )
    r = t.select(q=pw.if_else(pw.this.b != 0, pw.this.a // pw.this.b, -1))
    log = pw.global_error_log()
    assert rows(r) == [(-1,), (2,)]
    assert rows(log) == []


def test_if_else_type_unification():
    t = nums()
    r = t.select(v=pw.if_else(pw.this.a > 0, pw.this.a, None), w=pw.if_else(True, 1, 2.5))
    assert r.typehints() == {"v": int | None, "w": float}


def test_cast_and_declare_type():
    t = T(
        """
        s   | f
        12  | 2.7
        x   | -1.5
        """
    )
    r = t.select(i=pw.cast(int, pw.this.f), s2=pw.cast(str, pw.this.f),
                 parsed=pw.fill_error(pw.cast(int, pw.this.s), -1))
    assert sorted(rows(r, terminate_on_error=False)) == [(-1, "-1.5", -1), (2, "2.7", 12)]
    assert t.select(d=pw.declare_type(float, pw.this.f)).typehints()["d"] is float
    assert rows(T("b\nTrue").select(s=pw.cast(str, pw.this.b))) == [("True",)]


def test_apply_and_apply_with_type():
    t = nums()

    def describe(a: int, b: int) -> str:
        return f"{a}/{b}"

    r = t.select(
        d=pw.apply(describe, pw.this.a, b=pw.this.b),
        n=pw.apply_with_type(lambda a: a * 2, int, pw.this.a),
    )
    assert r.typehints() == {"d": str, "n": int}
    assert ("7/2", 14) in rows(r)


def test_make_tuple_indexing_and_get():
    t = nums()
    r = t.select(tup=pw.make_tuple(pw.this.a, pw.this.b, "x"))
    assert r.typehints()["tup"] == tuple[int, int, str]
    s = r.select(first=pw.this.tup[0], last=pw.this.tup[-1], missing=pw.this.tup.get(9, 0))
    assert s.typehints() == {"first": int, "last": str, "missing": int}
    assert (7, "x", 0) in rows(s)


def test_unwrap_and_fill_error():
    t = T(
        """
        a
        1
        None
        """
    )
    r = t.select(u=pw.fill_error(pw.unwrap(pw.this.a), 0))
    assert r.typehints()["u"] is int
    assert sorted(rows(r, terminate_on_error=False)) == [(0,), (1,)]


def test_datetime_and_duration_arithmetic():
    schema = pw.schema_from_types(t=pw.DateTimeNaive, d=pw.Duration)
    t = pw.debug.table_from_rows(
        schema, [(datetime.datetime(2024, 1, 1, 12), datetime.timedelta(hours=1))]
    )
    r = t.select(
        later=pw.this.t + pw.this.d,
        gap=pw.this.t - (pw.this.t - pw.this.d),
        twice=pw.this.d * 2,
        ratio=pw.this.d / datetime.timedelta(minutes=30),
    )
    assert r.typehints() == {
        "later": pw.DateTimeNaive,
        "gap": pw.Duration,
        "twice": pw.Duration,
        "ratio": float,
    }
    assert rows(r) == [
        (
            datetime.datetime(2024, 1, 1, 13),
            datetime.timedelta(hours=1),
            datetime.timedelta(hours=2),
            2.0,
        )
    ]


# --- build-time errors ---------------------------------------------------------------------


def test_unknown_column_names_the_column_and_the_line():
    t = nums()
    with pytest.raises(pw.BuildError, match=r"no column 'c'.*test_expressions.py:\d+"):
        t.select(x=pw.this.c)


def test_type_mismatch_names_column_types_and_line():
    t = T(
        """
        name
        x
        """
    )
    with pytest.raises(pw.BuildError) as info:
        t.select(y=pw.this.name + 1)
    message = str(info.value)
    assert "'name'" in message and "STR" in message and "INT" in message
    assert "test_expressions.py" in message


def test_filter_needs_bool_and_expression_has_no_truth_value():
    t = nums()
    with pytest.raises(pw.BuildError, match="bool"):
        t.filter(pw.this.a)
    with pytest.raises(pw.BuildError, match="truth value"):
        bool(pw.this.a > 1)


def test_positional_select_argument_must_be_a_column():
    with pytest.raises(pw.BuildError, match="keyword"):
        nums().select(pw.this.a + 1)


# --- run-time errors -------------------------------------------------------------------------


def test_division_by_zero_is_an_error_value_logged_with_operator_and_reason():
    t = T(
        """
          | a | b
        1 | 1 | 0
        2 | 4 | 2
        """
    )
    r = t.select(q=pw.this.a // pw.this.b, p=pw.this.q if False else pw.this.a + 1)
    log = pw.global_error_log()
    assert sorted(rows(r, terminate_on_error=False), key=repr) == sorted(
        [(pw.ERROR, 2), (2, 5)], key=repr
    )
    entries = rows(log, terminate_on_error=False)
    assert len(entries) == 1
    operator, message, row_id = entries[0]
    assert "division by zero" in message and "test_expressions.py" in message
    assert "select" in operator
    assert row_id == pw.pointer_from(1)


def test_errors_propagate_and_filter_drops_error_rows():
    t = T(
        """
        a | b
        1 | 0
        4 | 2
        """
    )
    q = t.select(q=pw.this.a / pw.this.b)
    assert rows(q.select(r=pw.this.q + 1), terminate_on_error=False) == sorted(
        [(pw.ERROR,), (3.0,)], key=repr
    )
    assert rows(q.filter(pw.this.q > 0), terminate_on_error=False) == [(2.0,)]


def test_apply_exception_becomes_error_value():
    t = T(
        """
        a
        1
        0
        """
    )

    def inverse(x: int) -> float:
        return 1 / x

    r = t.select(v=pw.apply(inverse, pw.this.a))
    log = pw.global_error_log()
    assert sorted(rows(r, terminate_on_error=False), key=repr) == sorted(
        [(1.0,), (pw.ERROR,)], key=repr
    )
    [(_, message, _)] = rows(log, terminate_on_error=False)
    assert "inverse" in message and "ZeroDivisionError" in message


def test_apply_returning_wrong_type_is_an_error():
    t = T("a\n1")
    r = t.select(v=pw.apply_with_type(lambda x: "nope", int, pw.this.a))
    assert rows(r, terminate_on_error=False) == [(pw.ERROR,)]


def test_terminate_on_error_makes_errors_fatal():
    t = T(
        """
        a | b
        1 | 0
        """
    )
    with pytest.raises(ZeroDivisionError, match="division by zero"):
        pw.debug.compute_and_print(t.select(q=pw.this.a % pw.this.b), terminate_on_error=True)
    with pytest.raises(ZeroDivisionError, match="division by zero"):
        pw.debug.compute_and_print(t.select(q=pw.this.a // pw.this.b))  # the default


def test_error_value_is_retracted_when_input_is_fixed():
    t = T(
        """
          | a | b | __time__
        1 | 1 | 0 | 2
        1 | 1 | 1 | 4
        """
    )
    assert updates(t.select(q=pw.this.a // pw.this.b), terminate_on_error=False) == sorted(
        [(pw.ERROR, 2, 1), (pw.ERROR, 4, -1), (1, 4, 1)], key=repr
    )


def test_float_comparisons_with_nan_follow_python():
    t = pw.debug.table_from_rows(pw.schema_from_types(f=float), [(float("nan"),), (1.5,)])
    r = t.select(
        pw.this.f,
        lt=pw.this.f < 2.0,
        ge=pw.this.f >= 1.0,
        eq=pw.this.f == pw.this.f,
        ne=pw.this.f != pw.this.f,
    )
    [(_, *nan_row), one_five] = sorted(rows(r), key=lambda row: row[0] == row[0])
    assert nan_row == [False, False, False, True]
    assert one_five == (1.5, True, True, True, False)
