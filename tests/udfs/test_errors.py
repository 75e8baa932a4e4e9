"""UDF exceptions become error values and error-log rows, unless terminate_on_error."""

import pytest

import reflow as pw
from reflow.debug.output import collect_updates
from tests.utils import T, assert_rows, rows


def data():
    return T(
        """
          | a | b
        1 | 6 | 2
        2 | 1 | 0
        """
    )


def test_exception_gives_an_error_value_and_a_log_row():
    @pw.udf
    def ratio(a: int, b: int) -> float:
        return a / b

    r = data().select(pw.this.a, q=ratio(pw.this.a, pw.this.b))
    assert_rows(r, [(6, 3.0), (1, pw.ERROR)], terminate_on_error=False)
    # The log is global: keep the rows of this test's function.
    log = [
        m
        for (m,) in rows(pw.global_error_log().select(pw.this.message), terminate_on_error=False)
        if "ratio" in m
    ]
    assert len(log) == 1
    assert "ZeroDivisionError" in log[0] and "division by zero" in log[0]


def test_async_exception_and_fill_error():
    @pw.udf
    async def check(a: int) -> int:
        if a == 1:
            raise ValueError("one is not allowed")
        return a

    r = data().select(c=pw.fill_error(check(pw.this.a), -1))
    assert_rows(r, [(6,), (-1,)], terminate_on_error=False)
    log = rows(pw.global_error_log().select(pw.this.message), terminate_on_error=False)
    assert any("check" in m and "one is not allowed" in m for (m,) in log)


def test_terminate_on_error_stops_the_run():
    @pw.udf
    def explode(a: int) -> int:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        collect_updates(data().select(x=explode(pw.this.a)), terminate_on_error=True)
    with pytest.raises(RuntimeError, match="boom"):
        collect_updates(data().select(x=explode(pw.this.a)))  # the default


def test_error_in_argument_skips_the_call():
    calls = []

    @pw.udf
    def inc(x: int) -> int:
        calls.append(x)
        return x + 1

    r = data().select(y=inc(pw.this.a // pw.this.b))
    assert_rows(r, [(4,), (pw.ERROR,)], terminate_on_error=False)
    assert calls == [3]
