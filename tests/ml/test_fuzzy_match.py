"""``pw.ml.smart_table_ops.fuzzy_match`` / ``fuzzy_match_with_hint`` / ``fuzzy_self_match``
over explicit ``Edge`` and ``Feature`` tables: scores, matches and their revisions when a
reviewer's table changes. Expected values are worked out by hand below (they are also what
Pathway 0.33 gives on the same input)."""

from __future__ import annotations

import pytest

import reflow as pw
from reflow.debug.output import collect_updates
from tests.utils import rows

ops = pw.ml.smart_table_ops

# feature counts over both sides: red 2, apple 2, green 2, pear 3 (b, c, y)
LEFT = """
n | f     | w
a | red   | 1.0
a | apple | 1.0
b | green | 1.0
b | pear  | 0.5
c | pear  | 1.0
"""
RIGHT = """
n | f     | w
x | apple | 1.0
x | red   | 1.0
y | pear  | 1.0
z | green | 3.0
"""


def _features(normalization: int) -> pw.Table:
    return pw.debug.table_from_markdown(f"""
    name  | weight | normalization_type
    red   | 1.0    | {normalization}
    apple | 2.0    | {normalization}
    pear  | 1.0    | {normalization}
    green | 1.0    | {normalization}
    """, id_from=["name"])


def _nodes() -> pw.Table:
    return pw.debug.table_from_markdown("""
    name
    a
    b
    c
    x
    y
    z
    """, id_from=["name"])


def _edges(markdown: str, nodes: pw.Table, features: pw.Table) -> pw.Table:
    t = pw.debug.table_from_markdown(markdown)
    return t.select(node=nodes.pointer_from(pw.this.n),
                    feature=features.pointer_from(pw.this.f), weight=pw.this.w)


def _named(matches: pw.Table, nodes: pw.Table) -> pw.Table:
    return matches.select(l=nodes.ix(matches.left).name, r=nodes.ix(matches.right).name,
                          w=matches.weight)


@pytest.mark.parametrize(("normalization", "expected"), [
    # WEIGHT scales by 1/2**ceil(log2 n): a-x = 1*1*1*(1/2) + 1*1*2*(1/2); c-y = pear/4
    (ops.FuzzyJoinNormalization.WEIGHT, [("a", "x", 1.5), ("b", "z", 1.5), ("c", "y", 0.25)]),
    # LOGWEIGHT scales by 1/ceil(log2(n + 1)): 1/2 for n = 2 and n = 3
    (ops.FuzzyJoinNormalization.LOGWEIGHT,
     [("a", "x", 1.5), ("b", "z", 1.5), ("c", "y", 0.5)]),
    # NONE scales by n itself: a-x = 2 + 2*2, b-z = 3*2, c-y = 3
    (ops.FuzzyJoinNormalization.NONE, [("a", "x", 6.0), ("b", "z", 6.0), ("c", "y", 3.0)]),
])
def test_fuzzy_match_scores_shared_features_and_pairs_best_partners(
        normalization: int, expected: list) -> None:
    features, nodes = _features(int(normalization)), _nodes()
    matches = ops.fuzzy_match(_edges(LEFT, nodes, features), _edges(RIGHT, nodes, features),
                              features.select(pw.this.weight, pw.this.normalization_type))
    assert matches.column_names() == ["left", "right", "weight"]
    assert rows(_named(matches, nodes)) == expected


def test_a_hint_revises_the_matches_and_weights_that_depended_on_it() -> None:
    features, nodes = _features(int(ops.FuzzyJoinNormalization.WEIGHT)), _nodes()
    hint = pw.debug.table_from_markdown("""
      | l | r | weight | __time__ | __diff__
    1 | b | z | 7.0    | 4        | 1
    1 | b | z | 7.0    | 6        | -1
    """).select(left=nodes.pointer_from(pw.this.l), right=nodes.pointer_from(pw.this.r),
                weight=pw.this.weight)
    matches = ops.fuzzy_match_with_hint(
        _edges(LEFT, nodes, features), _edges(RIGHT, nodes, features),
        features.select(pw.this.weight, pw.this.normalization_type), hint)
    named = _named(matches, nodes)
    updates = sorted((t, r["l"], r["r"], r["w"], d) for t, _, r, d in collect_updates(named))
    # confirming b-z takes b's pear edge out of the count (3 -> 2): c-y rises from 1/4 to
    # 1/2; withdrawing the hint restores the automatic match and the old weight
    assert updates == [
        (0, "a", "x", 1.5, 1), (0, "b", "z", 1.5, 1), (0, "c", "y", 0.25, 1),
        (4, "b", "z", 1.5, -1), (4, "b", "z", 7.0, 1),
        (4, "c", "y", 0.25, -1), (4, "c", "y", 0.5, 1),
        (6, "b", "z", 1.5, 1), (6, "b", "z", 7.0, -1),
        (6, "c", "y", 0.25, 1), (6, "c", "y", 0.5, -1),
    ]
    assert rows(named) == [("a", "x", 1.5), ("b", "z", 1.5), ("c", "y", 0.25)]


def test_a_rejected_pair_sends_both_nodes_to_their_next_best_partner() -> None:
    features, nodes = _features(int(ops.FuzzyJoinNormalization.NONE)), _nodes()
    reject = pw.debug.table_from_markdown("""
    l | r | weight
    c | y | -1.0
    """).select(left=nodes.pointer_from(pw.this.l), right=nodes.pointer_from(pw.this.r),
                weight=pw.this.weight)
    matches = ops.fuzzy_match(_edges(LEFT, nodes, features), _edges(RIGHT, nodes, features),
                              features.select(pw.this.weight, pw.this.normalization_type),
                              by_hand_match=reject)
    # y's only other partner is b (pear, 0.5 * 3), but b prefers z (6.0): y stays alone
    assert rows(_named(matches, nodes)) == [("a", "x", 6.0), ("b", "z", 6.0)]


def test_fuzzy_self_match_pairs_distinct_nodes_once() -> None:
    features, nodes = _features(int(ops.FuzzyJoinNormalization.WEIGHT)), _nodes()
    edges = pw.Table.concat_reindex(_edges(LEFT, nodes, features),
                                    _edges(RIGHT, nodes, features))
    matches = ops.fuzzy_self_match(
        edges, features.select(pw.this.weight, pw.this.normalization_type))
    found = rows(_named(matches, nodes).select(
        pair=pw.apply_with_type(lambda a, b: "".join(sorted(a + b)), str, pw.this.l,
                                pw.this.r), w=pw.this.w))
    # each side now also sees its own side: b and c share pear (0.5 * 1 / 4), which loses
    # to b-z and c-y as before
    assert found == [("ax", 1.5), ("bz", 1.5), ("cy", 0.25)]
    ordered = rows(matches.select(ok=pw.this.left < pw.this.right))
    assert ordered == [(True,), (True,), (True,)]


def test_schemas_have_pathways_columns() -> None:
    assert ops.Edge.column_names() == ["node", "feature", "weight"]
    assert ops.Feature.column_names() == ["weight", "normalization_type"]
    assert ops.Node.column_names() == []
    assert ops.JoinResult.column_names() == ["left", "right", "weight"]
