"""pw.iterate: results, return shapes, build errors, and exactness under updates."""

from __future__ import annotations

import collections
from typing import cast

import pytest

import reflow as pw
from reflow.debug.output import collect_updates
from tests.utils import T, rows, updates


def _numbers():
    return T("""
    a | b
    1 | 2
    2 | 3
    5 | 5
    """)


def _count_to_ten(t):
    return t.select(a=pw.if_else(pw.this.a < 10, pw.this.a + 1, pw.this.a), b=pw.this.b)


def test_runs_to_the_fixed_point():
    assert rows(pw.iterate(_count_to_ten, t=_numbers())) == [(10, 2), (10, 3), (10, 5)]


def test_iteration_limit_caps_the_number_of_steps():
    result = pw.iterate(lambda t: dict(t=_count_to_ten(t)), iteration_limit=3, t=_numbers())
    assert rows(result.t) == [(4, 2), (5, 3), (8, 5)]
    assert rows(result["t"]) == [(4, 2), (5, 3), (8, 5)]


def test_a_limit_beyond_the_fixed_point_changes_nothing():
    assert rows(pw.iterate(_count_to_ten, iteration_limit=50, t=_numbers())) == [
        (10, 2), (10, 3), (10, 5)
    ]


def test_arguments_not_returned_are_constants_whose_updates_flow_in():
    limit = T("""
      | top | __time__ | __diff__
    1 | 4   | 2        | 1
    1 | 4   | 4        | -1
    1 | 7   | 4        | 1
    """)
    numbers = T("""
      | a | __time__
    1 | 1 | 2
    """)

    def step(t, limit):
        top = limit.reduce(top=pw.reducers.max(pw.this.top))
        capped = t.select(a=pw.if_else(t.a < top.ix_ref().top, t.a + 1, t.a))
        return dict(t=capped)

    result = pw.iterate(step, t=numbers, limit=limit).t
    assert updates(result) == [(4, 2, 1), (4, 4, -1), (7, 4, 1)]


def test_named_tuple_results_keep_their_type():
    pair = collections.namedtuple("pair", ["t"])
    result = pw.iterate(lambda t, c: pair(t=_count_to_ten(t)), t=_numbers(), c=_numbers())
    assert isinstance(result, pair)
    assert rows(result.t) == [(10, 2), (10, 3), (10, 5)]


def test_tables_of_the_program_read_inside_the_body_are_constants_too():
    offsets = T("""
      | step | __time__ | __diff__
    1 | 3    | 2        | 1
    1 | 3    | 4        | -1
    1 | 5    | 4        | 1
    """)
    start = T("""
      | a | __time__
    1 | 0 | 2
    """)

    def step(t):
        by = offsets.reduce(step=pw.reducers.max(pw.this.step))
        return t.select(a=pw.if_else(t.a < 10, t.a + by.ix_ref().step, t.a))

    assert updates(pw.iterate(step, t=start)) == [(10, 4, 1), (12, 2, 1), (12, 4, -1)]


