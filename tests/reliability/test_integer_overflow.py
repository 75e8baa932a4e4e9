"""Integer arithmetic never wraps around: a result beyond int64 is an error value with a row in
the error log, everything else equals Python's exact integer result (issue class 1)."""

import operator

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import reflow as pw
from tests.reliability.helpers import rows, updates

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

_EDGES = [0, 1, -1, 2, -2, 3, 63, 64, 2**31, -(2**31), 2**32, 2**62, -(2**62), 3037000499,
          3037000500, 2**21, INT64_MAX, INT64_MIN, INT64_MAX - 1, INT64_MIN + 1]
int64s = st.one_of(st.sampled_from(_EDGES), st.integers(INT64_MIN, INT64_MAX),
                   st.integers(-100, 100))

_OPS = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "//": operator.floordiv,
    "%": operator.mod,
    "**": operator.pow,
}


def _expected(op: str, a: int, b: int):
    if op in ("//", "%") and b == 0:
        return pw.ERROR
    if op == "**" and (b < 0 or (b > 64 and abs(a) > 1)):
        return pw.ERROR
    result = _OPS[op](a, b)
    return result if INT64_MIN <= result <= INT64_MAX else pw.ERROR


def _table(pairs: list[tuple[int, int]]) -> pw.Table:
    frame = pd.DataFrame({"a": [a for a, _ in pairs], "b": [b for _, b in pairs]}, dtype="int64")
    return pw.debug.table_from_pandas(frame)


def _messages() -> list[str]:
    return [m for (m,) in rows(pw.global_error_log().select(pw.this.message))]


@pytest.mark.parametrize(
    ("a", "op", "b"),
    [(2**62, "*", 4), (2**62, "+", 2**62), (INT64_MIN, "-", 1), (2**62, "**", 3),
     (INT64_MIN, "//", -1), (3, "**", 40)],
)
def test_the_reported_wraparounds_are_error_values(a, op, b):
    t = _table([(a, b)])
    r = t.select(c=_apply(op, pw.this.a, pw.this.b))
    assert rows(r) == [(pw.ERROR,)]
    assert any(f"integer overflow in {op}" in m for m in _messages())


def test_unary_minus_of_the_smallest_int_is_an_error():
    t = _table([(INT64_MIN, 0), (5, 0)])
    r = t.select(c=-pw.this.a)
    assert rows(r) == sorted([(pw.ERROR,), (-5,)], key=repr)
    assert any("integer overflow in unary -" in m for m in _messages())


def test_abs_of_the_smallest_int_is_an_error():
    t = _table([(INT64_MIN, 0), (-5, 0)])
    r = t.select(c=pw.this.a.num.abs())
    assert rows(r) == sorted([(pw.ERROR,), (5,)], key=repr)
    assert any("num.abs: integer overflow" in m for m in _messages())


def test_results_at_the_edge_of_int64_are_exact():
    t = _table([(-2, 63), (2**31, 2)])
    r = t.select(p=pw.this.a ** pw.this.b, m=pw.this.a * pw.this.a)
    assert rows(r) == sorted([(INT64_MIN, 4), (2**62, 2**62)], key=repr)


def _apply(op: str, a, b):
    return {"+": a + b, "-": a - b, "*": a * b, "//": a // b, "%": a % b, "**": a**b}[op]


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(int64s, int64s), min_size=1, max_size=12))
def test_every_integer_operator_is_exact_or_an_error(pairs):
    t = _table(pairs)
    r = t.select(
        pw.this.a, pw.this.b,
        add=pw.this.a + pw.this.b, sub=pw.this.a - pw.this.b, mul=pw.this.a * pw.this.b,
        fdiv=pw.this.a // pw.this.b, mod=pw.this.a % pw.this.b,
        pow=pw.this.a ** (pw.this.b % 70), neg=-pw.this.a,
    )
    got = sorted(rows(r), key=repr)
    expected = sorted(
        [
            (a, b, _expected("+", a, b), _expected("-", a, b), _expected("*", a, b),
             _expected("//", a, b), _expected("%", a, b), _expected("**", a, b % 70),
             -a if a != INT64_MIN else pw.ERROR)
            for a, b in pairs
        ],
        key=repr,
    )
    assert got == expected


@settings(max_examples=20, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), int64s), min_size=1, max_size=20),
       st.integers(0, 2))
def test_int_sum_is_exact_or_an_error(values, extra_reducer):
    t = pw.debug.table_from_pandas(pd.DataFrame(
        {"g": [g for g, _ in values], "a": [a for _, a in values]}, dtype="int64"
    ))
    grouped = t.groupby(pw.this.g)
    if extra_reducer == 0:  # running sums only
        r = grouped.reduce(pw.this.g, s=pw.reducers.sum(pw.this.a))
    elif extra_reducer == 1:  # mixed with a reducer that keeps rows
        r = grouped.reduce(pw.this.g, s=pw.reducers.sum(pw.this.a), m=pw.reducers.max(pw.this.a))
        r = r.select(pw.this.g, pw.this.s)
    else:  # a sum over the whole table
        r = t.reduce(g=pw.reducers.min(pw.this.g), s=pw.reducers.sum(pw.this.a))
    totals: dict[int, int] = {}
    for g, a in values:
        key = g if extra_reducer != 2 else min(g for g, _ in values)
        totals[key] = totals.get(key, 0) + a
    expected = sorted(
        [(g, s if INT64_MIN <= s <= INT64_MAX else pw.ERROR) for g, s in totals.items()],
        key=repr,
    )
    assert rows(r) == expected


def test_sum_overflow_is_an_error_value_and_a_log_row_then_recovers():
    t = pw.debug.table_from_markdown(
        f"""
        g | a       | __time__ | __diff__
        1 | {2**62} | 2        | 1
        1 | {2**62} | 4        | 1
        1 | {2**62} | 6        | -1
        """
    )
    r = t.groupby(pw.this.g).reduce(pw.this.g, s=pw.reducers.sum(pw.this.a))
    assert updates(r) == sorted(
        [(1, 2**62, 2, 1), (1, 2**62, 4, -1), (1, pw.ERROR, 4, 1), (1, pw.ERROR, 6, -1),
         (1, 2**62, 6, 1)],
        key=repr,
    )
    assert any("integer overflow" in m for m in _messages())


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(int64s, int64s), min_size=1, max_size=200))
def test_checked_kernels_against_python_integers(pairs):
    """The vectorized kernels themselves, on many more cases than whole pipelines can run."""
    import polars as pl

    from reflow.plan.compile import _checked_int_op, _checked_int_power

    frame = pl.DataFrame({"a": [a for a, _ in pairs], "b": [b for _, b in pairs]},
                         schema={"a": pl.Int64, "b": pl.Int64})
    a, b = pl.col("a"), pl.col("b")
    for op in ("+", "-", "*", "//"):
        value, overflow = _checked_int_op(op, a, b)
        got = frame.select(value.alias("v"), overflow.alias("o")).rows()
        for (x, y), (v, o) in zip(pairs, got):
            if op == "//" and y == 0:
                continue
            exact = _OPS[op](x, y)
            fits = INT64_MIN <= exact <= INT64_MAX
            assert (o, v) == ((False, exact) if fits else (True, None)), (x, op, y)
    value, overflow = _checked_int_power(a, b % 70)
    got = frame.select(value.alias("v"), overflow.alias("o")).rows()
    for (x, y), (v, o) in zip(pairs, got):
        exact = x ** (y % 70)
        fits = INT64_MIN <= exact <= INT64_MAX
        assert (o, v) == ((False, exact) if fits else (True, None)), (x, "**", y)
