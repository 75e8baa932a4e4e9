"""``pw.indexing.DataIndex`` and ``pw.ml.index.KNNIndex``: revised and as-of-now answers
checked against from-scratch computations, and the cost of a change (only affected queries
are re-answered)."""

from __future__ import annotations

import numpy as np
import pytest

import reflow as pw
from reflow.debug.output import collect_updates
from tests.ml.streams import distance, exact_top, vector_table
from tests.utils import rows


def _random_stream(rng: np.random.Generator, n_times: int, dims: int):
    """Data changes over ``n_times`` times: inserts, updates, deletes; and the live rows
    after each time."""
    live: dict[int, np.ndarray] = {}
    changes, snapshots = [], []
    next_key = 0
    for t in range(n_times):
        time = 2 * (t + 1)
        for _ in range(int(rng.integers(1, 6))):
            action = rng.integers(0, 3) if live else 0
            if action == 0:
                vec = rng.normal(size=dims)
                live[next_key] = vec
                changes.append((next_key, vec, f"r{next_key}", time, 1))
                next_key += 1
            else:
                key = int(rng.choice(sorted(live)))
                old = live.pop(key)
                changes.append((key, old, f"r{key}", time, -1))
                if action == 1:  # an update: the same key with a new vector
                    vec = rng.normal(size=dims)
                    live[key] = vec
                    changes.append((key, vec, f"r{key}", time, 1))
        snapshots.append((time, dict(live)))
    return changes, snapshots


def _states(table: pw.Table) -> dict[int, dict]:
    """The table's state after each time: time -> {id: row}."""
    state: dict = {}
    out: dict[int, dict] = {}
    for time, row_id, row, diff in sorted(collect_updates(table), key=lambda u: (u[0], u[3])):
        if diff < 0:
            assert state.pop(row_id) == row
        else:
            assert row_id not in state
            state[row_id] = row
        out[time] = dict(state)
    return out


@pytest.mark.parametrize("metric", ["l2sq", "cos", "ip"])
def test_revised_answers_equal_a_from_scratch_search_at_every_time(metric: str) -> None:
    rng = np.random.default_rng(7)
    changes, snapshots = _random_stream(rng, n_times=8, dims=5)
    data = vector_table(changes)
    query_vectors = {100 + i: rng.normal(size=5) for i in range(6)}
    queries = vector_table([(k, v, f"q{k}", 2, 1) for k, v in query_vectors.items()])
    index = pw.indexing.DataIndex(data, pw.indexing.BruteForceKnn(
        data.vec, None, dimensions=5, metric=pw.indexing.BruteForceKnnMetricKind[metric.upper()]))
    answers = index.query(queries.vec, number_of_matches=3).select(
        q=pw.left.tag, tags=pw.right.tag, scores=pw.right._pw_index_reply_score)
    states = _states(answers)
    for time, live in snapshots:
        if time not in states:
            continue  # nothing changed at this time
        got = {row["q"]: row for row in states[time].values()}
        for key, qvec in query_vectors.items():
            row = got[f"q{key}"]
            assert list(row["tags"]) == exact_top(live, qvec, 3, metric), (time, key)
            expected = [-distance(live[int(t[1:])], qvec, metric) for t in row["tags"]]
            assert row["scores"] == pytest.approx(expected, abs=1e-5)