def test_iterate_universe_lets_rows_leave_the_loop():
    t = T("""
    n
    1
    6
    12
    """)

    def halve_big(t):
        return t.filter(t.n > 1).select(n=pw.if_else(t.n > 3, t.n // 2, t.n))

    result = pw.iterate(halve_big, t=pw.iterate_universe(t))
    assert rows(result) == [(3,), (3,)]


def test_nested_loops():
    def outer(t):
        inner = pw.iterate(lambda u: u.select(a=pw.if_else(u.a % 5 != 0, u.a + 1, u.a)), u=t)
        return inner.select(a=pw.if_else(inner.a < 20, inner.a + 1, inner.a))

    t = T("""
    a
    1
    7
    """)
    assert rows(pw.iterate(outer, t=t)) == [(20,), (20,)]


@pytest.mark.parametrize(
    "func, message",
    [
        (lambda t: t.select(a=pw.this.a), "do not match"),
        (lambda t: t.select(a=pw.this.a, b=pw.this.b, c=1), "do not match"),
        (lambda t: t.select(a=pw.this.a * 1.0, b=pw.this.b), "do not match"),
        (lambda t: t.filter(pw.this.a > 1), "pw.iterate_universe"),
        (lambda t: dict(t=t, other=t), "not an argument"),
        (lambda t: 5, "must return a Table"),
        (lambda t: dict(t=5), "not a Table"),
    ],
)
def test_build_errors_say_what_is_wrong(func, message):
    with pytest.raises(pw.BuildError, match=message) as info:
        pw.iterate(func, t=_numbers())
    assert isinstance(info.value, ValueError)  # Pathway raises ValueError here


def test_returning_a_table_from_outside_the_loop_is_a_build_error():
    outside = _numbers()
    with pytest.raises(pw.BuildError, match="from outside the loop"):
        pw.iterate(lambda t: outside, t=_numbers())


def test_a_loop_table_used_outside_the_loop_is_reported():
    leaked = []

    def step(t):
        leaked.append(t)
        return _count_to_ten(t)

    pw.iterate(step, t=_numbers())
    with pytest.raises(ValueError, match="outside the loop"):
        collect_updates(leaked[0])


def _components(edges, constant_on_the_right=False):
    """Connected components by label propagation; the edges, a constant of the loop, are the
    join's left side, or its right side with ``constant_on_the_right``."""
    both = edges.select(u=edges.a, v=edges.b).concat_reindex(
        edges.select(u=edges.b, v=edges.a)
    )
    labels = both.groupby(both.u).reduce(n=both.u, label=pw.reducers.min(both.u))

    def step(labels, both):
        joined = (labels.join(both, labels.n == both.u) if constant_on_the_right
                  else both.join(labels, both.u == labels.n))
        offers = joined.select(n=both.v, label=labels.label)
        best = offers.concat_reindex(labels).groupby(pw.this.n).reduce(
            pw.this.n, label=pw.reducers.min(pw.this.label)
        )
        return dict(labels=labels.with_columns(label=best.ix_ref(labels.n).label))

    return pw.iterate(step, labels=labels, both=both).labels


def test_deleting_the_bridge_splits_the_component_again():
    edges = T("""
      | a | b | __time__ | __diff__
    1 | 1 | 2 | 2        | 1
    2 | 2 | 3 | 2        | 1
    3 | 3 | 4 | 2        | 1
    2 | 2 | 3 | 4        | -1
    4 | 4 | 1 | 6        | 1
    """)
    assert updates(_components(edges)) == sorted([
        (1, 1, 2, 1), (2, 1, 2, 1), (3, 1, 2, 1), (4, 1, 2, 1),
        (3, 1, 4, -1), (4, 1, 4, -1), (3, 3, 4, 1), (4, 3, 4, 1),
        (3, 3, 6, -1), (4, 3, 6, -1), (3, 1, 6, 1), (4, 1, 6, 1),
    ], key=repr)


def test_the_chain_grows_and_shrinks_with_the_depth_the_fixed_point_needs():
    # a path 1-2-...-8 needs 7 steps; cutting it in the middle needs fewer; joining more
    lines = ["  | a | b | __time__ | __diff__"]
    lines += [f"{i} | {i} | {i + 1} | 2 | 1" for i in range(1, 8)]
    lines += ["4 | 4 | 5 | 4 | -1", "9 | 8 | 9 | 6 | 1", "4 | 4 | 5 | 8 | 1"]
    result = _components(T("\n".join(lines)))
    state = {}
    by_time = {}
    for time, _, row, diff in sorted(collect_updates(result), key=lambda u: (u[0], u[3])):
        if diff > 0:
            state[row["n"]] = row["label"]
        else:
            assert state.pop(row["n"]) == row["label"]
        by_time[time] = dict(state)
    assert by_time[2] == dict.fromkeys(range(1, 9), 1)
    assert by_time[4] == {**dict.fromkeys(range(1, 5), 1), **dict.fromkeys(range(5, 9), 5)}
    assert by_time[6] == {**dict.fromkeys(range(1, 5), 1), **dict.fromkeys(range(5, 10), 5)}
    assert by_time[8] == dict.fromkeys(range(1, 10), 1)


def _components_constant_on_the_right(edges):
    return _components(edges, constant_on_the_right=True)


_BRIDGE = """
  | a | b | __time__ | __diff__
1 | 1 | 2 | 2        | 1
2 | 2 | 3 | 2        | 1
3 | 3 | 4 | 2        | 1
2 | 2 | 3 | 4        | -1
4 | 4 | 1 | 6        | 1
5 | 5 | 6 | 8        | 1
5 | 5 | 6 | 10       | -1
"""


@pytest.mark.parametrize("build", [_components, _components_constant_on_the_right])
def test_constant_edges_on_either_side_of_the_join_give_the_same_updates(build):
    # the edges are a constant of the loop, on the join's left or right side
    assert updates(build(T(_BRIDGE))) == sorted([
        (1, 1, 2, 1), (2, 1, 2, 1), (3, 1, 2, 1), (4, 1, 2, 1),
        (3, 1, 4, -1), (4, 1, 4, -1), (3, 3, 4, 1), (4, 3, 4, 1),
        (3, 3, 6, -1), (4, 3, 6, -1), (3, 1, 6, 1), (4, 1, 6, 1),
        (5, 5, 8, 1), (6, 5, 8, 1), (5, 5, 10, -1), (6, 5, 10, -1),
    ], key=repr)


@pytest.mark.parametrize("build", [_components, _components_constant_on_the_right])
def test_every_iteration_reads_one_arrangement_of_the_constant_edges(build):
    from reflow.engine.operators.iterate import IterateOperator
    from reflow.engine.operators.join import JoinOperator
    from tests.engine.replay import lower

    # a path 1-2-...-9 needs 8 iterations; then one more edge arrives and one leaves
    lines = ["  | a | b | __time__ | __diff__"]
    lines += [f"{i} | {i} | {i + 1} | 2 | 1" for i in range(1, 9)]
    lines += ["9 | 9 | 1 | 4 | 1", "3 | 3 | 4 | 6 | -1"]
    built = lower(lambda: build(T("\n".join(lines))))
    built.run(built.times)
    (loop,) = [op for op in built.dataflow.operators if isinstance(op, IterateOperator)]
    assert len(loop.instances) >= 8
    joins = [op for instance in loop.instances for op in instance.operators
             if isinstance(op, JoinOperator) and op.shared is not None]
    assert len(joins) == len(loop.instances)  # the join with the edges, in every iteration
    shared = {id((j.left, j.right)[cast(int, j.shared)].arrangement) for j in joins}
    assert len(shared) == 1  # one arrangement, not one per iteration
    arrangement = (joins[0].left, joins[0].right)[cast(int, joins[0].shared)].arrangement
    assert len(arrangement) == 2 * 8  # both directions of the 8 edges left at the end


def test_a_restored_loop_keeps_reading_one_arrangement_of_its_constants():
    from tests.oracle import model as m
    from tests.oracle.harness import check_snapshot_restore

    day = __import__("datetime").datetime(2024, 1, 1)

    def row(k: int, v: int) -> tuple:
        return (k, v, 0.0, "", None, (), day)

    stream = m.Stream((
        (m.Upsert(0, row(0, 1)), m.Upsert(1, row(1, 2)), m.Upsert(2, row(2, 3))),
        (m.Upsert(3, row(3, 4)),),
        (m.Delete(1),),
        (m.Upsert(1, row(1, 2)), m.Upsert(4, row(4, 0))),
    ))
    for kind in ("components", "shortest_paths"):
        case = m.Case({"t0": stream}, m.Iterate(m.Input("t0"), kind))
        for split in range(1, 4):
            check_snapshot_restore(case, split)


def test_a_constant_on_the_outer_side_of_a_left_join_in_the_body():
    # the edges are the outer side of a left join with the reached vertices: an edge leaving
    # an unreached vertex has no partner, and its target is listed as not reached (r false)
    edges = T("""
      | a | b | __time__ | __diff__
    1 | 1 | 2 | 2        | 1
    2 | 2 | 3 | 2        | 1
    3 | 4 | 5 | 2        | 1
    4 | 3 | 4 | 4        | 1
    2 | 2 | 3 | 6        | -1
    """)
    start = T("""
    n
    1
    """).groupby(pw.this.n).reduce(n=pw.this.n, r=True)

    def step(reach, edges):
        reached = reach.filter(reach.r)
        out = edges.join_left(reached, edges.a == reached.n).select(
            n=edges.b, r=pw.coalesce(reached.n, 0) > 0
        )
        both = reached.select(n=reached.n, r=True).concat_reindex(out)
        return dict(reach=both.groupby(both.n).reduce(n=both.n, r=pw.reducers.max(both.r)))

    reach = pw.iterate(step, reach=pw.iterate_universe(start), edges=edges).reach
    state: dict = {}
    by_time = {}
    for time, _, row, diff in sorted(collect_updates(reach), key=lambda u: (u[0], u[3])):
        if diff > 0:
            state[row["n"]] = row["r"]
        else:
            assert state.pop(row["n"]) == row["r"]
        by_time[time] = dict(state)
    assert by_time[2] == {1: True, 2: True, 3: True, 5: False}
    assert by_time[4] == {1: True, 2: True, 3: True, 4: True, 5: True}
    assert by_time[6] == {1: True, 2: True, 4: False, 5: False}


def test_fingerprints_of_few_and_many_rows_add_up():
    # a few rows are fingerprinted on Python ints, many with numpy: the sum must not care
    import math

    import polars as pl

    from reflow.engine.batch import DIFF, ID
    from reflow.engine.operators.iterate import add_hashes, multiset_hash

    def frame(ids, xs, ss, diffs):
        return pl.DataFrame({ID: pl.Series(ids, dtype=pl.UInt128), "x": xs, "s": ss,
                             DIFF: pl.Series(diffs, dtype=pl.Int64)})

    few = frame([1, 2**127 + 3, 5, 9], [1.5, None, -0.0, math.nan], ["a", None, "b", ""],
                [1, -1, 2, -3])
    many = frame(list(range(100, 140)), [float(i) for i in range(40)], ["z"] * 40, [1] * 40)
    both = pl.concat([few, many])
    assert add_hashes(multiset_hash(few), multiset_hash(many)) == multiset_hash(both)
    assert multiset_hash(few) != (0, 0)
    # object columns (tuples) too, and a different value gives a different fingerprint
    tuples = [pl.Series("t", [(i, "a")] * f.height, dtype=pl.Object) for i, f in
              enumerate((few, many))]
    few_t = few.clone().insert_column(1, tuples[0])
    many_t = many.clone().insert_column(1, tuples[1])
    assert add_hashes(multiset_hash(few_t), multiset_hash(many_t)) == multiset_hash(
        pl.concat([few_t, many_t]))
    assert multiset_hash(few_t) != multiset_hash(few)
