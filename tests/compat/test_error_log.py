"""``pw.local_error_log()``: errors of the operators built in a scope go to that scope's log."""

from __future__ import annotations

import pytest

import reflow as pw
from tests.utils import rows


def numbers() -> pw.Table:
    return pw.debug.table_from_markdown(
        """
        a | b
        6 | 2
        1 | 0
        """
    )


def messages(log: pw.Table) -> list[str]:
    return [m for (m,) in rows(log.select(pw.this.message), terminate_on_error=False)]


def test_errors_inside_the_scope_go_to_its_log_and_not_to_the_global_one() -> None:
    t = numbers()
    with pw.local_error_log() as local:
        inside = t.select(q=pw.this.a // pw.this.b)
    outside = t.select(r=pw.this.a % pw.this.b)
    local_messages = messages(local)
    global_messages = messages(pw.global_error_log())
    assert len(local_messages) == 1 and "//" in local_messages[0]
    assert len(global_messages) == 1 and "%" in global_messages[0]
    assert rows(inside, terminate_on_error=False) == [(3,), (pw.ERROR,)]
    assert rows(outside, terminate_on_error=False) == [(0,), (pw.ERROR,)]


def test_nested_scopes_keep_their_own_errors() -> None:
    t = numbers()
    with pw.local_error_log() as outer:
        first = t.select(q=pw.this.a // pw.this.b)
        with pw.local_error_log() as inner:
            second = t.select(q=pw.this.a % pw.this.b)
        third = t.select(q=pw.this.b // pw.this.b)
    assert [first, second, third]  # tables of the program (only live tables are run)
    assert sorted("%" in m for m in messages(outer)) == [False, False]
    assert ["%" in m for m in messages(inner)] == [True]


def test_a_scope_without_errors_gives_an_empty_log() -> None:
    t = numbers()
    with pw.local_error_log() as log:
        total = t.select(s=pw.this.a + pw.this.b)
    assert rows(total) == [(1,), (8,)]
    assert messages(log) == []
    assert log.column_names() == pw.global_error_log().column_names()


def test_the_first_error_still_stops_a_run_by_default() -> None:
    t = numbers()
    with pw.local_error_log():
        q = t.select(q=pw.this.a // pw.this.b)
    with pytest.raises(ZeroDivisionError):
        pw.debug.table_to_dicts(q)