def test_a_data_change_re_answers_only_the_queries_it_enters_or_leaves() -> None:
    # Queries at 0, 10, 20, ... on a line; data rows next to each query.
    data = vector_table(
        [(i, np.array([10.0 * i + 1]), f"r{i}", 2, 1) for i in range(10)]
        + [(50, np.array([30.5]), "near q3", 4, 1)]  # enters q3's top-1 only
        + [(51, np.array([1000.0]), "far", 6, 1)]  # enters no top-1
        + [(7, np.array([71.0]), "r7", 8, -1)]  # leaves q7's answer only
        + [(9, np.array([91.0]), "r9", 8, -1), (9, np.array([90.5]), "r9", 8, 1)]
    )
    queries = vector_table([(100 + i, np.array([10.0 * i]), f"q{i}", 2, 1) for i in range(10)])
    index = pw.indexing.DataIndex(data, pw.indexing.BruteForceKnn(
        data.vec, None, dimensions=1, metric=pw.indexing.BruteForceKnnMetricKind.L2SQ))
    answers = index.query(queries.vec, number_of_matches=1).select(
        q=pw.left.tag, n=pw.right.tag)
    changed = sorted((t, r["q"], r["n"], d) for t, _, r, d in collect_updates(answers) if t > 2)
    assert changed == [
        (4, "q3", ("near q3",), 1), (4, "q3", ("r3",), -1),
        (8, "q7", ("r6",), 1), (8, "q7", ("r7",), -1),
    ]  # q9 was answered again (r9 moved) but kept its neighbour: the selected row is equal


def test_as_of_now_answers_are_not_revised_and_deleting_a_query_retracts_its_answer() -> None:
    data = vector_table([(1, np.array([0.0]), "a", 2, 1), (2, np.array([5.0]), "b", 6, 1)])
    queries = vector_table([(10, np.array([4.0]), "q", 4, 1), (10, np.array([4.0]), "q", 8, -1)])
    index = pw.indexing.DataIndex(data, pw.indexing.BruteForceKnn(
        data.vec, None, dimensions=1, metric=pw.indexing.BruteForceKnnMetricKind.L2SQ))
    answers = index.query_as_of_now(queries.vec, number_of_matches=1).select(
        q=pw.left.tag, n=pw.right.tag)
    updates = sorted((t, r["q"], r["n"], d) for t, _, r, d in collect_updates(answers))
    # b (nearer) arrives at 6: the answer given at 4 stands; the deletion at 8 retracts it
    assert updates == [(4, "q", ("a",), 1), (8, "q", ("a",), -1)]


def test_uncollapsed_answers_have_one_row_per_neighbour_and_queries_without_data_a_row() -> None:
    data = vector_table([(1, np.array([0.0]), "a", 2, 1), (2, np.array([3.0]), "b", 2, 1)])
    queries = vector_table([(10, np.array([1.0]), "q", 2, 1)])
    index = pw.indexing.DataIndex(data, pw.indexing.BruteForceKnn(
        data.vec, None, dimensions=1, metric=pw.indexing.BruteForceKnnMetricKind.L2SQ))
    flat = index.query(queries.vec, number_of_matches=2, collapse_rows=False).select(
        q=pw.left.tag, n=pw.right.tag, s=pw.right._pw_index_reply_score)
    assert rows(flat) == [("q", "a", -1.0), ("q", "b", -4.0)]
    empty = vector_table([(1, np.array([0.0]), "a", 2, 1), (1, np.array([0.0]), "a", 4, -1)])
    index = pw.indexing.DataIndex(empty, pw.indexing.BruteForceKnn(
        empty.vec, None, dimensions=1, metric=pw.indexing.BruteForceKnnMetricKind.L2SQ))
    flat = index.query(queries.vec, number_of_matches=2, collapse_rows=False).select(
        q=pw.left.tag, n=pw.right.tag)
    assert rows(flat) == [("q", None)]


def test_metadata_filter_restricts_the_candidates_per_query() -> None:
    data = pw.debug.table_from_rows(
        pw.schema_from_types(vec=np.ndarray, owner=str),
        [(np.array([0.0]), "alice"), (np.array([1.0]), "bob"), (np.array([5.0]), "alice")])
    data = data.with_columns(meta=pw.apply_with_type(lambda o: pw.Json({"owner": o}), pw.Json,
                                                     pw.this.owner))
    queries = pw.debug.table_from_rows(
        pw.schema_from_types(vec=np.ndarray, who=str, flt=str),
        [(np.array([1.0]), "any", None), (np.array([1.0]), "alice", "owner == 'alice'")])
    index = pw.indexing.DataIndex(data, pw.indexing.BruteForceKnn(
        data.vec, data.meta, dimensions=1, metric=pw.indexing.BruteForceKnnMetricKind.L2SQ))
    answers = index.query(queries.vec, number_of_matches=2, metadata_filter=queries.flt).select(
        pw.left.who, owners=pw.right.owner)
    assert rows(answers) == [("alice", ("alice", "alice")), ("any", ("bob", "alice"))]


