"""``pw.ml.classifiers``, ``pw.ml.smart_table_ops`` and ``pw.stdlib.utils``: results and
their revisions."""

from __future__ import annotations

import numpy as np
import pytest

import reflow as pw
from reflow.debug.output import collect_updates
from tests.utils import rows


def _vec(x: float) -> np.ndarray:
    return np.array([float(x)])


def test_a_corrected_training_label_revises_the_predictions_that_used_it() -> None:
    train = pw.debug.table_from_markdown("""
      | x | label | __time__ | __diff__
    1 | 0 | a     | 2        | 1
    2 | 1 | a     | 2        | 1
    3 | 9 | b     | 2        | 1
    2 | 1 | a     | 4        | -1
    2 | 1 | b     | 4        | 1
    """).select(pw.this.label, data=pw.apply_with_type(_vec, np.ndarray, pw.this.x))
    queries = pw.debug.table_from_markdown("""
       | x | __time__
    10 | 0 | 2
    11 | 8 | 2
    """).select(data=pw.apply_with_type(_vec, np.ndarray, pw.this.x))
    model = pw.ml.classifiers.knn_lsh_classifier_train(
        train.select(pw.this.data), L=4, type="euclidean", d=1, M=1, A=100.0)
    labels = pw.ml.classifiers.knn_lsh_classify(model, train.select(pw.this.label), queries,
                                                k=2)
    updates = sorted((t, r["predicted_label"], d) for t, _, r, d in collect_updates(labels))
    # query 0: neighbours 1 (a) and 2 (a -> b): a tie after the correction goes to the nearest
    # query 8: neighbours 3 (b) and 2 (a -> b): 'b' either way, so nothing is re-sent
    assert updates == [(2, "a", 1), (2, "b", 1)]
    assert rows(labels) == [("a",), ("b",)]


def test_knn_classifier_needs_the_number_of_dimensions() -> None:
    t = pw.debug.table_from_rows(pw.schema_from_types(data=np.ndarray), [(_vec(1),)])
    with pytest.raises(TypeError, match="d="):
        pw.ml.classifiers.knn_lsh_classifier_train(t, L=2)


def test_fuzzy_match_tables_with_a_confirmed_and_a_rejected_pair() -> None:
    left = pw.debug.table_from_markdown("""
      | name
    1 | red apple
    2 | green pear
    """)
    right = pw.debug.table_from_markdown("""
       | title
    11 | apple red
    12 | pear green
    13 | green apple
    """)
    plain = pw.ml.smart_table_ops.fuzzy_match_tables(left, right)
    named = plain.select(l=left.ix(plain.left).name, r=right.ix(plain.right).title)
    assert rows(named) == [("green pear", "pear green"), ("red apple", "apple red")]
    hand = pw.debug.table_from_markdown("""
      | l | r  | weight
    1 | 1 | 11 | -1.0
    2 | 2 | 13 | 2.0
    """).select(left=left.pointer_from(pw.this.l), right=right.pointer_from(pw.this.r),
                weight=pw.this.weight)
    corrected = pw.ml.smart_table_ops.fuzzy_match_tables(left, right, by_hand_match=hand)
    named = corrected.select(l=left.ix(corrected.left).name,
                             r=right.ix(corrected.right).title, w=corrected.weight)
    # "red apple" may not take "apple red" and "green apple" is confirmed for "green pear":
    # nothing is left for "red apple"
    assert rows(named) == [("green pear", "green apple", 2.0)]


def test_unpack_col_by_names_and_by_schema() -> None:
    t = pw.debug.table_from_markdown("""
    a | b
    1 | x
    """).select(pair=pw.make_tuple(pw.this.a, pw.this.b))

    class Named(pw.Schema):
        num: int
        text: str

    by_schema = pw.stdlib.utils.col.unpack_col(t.pair, schema=Named)
    assert by_schema.column_names() == ["num", "text"]
    assert rows(by_schema) == [(1, "x")]
    by_this = pw.stdlib.utils.col.unpack_col(t.pair, pw.this.n, pw.this.s)
    assert rows(by_this) == [(1, "x")]
    with pytest.raises(pw.BuildError, match="2 values, but 3 names"):
        pw.stdlib.utils.col.unpack_col(t.pair, "a", "b", "c")


def test_argmax_rows_follows_a_deleted_winner_and_majority_follows_votes() -> None:
    t = pw.debug.table_from_markdown("""
      | g | v | __time__ | __diff__
    1 | a | 5 | 2        | 1
    2 | a | 3 | 2        | 1
    3 | a | 3 | 2        | 1
    1 | a | 5 | 4        | -1
    """)
    best = pw.stdlib.utils.filtering.argmax_rows(t, t.g, what=t.v)
    assert sorted((tm, r["v"], d) for tm, _, r, d in collect_updates(best)) == [
        (2, 5, 1), (4, 3, 1), (4, 5, -1)]
    majority = pw.stdlib.utils.col.groupby_reduce_majority(t.g, t.v)
    assert sorted((tm, r["majority"], d) for tm, _, r, d in collect_updates(majority)) == [
        (2, 3, 1)]
