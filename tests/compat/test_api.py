"""Public names of Pathway's API that a program may use: table properties and helpers."""

from __future__ import annotations

import io
from contextlib import redirect_stdout

import pytest

import reflow as pw
from tests.utils import rows, rows_by_id, updates


def letters() -> pw.Table:
    return pw.debug.table_from_markdown(
        """
        k | v
        a | 1
        b | 2
        a | 3
        """
    )


@pytest.mark.parametrize(
    ("build", "expected"),
    [
        (lambda t: t, True),
        (lambda t: t.select(w=pw.this.v + 1, o=pw.apply(lambda v: v, pw.this.v)), True),
        (lambda t: t.filter(pw.this.v > 1).with_id_from(pw.this.v), True),
        (lambda t: t.join(t.copy(), pw.left.k == pw.right.k).select(pw.left.v), True),
        (lambda t: t.concat_reindex(t), True),
        (lambda t: t.select(l=pw.make_tuple(pw.this.v)).flatten(pw.this.l), True),
        (lambda t: t.with_columns(w=t.v * 2), True),
        (lambda t: t.groupby(pw.this.k).reduce(pw.this.k), False),
        (lambda t: t.join_left(t.copy(), pw.left.k == pw.right.k).select(pw.left.v), False),
        (lambda t: t.sort(pw.this.v), False),
        (lambda t: t.difference(t.filter(pw.this.v > 1)), False),
        (lambda t: t.windowby(pw.this.v, window=pw.temporal.tumbling(2)).reduce(
            n=pw.reducers.count()), False),
    ],
)
def test_is_append_only_follows_the_plan(build, expected):
    assert build(letters()).is_append_only is expected


def test_is_append_only_of_sources():
    streamed = pw.debug.table_from_markdown(
        """
        a | __time__
        1 | 2
        2 | 4
        """
    )
    retracted = pw.debug.table_from_markdown(
        """
        a | __time__ | __diff__
        1 | 2        | 1
        1 | 4        | -1
        """
    )
    assert streamed.is_append_only
    assert not retracted.is_append_only
    assert not retracted.select(b=pw.this.a).is_append_only


def test_remove_errors_drops_rows_with_an_error_in_any_column():
    t = pw.debug.table_from_markdown(
        """
        a | b
        1 | 0
        4 | 2
        6 | 3
        """
    )
    q = t.select(pw.this.a, q=pw.this.a // pw.this.b, r=pw.this.b // (pw.this.a - 4))
    kept = q.remove_errors()
    assert rows(kept, terminate_on_error=False) == [(6, 2, 1)]
    assert set(rows_by_id(kept, terminate_on_error=False)) <= set(rows_by_id(t))
    assert t.remove_errors() is t


def test_columns_by_name_and_the_type_of_an_expression():
    t = pw.debug.table_from_markdown(
        """
        select | a
        1      | 2
        """
    )
    assert rows(t.select(s=t.C.select + t.C["a"])) == [(3,)]
    with pytest.raises(AttributeError):
        _ = t.C.missing
    assert t.eval_type(t.a / 2) is float
    assert t.eval_type(t.a // 2) is int
    assert t.eval_type(pw.if_else(t.a > 1, t.a, None)) == int | None


def test_joins_and_groupby_as_functions():
    t = letters()
    names = pw.debug.table_from_markdown(
        """
        k | name
        a | alpha
        c | gamma
        """
    )
    assert rows(pw.join(t, names, t.k == names.k).select(pw.left.v, pw.right.name)) == [
        (1, "alpha"), (3, "alpha")
    ]
    assert rows(pw.join_inner(t, names, t.k == names.k).select(pw.left.v)) == [(1,), (3,)]
    assert rows(pw.join_left(t, names, t.k == names.k).select(pw.left.v, pw.right.name)) == [
        (1, "alpha"), (2, None), (3, "alpha")
    ]
    assert rows(pw.join_right(t, names, t.k == names.k).select(pw.right.name)) == [
        ("alpha",), ("alpha",), ("gamma",)
    ]
    assert len(rows(pw.join_outer(t, names, t.k == names.k).select(pw.left.v))) == 4
    grouped = pw.groupby(t, pw.this.k).reduce(pw.this.k, s=pw.reducers.sum(pw.this.v))
    assert rows(grouped) == [("a", 4), ("b", 2)]


def test_debug_prints_every_change_when_the_program_runs():
    t = pw.debug.table_from_markdown(
        """
          | v | __time__
        1 | 1 | 2
        1 | 2 | 4
        """
    )
    assert t.debug("values") is t
    out = io.StringIO()
    with redirect_stdout(out):
        pw.run()
    lines = [line.split(" id=")[0] + " " + line.split(", ", 1)[1] for line in
             out.getvalue().splitlines()]
    assert lines == ["[values] @2 +1 v=1", "[values] @4 -1 v=1", "[values] @4 +1 v=2"]


def test_filter_out_results_of_forgetting_keeps_the_window_results_pathway_shows():
    t = pw.debug.table_from_markdown(
        """
        t  | v | __time__
        1  | 1 | 2
        2  | 2 | 4
        10 | 3 | 6
        20 | 4 | 8
        """
    )
    behavior = pw.temporal.common_behavior(cutoff=1, keep_results=False)
    result = t.windowby(pw.this.t, window=pw.temporal.tumbling(3), behavior=behavior).reduce(
        st=pw.this._pw_window_start, s=pw.reducers.sum(pw.this.v)
    ).filter_out_results_of_forgetting()
    assert updates(result) == [
        (0, 1, 2, 1), (0, 1, 4, -1), (0, 3, 4, 1), (0, 3, 8, -1), (18, 4, 8, 1), (9, 3, 6, 1)
    ]