def test_a_vector_of_the_wrong_length_is_reported_with_its_column_and_the_run_goes_on() -> None:
    data = pw.debug.table_from_rows(pw.schema_from_types(vec=np.ndarray, name=str),
                                    [(np.array([0.0, 1.0]), "ok"), (np.array([1.0]), "short")])
    queries = pw.debug.table_from_rows(pw.schema_from_types(vec=np.ndarray),
                                       [(np.array([0.0, 1.0]),)])
    index = pw.indexing.DataIndex(data, pw.indexing.BruteForceKnn(
        data.vec, None, dimensions=2, metric=pw.indexing.BruteForceKnnMetricKind.L2SQ))
    answers = index.query(queries.vec, number_of_matches=1).select(pw.right.name)
    errors = pw.global_error_log().select(pw.this.message)
    assert rows(answers) == [(("ok",),)]
    messages = [m for (m,) in rows(errors)]
    assert any("expected a vector of 2 numbers" in m and "_pw_index_vector" in m
               for m in messages), messages


def test_a_column_of_scalars_is_refused_when_the_pipeline_is_built() -> None:
    data = pw.debug.table_from_markdown("""
    x
    1
    """)
    with pytest.raises(pw.BuildError, match="must hold vectors"):
        pw.indexing.DataIndex(data, pw.indexing.BruteForceKnn(
            data.x, None, dimensions=1)).query(data.copy().x)


def test_usearch_and_lsh_find_the_exact_neighbours_of_a_small_set() -> None:
    rng = np.random.default_rng(3)
    vectors = {i: rng.normal(size=8) for i in range(40)}
    data = vector_table([(k, v, f"r{k}", 2, 1) for k, v in vectors.items()])
    qvec = rng.normal(size=8)
    queries = vector_table([(100, qvec, "q", 2, 1)])
    expected = exact_top(vectors, qvec, 3, "cos")
    usearch = pw.indexing.DataIndex(data, pw.indexing.USearchKnn(
        data.vec, None, dimensions=8, metric=pw.indexing.USearchMetricKind.COS))
    got = usearch.query_as_of_now(queries.vec, number_of_matches=3).select(pw.right.tag)
    assert rows(got) == [(tuple(expected),)]
    # one bucketing of one sign projection: half the space shares the query's bucket
    lsh = pw.indexing.DataIndex(data, pw.indexing.LshKnn(
        data.vec, None, dimensions=8, n_or=8, n_and=1, distance_type="cosine"))
    got = lsh.query(queries.vec, number_of_matches=3).select(pw.right.tag)
    assert rows(got) == [(tuple(expected),)]


def test_knn_index_returns_data_columns_distances_and_query_ids() -> None:
    data = pw.debug.table_from_markdown("""
    name | x | y
    a    | 0 | 0
    b    | 3 | 4
    """).select(pw.this.name, emb=pw.make_tuple(pw.this.x, pw.this.y))
    queries = pw.debug.table_from_markdown("""
    x | y
    3 | 3
    """).select(emb=pw.make_tuple(pw.this.x, pw.this.y))
    index = pw.ml.index.KNNIndex(data.emb, data, n_dimensions=2, bucket_length=100.0)
    collapsed = index.get_nearest_items(queries.emb, k=2, with_distances=True)
    assert collapsed.column_names() == ["name", "emb", "dist"]
    assert rows(collapsed) == [(("b", "a"), ((3, 4), (0, 0)), (1.0, 18.0))]
    flat = index.get_nearest_items_asof_now(queries.emb, k=1, collapse_rows=False,
                                            with_distances=True)
    assert flat.column_names() == ["query_id", "name", "emb", "dist"]
    ((query_id, *rest),) = rows(flat)
    assert rest == ["b", (3, 4), 1.0]
    assert query_id == next(iter(pw.debug.table_to_dicts(queries)[0]))
