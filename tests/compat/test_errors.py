"""Run-time errors stop a run with the exception Python raises; build-time mistakes raise the
standard exception type for their kind."""

from __future__ import annotations

import pytest

import reflow as pw
from tests.utils import rows


def numbers() -> pw.Table:
    return pw.debug.table_from_markdown(
        """
        a | b | s
        1 | 0 | x
        4 | 2 | 5
        """
    )


@pytest.mark.parametrize("op", ["//", "/", "%"])
def test_division_by_zero_raises_zero_division_error_by_default(op):
    t = numbers()
    quotient = {"//": t.a // t.b, "/": t.a / t.b, "%": t.a % t.b}[op]
    with pytest.raises(ZeroDivisionError, match="division by zero"):
        pw.debug.compute_and_print(t.select(q=quotient))


def test_every_debug_helper_and_run_raise_the_original_exception():
    def failing() -> pw.Table:
        t = numbers()
        return t.select(q=t.a // t.b)

    with pytest.raises(ZeroDivisionError):
        pw.debug.compute_and_print_update_stream(failing())
    with pytest.raises(ZeroDivisionError):
        pw.debug.table_to_pandas(failing())
    with pytest.raises(ZeroDivisionError):
        pw.debug.table_to_dicts(failing())
    pw.io.null.write(failing())
    with pytest.raises(ZeroDivisionError):
        pw.run()
    pw.io.null.write(failing())
    with pytest.raises(ZeroDivisionError):
        pw.run_all(terminate_on_error=None)


def test_a_bad_cast_raises_value_error():
    t = numbers()
    with pytest.raises(ValueError):
        rows(t.select(q=pw.cast(int, t.s)))
    with pytest.raises(ValueError):
        rows(t.select(q=t.s.str.parse_int()))


def test_unwrap_of_none_raises_value_error():
    t = pw.debug.table_from_markdown(
        """
        a
        1
        None
        """
    )
    with pytest.raises(ValueError, match="unwrap"):
        rows(t.select(q=pw.unwrap(t.a)))


def test_a_udf_exception_is_raised_as_it_is():
    class Custom(Exception):
        pass

    @pw.udf
    def check(x: int) -> int:
        if x == 1:
            raise Custom("the user's own")
        return x

    with pytest.raises(Custom, match="the user's own"):
        rows(numbers().select(q=check(pw.this.a)))


def test_a_reducer_error_is_raised_as_it_is():
    t = numbers()
    with pytest.raises(ZeroDivisionError):
        rows(t.reduce(s=pw.reducers.sum(t.a // t.b)))


def test_terminate_on_error_false_keeps_error_values_and_the_log():
    t = numbers()
    result = t.select(q=t.a // t.b)
    assert sorted(rows(result, terminate_on_error=False), key=repr) == [(2,), (pw.ERROR,)]
    log = pw.global_error_log().select(pw.this.message)
    messages = [m for (m,) in rows(log, terminate_on_error=False)]
    assert any("division by zero" in m for m in messages)


def test_run_accepts_pathways_run_options():
    t = numbers()
    seen = []
    pw.io.subscribe(t, on_change=lambda key, row, time, is_addition: seen.append(row["a"]))
    pw.run(event_loop=None, udf_cache_directory=None, max_expression_batch_size=10)
    assert sorted(seen) == [1, 4]
    with pytest.raises(TypeError, match="unexpected"):
        pw.debug.compute_and_print(t, no_such_option=1)


@pytest.mark.parametrize(
    ("build", "kind"),
    [
        (lambda t: t.select(pw.this.zzz), KeyError),
        (lambda t: t["zzz"], KeyError),
        (lambda t: t.zzz, AttributeError),
        (lambda t: t.select(q=t.a + t.s), TypeError),
        (lambda t: t.select(q=t.a < t.s), TypeError),
        (lambda t: t.select(q=-t.s), TypeError),
        (lambda t: t.filter(t.a), TypeError),
        (lambda t: t.with_id(t.a), TypeError),
        (lambda t: t.ix(t.a), TypeError),
        (lambda t: t.select(q=pw.if_else(t.a, 1, 2)), TypeError),
        (lambda t: t.reduce(q=pw.reducers.sum(t.s)), TypeError),
        (lambda t: t.select(q=t.a["x"]), TypeError),
        (lambda t: t.flatten(t.a), TypeError),
        (lambda t: t.select(q=t.a.str.lower()), AttributeError),
        (lambda t: t.select(q=t.a.dt.year()), AttributeError),
        (lambda t: t.select(q=t.s.num.abs()), AttributeError),
        (lambda t: t.select(q=pw.make_tuple(t.a, t.b)[5]), IndexError),
        (lambda t: t.groupby(t.a).reduce(t.b), ValueError),
        (lambda t: t.concat(t.select(c=t.a)), ValueError),
        (lambda t: t.update_rows(t.select(c=t.a)), ValueError),
        (lambda t: bool(t.a == 1), RuntimeError),
    ],
)
def test_build_time_mistakes_raise_the_standard_exception_type(build, kind):
    t = pw.debug.table_from_markdown(
        """
        a | b | s
        1 | 2 | x
        """
    )
    with pytest.raises(kind) as raised:
        build(t)
    if kind is not AttributeError:  # t.zzz is Python's own attribute lookup
        assert isinstance(raised.value, pw.BuildError)
        assert "test_errors.py" in str(raised.value)


def test_pathways_warnings_are_issued():
    t = pw.debug.table_from_markdown(
        """
        a | s
        1 | 2024-01-01
        """
    )
    with pytest.warns(UserWarning, match="index 5 is out of range"):
        t.select(q=pw.make_tuple(pw.this.a, 2).get(5, 0))
    with pytest.warns(DeprecationWarning, match="without a unit"):
        t.select(q=pw.this.s.dt.strptime("%Y-%m-%d").dt.timestamp())
    with pytest.warns(UserWarning, match="subset of the ids of the update"):
        t.filter(pw.this.a > 0).update_rows(t)


def test_json_defaults_are_checked_when_the_program_is_built():
    t = pw.debug.table_from_rows(pw.schema_from_types(j=pw.Json), [({"a": 1},)])
    with pytest.raises(TypeError, match="Json value or None"):
        t.select(x=pw.this.j.get("a", 5))
    with pytest.raises(TypeError, match="not compatible with INT"):
        t.select(x=pw.this.j["a"].as_int(default="x"))
    with pytest.raises(TypeError, match="not compatible with BOOL"):
        t.select(x=pw.this.j["a"].as_bool(default=1))
    result = t.select(
        g=pw.this.j.get("b", pw.Json(5)), f=pw.this.j["b"].as_float(default=2), n=pw.this.j.get("b")
    )
    assert rows(result) == [(pw.Json(5), 2, None)]
