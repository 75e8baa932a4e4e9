"""The correctness oracle: generated pipelines over generated update streams.

At every logical time the incrementally maintained output must equal a static run of the same
pipeline on the input snapshot at that time; pipelines of core operators must also equal the
plain-Python reference; subscribers must see whole times only; update streams must be
consolidated. See ``docs/oracle.md``.
"""

from __future__ import annotations

import datetime

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from . import model as m
from . import strategies as S
from .harness import (
    OracleFailure,
    canon,
    check_case,
    check_ray_workers,
    check_rescaled,
    check_sharding,
    check_snapshot_restore,
    check_workers,
    states_by_time,
)
from .profiles import oracle_settings

FEATURES = S.available()


@oracle_settings(scale=1.0)
@given(S.cases(core=True))
def test_core_pipelines_match_static_runs_and_reference(case: m.Case) -> None:
    check_case(case, reference=True)


@oracle_settings(scale=1.5)
@given(S.cases(core=False))
def test_all_operators_match_static_runs(case: m.Case) -> None:
    check_case(case, reference=True)


@oracle_settings(scale=0.5)
@given(S.cases(core=False, max_times=6, depth=4))
def test_deep_pipelines_and_long_streams(case: m.Case) -> None:
    check_case(case, reference=True)


@oracle_settings(scale=0.2)
@given(S.cases(core=False), st.integers(0, 8))
def test_snapshot_and_restore_at_a_random_time_changes_nothing(case: m.Case, split: int) -> None:
    check_snapshot_restore(case, split % (case.n_times() + 1))


@oracle_settings(scale=0.2)
@given(S.cases(core=False), st.integers(2, 4))
def test_sharded_stateful_operators_give_the_unsharded_output(case: m.Case, shards: int) -> None:
    check_sharding(case, shards)


@oracle_settings(scale=0.25)
@given(S.cases(core=False), st.sampled_from([2, 4]))
def test_whole_pipelines_on_several_workers_give_the_one_worker_stream(
    case: m.Case, workers: int
) -> None:
    check_workers(case, workers)


@oracle_settings(scale=0.25)
@given(S.cases(core=False), st.sampled_from([(2, 1), (2, 3), (3, 2), (1, 2)]), st.integers(0, 8))
def test_sharded_runs_restored_on_another_worker_count_give_the_one_worker_stream(
    case: m.Case, counts: tuple[int, int], split: int
) -> None:
    before, after = counts
    check_rescaled(case, before, after, split % (case.n_times() + 1))


@oracle_settings(scale=0.06)
@given(S.cases(core=False), st.sampled_from([2, 3]))
def test_whole_pipelines_on_ray_actors_give_the_one_worker_stream(
    ray_cluster, case: m.Case, actors: int
) -> None:
    check_ray_workers(case, actors)


@pytest.mark.skipif("deduplicate" not in FEATURES, reason="deduplicate has not landed")
@oracle_settings(scale=0.5)
@given(S.dedup_cases())
def test_deduplicate_matches_static_runs_on_the_history(case: m.Case) -> None:
    check_case(case, reference=False)


@pytest.mark.skipif("streams" not in FEATURES, reason="to_stream has not landed")
@oracle_settings(scale=0.5)
@given(S.cases(core=False), st.booleans(), st.integers(0, 8))
def test_stream_round_trips_give_the_table_back(case: m.Case, split: bool, at: int) -> None:
    """``to_stream`` and back (``stream_to_table`` or ``from_streams``) over any pipeline:
    the table again at every time, also after a snapshot and restore."""
    # A ``unique`` reducer over a group with two values stops the static run with an
    # AggregateError whatever follows it; such pipelines say nothing about streams.
    assume("'unique'" not in repr(case.pipeline))
    trip = m.Case(case.streams, m.StreamRoundTrip(case.pipeline, split))
    check_case(trip, reference=False)
    check_snapshot_restore(trip, at)


@pytest.mark.parametrize("kind", m.ITERATE_KINDS)
@settings(oracle_settings(scale=0.12))
@given(data=st.data())
def test_iterate_matches_from_scratch_fixed_points(kind: str, data: st.DataObject) -> None:
    """Components, shortest paths, a damped ranking and a fixed-point filter over edges that
    are inserted, updated and deleted: the loop's output at every time equals the fixed point
    a fresh run computes on that time's snapshot."""
    check_case(data.draw(S.iterate_cases(kind)), reference=False)


@pytest.mark.parametrize("kind", m.ITERATE_KINDS)
def test_iterate_when_only_a_constant_of_the_loop_changes(kind: str) -> None:
    """An edge between vertices that stay is inserted, then deleted: the loop's iterated
    tables do not change at those times, only its constants (the edges) do."""
    day = datetime.datetime(2024, 1, 1)

    def row(k: int, v: int) -> tuple:
        return (k, v, 0.0, "", None, (), day)

    stream = m.Stream((
        (m.Upsert(0, row(0, 1)), m.Upsert(1, row(1, 2)), m.Upsert(2, row(2, 3)),
         m.Upsert(4, row(3, 4))),
        (m.Upsert(3, row(0, 2)),),
        (m.Delete(3), m.Delete(1)),
        (m.Upsert(1, row(1, 2)), m.Upsert(2, row(3, 8))),
    ))
    check_case(m.Case({"t0": stream}, m.Iterate(m.Input("t0"), kind)), reference=False)


