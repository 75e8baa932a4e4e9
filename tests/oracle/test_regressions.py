"""Failing cases found by the oracle, shrunk by hypothesis, kept as plain regression tests.

A case that shows a bug not fixed yet is marked ``xfail(strict=True)``: when the bug is fixed
the test starts passing, the strict marker turns that into a failure, and the marker (and any
workaround in the generator) should then be removed.
"""

from __future__ import annotations

import datetime

import pytest

from . import model as m
from .harness import check_case
from .model import (
    Bin,
    Case,
    Col,
    Delete,
    Filter,
    GroupBy,
    Input,
    Lit,
    Not,
    Select,
    Stream,
    Upsert,
    inf,
    nan,
)

D0 = datetime.datetime(2024, 1, 1, 0, 0)


def test_nan_compares_false() -> None:
    """Every comparison with NaN is false except ``!=`` (IEEE 754, as in Python)."""
    # found as: Filter(Join(...), Not(f <= nan)); reflow kept NaN rows the reference dropped
    stream = Stream(((Upsert(0, (0, 0, nan, "", None, (), D0)),
                      Upsert(1, (0, 0, 1.5, "", None, (), D0))),))
    for op in ("<", "<=", "==", ">"):
        pipeline = Filter(Input("t0"), Bin(op, Col("f", "float"), Lit(nan, "float"), "bool"))
        check_case(Case({"t0": stream}, pipeline), skip_known=False)
    pipeline = Filter(Input("t0"), Not(Bin("<=", Col("f", "float"), Lit(nan, "float"), "bool")))
    check_case(Case({"t0": stream}, pipeline), skip_known=False)


def test_min_after_update_of_the_minimum_within_one_time() -> None:
    # the shrunk case of a planted "min is not recomputed on retraction" bug: insert v=-1 and
    # update the same row to v=0 in one time; the minimum must be 0
    stream = Stream(((Upsert(0, (0, -1, 0.0, "", None, (), D0)),
                      Upsert(0, (0, 0, 0.0, "", None, (), D0))),))
    check_case(Case({"t0": stream}, GroupBy(Input("t0"), (), (("a0", "min", "v"),))))


def test_delete_and_reinsert_within_one_time_under_groupby() -> None:
    stream = Stream((
        (Upsert(0, (1, 5, 0.0, "a", None, (), D0)), Upsert(1, (1, 3, 0.0, "b", 2, (1,), D0))),
        (Delete(1), Upsert(1, (1, 3, 0.0, "b", 2, (1,), D0)), Delete(0)),
        (Delete(1),),
    ))
    aggs = (("n", "count", None), ("lo", "min", "v"), ("hi", "max", "s"), ("t", "sum", "v"))
    check_case(Case({"t0": stream}, GroupBy(Input("t0"), ("k",), aggs)))


@pytest.mark.parametrize("reducer", ["sum", "avg"])
@pytest.mark.parametrize("removed", [(inf,), (nan,), (inf, -inf)], ids=["inf", "nan", "both"])
def test_float_sum_after_retracting_non_finite_values(reducer: str, removed: tuple) -> None:
    row = lambda f: (0, 0, f, "", None, (), D0)  # noqa: E731
    stream = Stream((
        (*(Upsert(i, row(f)) for i, f in enumerate(removed)), Upsert(9, row(1.5))),
        tuple(Delete(i) for i in range(len(removed))),
    ))
    check_case(Case({"t0": stream}, GroupBy(Input("t0"), ("k",), (("a", reducer, "f"),))))


def test_reduce_of_a_row_changed_several_times_within_one_time() -> None:
    # shrunk by the oracle from a generated case
    stream = Stream(((Upsert(0, (0, 0, 0.0, "", None, (), D0)),
                      Upsert(0, (1, 0, 0.0, "", None, (), D0)),
                      Upsert(0, (0, 0, 0.0, "", None, (), D0))),))
    check_case(Case({"t0": stream}, GroupBy(Input("t0"), (), (("a0", "sum", "k"),))),
               skip_known=False)


def test_reduce_of_a_row_changed_several_times_within_one_time_markdown() -> None:
    import reflow as pw
    from reflow.debug.output import final_state

    t = pw.debug.table_from_markdown(
        """
          | k | __time__
        1 | 0 | 2
        1 | 1 | 2
        1 | 0 | 2
        """
    )
    result = t.reduce(s=pw.reducers.sum(pw.this.k), n=pw.reducers.count())
    assert [(r["s"], r["n"]) for r in final_state(result).values()] == [(0, 1)]


def test_min_recomputed_when_the_minimum_row_is_deleted_or_updated() -> None:
    # the shrunk case the oracle printed for a deliberately planted bug (min not recomputed
    # when its row is retracted): the minimum must rise from 0 to 1 at time 6
    row = lambda k: (k, 0, 0.0, "", None, (), D0)  # noqa: E731
    stream = Stream((
        (Upsert(0, row(0)), Delete(0), Upsert(1, row(0))),
        (Upsert(0, row(1)),),
        (Delete(0), Upsert(1, row(1))),
        (),
    ))
    pipeline = GroupBy(Select(Input("t0"), (("c0", Col("k", "int")),)), (), (("a0", "min", "c0"),))
    check_case(Case({"t0": stream}, pipeline))


def test_knn_answer_is_re_emitted_when_a_neighbour_changes_its_columns_but_not_its_place() -> None:
    # every distance is 1 (inner product with a zero vector): the answer keeps the same row,
    # whose column v changed from 6 to 0
    row = (0, 0, 0.0, "", None, (), datetime.datetime(2024, 1, 1, 0, 0))
    case = m.Case(
        streams={"t0": m.Stream(times=(
            (m.Upsert(0, row), m.Upsert(2, (0, 0, 0.0, "", 0, (), row[6])),
             m.Upsert(0, (0, 6, *row[2:]))),
            (), (), (m.Upsert(0, row),)))},
        pipeline=m.Knn(data=m.Filter(m.Input("t0"), m.IsNone(m.Col("o", m.OINT), m.BOOL)),
                       queries=m.Input("t0"), k=1, index="ip", collapse=False))
    check_case(case)