# --- the harness itself ------------------------------------------------------------------------

ROW_A = (1, 2, 0.5, "é", None, (1, 2), datetime.datetime(2024, 1, 1))
ROW_B = (1, 3, m.nan, "日本", 4, (), datetime.datetime(2024, 1, 2))


def test_hand_written_stream_with_every_kind_of_change() -> None:
    stream = m.Stream((
        (m.Upsert(0, ROW_A), m.Upsert(1, ROW_B), m.Upsert(2, ROW_A)),  # inserts, duplicates
        (m.Upsert(0, ROW_B), m.Delete(1)),  # update, delete
        (m.Upsert(1, ROW_A), m.Upsert(1, ROW_B), m.Delete(2), m.Upsert(2, ROW_B)),  # re-inserts
        (m.Delete(0), m.Upsert(0, ROW_A), m.Delete(0)),  # several changes, net deletion
    ))
    flt = m.Filter(m.Input("t0"), m.Bin(">", m.Col("v", m.INT), m.Lit(2, m.INT), m.BOOL))
    check_case(m.Case({"t0": stream}, flt))
    check_case(m.Case({"t0": stream}, m.Select(m.Input("t0"), (("x", m.Col("f", m.FLOAT)),))))


def test_empty_inputs() -> None:
    empty = m.Stream(((), ()))
    check_case(m.Case({"t0": empty}, m.Input("t0")))


def test_canonical_values_compare_nan_equal_and_keep_types_apart() -> None:
    assert canon(m.nan) == canon(float("nan"))
    assert canon(1) != canon(1.0) != canon(True)
    assert canon(0.0) == canon(-0.0)
    assert canon((1, m.nan)) == canon((1, float("nan")))


def test_unconsolidated_stream_is_reported() -> None:
    from reflow.engine.values import Pointer

    p = Pointer(5)
    updates = [(2, p, {"a": 1}, 1), (2, p, {"a": 1}, -1), (2, p, {"a": 1}, 1)]
    with pytest.raises(OracleFailure, match="not consolidated"):
        states_by_time(updates, ["a"], [2], "test")


def test_retraction_of_absent_row_is_reported() -> None:
    from reflow.engine.values import Pointer

    updates = [(2, Pointer(5), {"a": 1}, -1)]
    with pytest.raises(OracleFailure, match="not present"):
        states_by_time(updates, ["a"], [2], "test")


def test_output_at_a_time_without_input_is_reported() -> None:
    from reflow.engine.values import Pointer

    with pytest.raises(OracleFailure, match="no input changed"):
        states_by_time([(3, Pointer(5), {"a": 1}, 1)], ["a"], [2], "test")


def test_every_landed_stateful_operator_is_generated() -> None:
    """The generator covers each operator module that exists in this checkout."""
    from collections import Counter

    from hypothesis import HealthCheck, settings

    seen: Counter = Counter()

    @settings(max_examples=100, derandomize=True, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(S.pipelines(3))
    def collect(node: m.Node) -> None:
        seen.update(node.operators())

    collect()
    expected = {"groupby": {"GroupBy", "WithIdFrom"}, "join": {"Join"}, "sort": {"Sort"},
                "ix": {"Lookup"}, "deduplicate": set(),  # generated by dedup_cases
                "streams": {"StreamRoundTrip"},
                "universes": {"SplitConcat", "ConcatReindex", "UpdateRows", "UpdateCells",
                              "SetOp"}}
    for feature in FEATURES:
        for name in expected[feature]:
            assert seen[name] > 0, f"{name} never generated"


@oracle_settings(scale=0.5)
@given(S.knn_cases())
def test_knn_index_matches_static_runs(case: m.Case) -> None:
    """Revised nearest-neighbour answers equal a from-scratch index at every time."""
    check_case(case, reference=False)


@oracle_settings(scale=0.3)
@given(S.ml_cases("classify"))
def test_knn_classifier_labels_match_static_runs(case: m.Case) -> None:
    """Predicted labels follow training rows that come, change and go, as a from-scratch
    classification of each snapshot."""
    check_case(case, reference=False)


@oracle_settings(scale=0.3)
@given(S.ml_cases("fuzzy"))
def test_fuzzy_matches_with_corrections_match_static_runs(case: m.Case) -> None:
    """Fuzzy matches, with a reviewer's corrections that come, change and go, equal a
    from-scratch match of each snapshot."""
    check_case(case, reference=False)


@oracle_settings(scale=0.3)
@given(S.ml_cases("fuzzy_self"))
def test_fuzzy_self_matches_with_corrections_match_static_runs(case: m.Case) -> None:
    """Fuzzy self-matches over explicit edge and feature tables, with corrections that come,
    change and go, equal a from-scratch self-match of each snapshot."""
    check_case(case, reference=False)
