"""Fuzzy matching of two tables, with a reviewer's corrections taking precedence.

Every row is cut into lower-case word features. A feature's weight is scaled by the number
``n`` of rows (of both tables) that have it (``normalization``: ``LOGWEIGHT``
``1/ceil(log2(n + 1))``, ``WEIGHT`` ``1/2**ceil(log2(n))``, ``NONE`` ``n``); the score of a
pair of rows is the sum of the weights of the features they share. A left row and a right row
are matched when each is the other's best-scoring partner (ties go to the smaller id).
``fuzzy_match``, ``fuzzy_match_with_hint`` and ``fuzzy_self_match`` do the same over explicit
``Edge`` and ``Feature`` tables.

``by_hand_match`` is a table of ``left``, ``right`` (row ids) and ``weight``: a row with a
non-negative weight *confirms* the pair (it is matched with that weight, and neither of its
rows takes part in automatic matching or counts in feature weights); a negative weight
*rejects* the pair (it is never matched, and its rows look for their next best partner).
Adding, changing or deleting a correction re-derives every match that depends on it, and only
those.

>>> import reflow as pw
>>> suppliers = pw.debug.table_from_markdown('''
...   | name
... 1 | Acme Tools
... 2 | Globex Metals
... ''')
>>> invoices = pw.debug.table_from_markdown('''
...    | name
... 11 | ACME tools inc
... 12 | globex
... ''')
>>> matches = smart_fuzzy_match(suppliers.name, invoices.name)
>>> pw.debug.compute_and_print(matches.select(
...     s=suppliers.ix(matches.left).name, i=invoices.ix(matches.right).name),
...     include_id=False)
s             | i
Acme Tools    | ACME tools inc
Globex Metals | globex
"""

from __future__ import annotations

import enum
import math
import re
from typing import Any

from reflow.stdlib import _names as pw


class FuzzyJoinNormalization(enum.IntEnum):
    """How much a feature shared by ``n`` rows weighs."""

    WEIGHT = 1
    LOGWEIGHT = 2
    NONE = 3


class FuzzyJoinFeatureGeneration(enum.IntEnum):
    """How rows are cut into features (reflow uses words for every choice)."""

    AUTO = 1
    TOKENIZE = 2
    LETTERS = 3


class JoinResult(pw.Schema):
    """A match: the ids of the left and the right row, and its weight."""

    left: pw.Pointer
    right: pw.Pointer
    weight: float


_WORD = re.compile(r"\w+")


def _features(*values: Any) -> tuple:
    found: set[str] = set()
    for group, value in zip(values[::2], values[1::2], strict=True):
        if value is None:
            continue
        for word in _WORD.findall(str(value).lower()):
            found.add(f"{group}\x00{word}")
    return tuple(sorted(found))


def _feature_rows(table: Any, projection: dict[str, str]) -> Any:
    columns = projection or {name: "" for name in table.column_names()}
    args: list[Any] = []
    for column, group in columns.items():
        args.extend([group, table[column]])
    rows = table.select(node=table.id, weight=1.0,
                        feature=pw.apply_with_type(_features, tuple[str, ...], *args))
    return rows.flatten(pw.this.feature)


def _weight_of(normalization: Any) -> Any:
    kind = FuzzyJoinNormalization(normalization)
    if kind is FuzzyJoinNormalization.LOGWEIGHT:
        return lambda n: 1.0 / math.ceil(math.log2(n + 1)) if n else 0.0
    if kind is FuzzyJoinNormalization.WEIGHT:
        return lambda n: 1.0 / 2 ** math.ceil(math.log2(n)) if n else 0.0
    return float


class Node(pw.Schema):
    """A thing to be matched; only its id is used."""


class Feature(pw.Schema):
    """A feature that nodes may share: its ``weight`` and its ``normalization_type`` (a
    ``FuzzyJoinNormalization`` value, scaling the weight by how many edges carry it)."""

    weight: float
    normalization_type: int


class Edge(pw.Schema):
    """A node carrying a feature, with a ``weight``."""

    node: pw.Pointer
    feature: pw.Pointer
    weight: float


def _scale(count: int, normalization_type: int) -> float:
    return float(_weight_of(normalization_type)(count))


def _scored_pairs(edges_left: Any, edges_right: Any, features: Any, symmetric: bool) -> Any:
    """Pairs of nodes sharing a feature: ``left``, ``right``, ``weight``.

    ``features`` has a ``feature`` column (the value the edges' ``feature`` refers to),
    ``weight`` and ``normalization_type``; a shared feature adds the product of both edges'
    weights and of its weight scaled by the number of edges that carry it.
    """
    if symmetric:
        everywhere = edges_left.select(pw.this.feature)
    else:
        everywhere = pw.Table.concat_reindex(edges_left.select(pw.this.feature),
                                             edges_right.select(pw.this.feature))
    counts = everywhere.groupby(pw.this.feature).reduce(pw.this.feature,
                                                        n=pw.reducers.count())
    scales = counts.join(features, counts.feature == features.feature).select(
        pw.left.feature,
        w=pw.right.weight * pw.apply_with_type(_scale, float, pw.left.n,
                                               pw.right.normalization_type))
    shared = edges_left.join(edges_right, edges_left.feature == edges_right.feature).select(
        left=pw.left.node, right=pw.right.node, feature=pw.left.feature,
        w=pw.left.weight * pw.right.weight)
    if symmetric:
        shared = shared.filter(pw.this.left != pw.this.right)
    shared = shared.join(scales, shared.feature == scales.feature).select(
        pw.left.left, pw.left.right, w=pw.left.w * pw.right.w)
    return shared.groupby(pw.this.left, pw.this.right).reduce(
        pw.this.left, pw.this.right, weight=pw.reducers.sum(pw.this.w))


def _fuzzy(edges_left: Any, edges_right: Any, features: Any, by_hand_match: Any,
           symmetric: bool) -> Any:
    """Scores and matches the nodes of two edge tables (one table twice when ``symmetric``).

    Nodes of a confirmed pair take no part in scoring: their edges are left out before
    features are counted.
    """
    if by_hand_match is not None:
        confirmed = by_hand_match.filter(pw.cast(float, pw.this.weight) >= 0)
        taken = pw.Table.concat_reindex(confirmed.select(node=pw.this.left),
                                        confirmed.select(node=pw.this.right))
        edges_left = _without_nodes(edges_left, taken if symmetric
                                    else confirmed.select(node=pw.this.left))
        edges_right = edges_left.copy() if symmetric else _without_nodes(
            edges_right, confirmed.select(node=pw.this.right))
    pairs = _scored_pairs(edges_left, edges_right, features, symmetric)
    return _matches(pairs, by_hand_match, symmetric)


def _without_nodes(edges: Any, nodes: Any) -> Any:
    nodes = nodes.groupby(pw.this.node).reduce(pw.this.node)
    return edges.join_left(nodes, edges.node == nodes.node, id=edges.id).filter(
        pw.right.node.is_none()).select(*pw.left)


def _matches(pairs: Any, by_hand_match: Any, symmetric: bool) -> Any:
    """Mutual best partners among ``pairs`` (each once, ``left < right``, when
    ``symmetric``), after a reviewer's corrections."""
    confirmed = None
    if by_hand_match is not None:
        pairs, confirmed = _apply_corrections(pairs, by_hand_match)
    from reflow.stdlib.utils.filtering import argmax_rows

    rank = pairs.weight
    if symmetric:
        # (a, b) and (b, a) must rank alike, or a tie could make neither mutual
        low = pw.if_else(pairs.left < pairs.right, pairs.left, pairs.right)
        high = pw.if_else(pairs.left < pairs.right, pairs.right, pairs.left)
        pairs = pairs.with_columns(_rank=pw.make_tuple(pairs.weight, low, high))
        rank = pairs["_rank"]
    best_for_left = argmax_rows(pairs, pairs.left, what=rank)
    best_for_right = argmax_rows(pairs, pairs.right, what=rank)
    mutual = best_for_left.join(best_for_right, best_for_left.id == best_for_right.id,
                                id=best_for_left.id).select(*pw.left)
    if symmetric:
        mutual = mutual.filter(pw.this.left < pw.this.right).without(pw.this["_rank"])
    if confirmed is None:
        return mutual
    return mutual.promise_universes_are_disjoint(confirmed).concat(confirmed)


def _keyed_features(features: Any) -> Any:
    return features.select(feature=features.id, weight=pw.cast(float, pw.this.weight),
                           normalization_type=pw.this.normalization_type)


def fuzzy_match(edges_left: Any, edges_right: Any, features: Any, by_hand_match: Any = None,
                HEAVY_LIGHT_THRESHOLD: int = 100) -> Any:
    """Matches between the nodes of ``edges_left`` and of ``edges_right`` (tables of
    ``Edge``) through the ``features`` (a table of ``Feature``) they share.

    A pair of nodes scores the sum, over shared features, of both edges' weights times the
    feature's weight scaled by its ``normalization_type`` and the number of edges carrying
    it; two nodes are matched when each is the other's best partner. ``by_hand_match`` works
    as in ``fuzzy_match_tables``. ``HEAVY_LIGHT_THRESHOLD`` is accepted for compatibility:
    scores are always exact.

    >>> import reflow as pw
    >>> from reflow.stdlib.ml.smart_table_ops import fuzzy_match
    >>> features = pw.debug.table_from_markdown('''
    ... name  | weight | normalization_type
    ... red   | 1.0    | 3
    ... apple | 1.0    | 3
    ... pear  | 1.0    | 3
    ... ''', id_from=["name"])
    >>> nodes = pw.debug.table_from_markdown('''
    ... name
    ... a
    ... b
    ... x
    ... y
    ... ''', id_from=["name"])
    >>> def edges(markdown):
    ...     t = pw.debug.table_from_markdown(markdown)
    ...     return t.select(node=nodes.pointer_from(pw.this.n),
    ...                     feature=features.pointer_from(pw.this.f), weight=1.0)
    >>> left = edges('''
    ... n | f
    ... a | red
    ... a | apple
    ... b | pear
    ... ''')
    >>> right = edges('''
    ... n | f
    ... x | pear
    ... y | apple
    ... ''')
    >>> m = fuzzy_match(left, right, features.select(pw.this.weight,
    ...                                               pw.this.normalization_type))
    >>> pw.debug.compute_and_print(m.select(l=nodes.ix(m.left).name,
    ...                                     r=nodes.ix(m.right).name, w=m.weight),
    ...                            include_id=False)
    l | r | w
    a | y | 2.0
    b | x | 2.0
    """
    return _fuzzy(edges_left, edges_right, _keyed_features(features), by_hand_match,
                  symmetric=False)


def fuzzy_match_with_hint(edges_left: Any, edges_right: Any, features: Any,
                          by_hand_match: Any, HEAVY_LIGHT_THRESHOLD: int = 100) -> Any:
    """``fuzzy_match`` with a reviewer's ``by_hand_match`` table, which must be given.

    >>> import reflow as pw
    >>> from reflow.stdlib.ml.smart_table_ops import fuzzy_match_with_hint
    >>> features = pw.debug.table_from_markdown('''
    ... name  | weight | normalization_type
    ... apple | 1.0    | 3
    ... ''', id_from=["name"])
    >>> t = pw.debug.table_from_markdown('''
    ... n | f
    ... a | apple
    ... ''')
    >>> left = t.select(node=t.pointer_from("a"),
    ...                 feature=features.pointer_from(pw.this.f), weight=1.0)
    >>> right = t.select(node=t.pointer_from("x"),
    ...                  feature=features.pointer_from(pw.this.f), weight=1.0)
    >>> hint = t.select(left=t.pointer_from("a"), right=t.pointer_from("z"), weight=5.0)
    >>> m = fuzzy_match_with_hint(left, right, features.select(
    ...     pw.this.weight, pw.this.normalization_type), hint)
    >>> pw.debug.compute_and_print(m.select(pw.this.weight), include_id=False)
    weight
    5.0
    """
    return fuzzy_match(edges_left, edges_right, features, by_hand_match,
                       HEAVY_LIGHT_THRESHOLD)


def fuzzy_self_match(edges: Any, features: Any, by_hand_match: Any = None,
                     HEAVY_LIGHT_THRESHOLD: int = 100) -> Any:
    """Matches between distinct nodes of one table of ``Edge``, each pair once with
    ``left < right``; scored and matched as in ``fuzzy_match`` (a tie goes to the pair of
    larger ids, so that a pair ranks the same seen from either node).

    >>> import reflow as pw
    >>> from reflow.stdlib.ml.smart_table_ops import fuzzy_self_match
    >>> features = pw.debug.table_from_markdown('''
    ... name  | weight | normalization_type
    ... apple | 1.0    | 3
    ... pear  | 1.0    | 3
    ... ''', id_from=["name"])
    >>> t = pw.debug.table_from_markdown('''
    ... n | f
    ... a | apple
    ... b | apple
    ... c | pear
    ... ''')
    >>> edges = t.select(node=t.pointer_from(pw.this.n),
    ...                  feature=features.pointer_from(pw.this.f), weight=2.0)
    >>> m = fuzzy_self_match(edges, features.select(pw.this.weight,
    ...                                              pw.this.normalization_type))
    >>> pw.debug.compute_and_print(m.select(pw.this.weight), include_id=False)
    weight
    8.0
    """
    return _fuzzy(edges, edges.copy(), _keyed_features(features), by_hand_match,
                  symmetric=True)


def fuzzy_match_tables(left_table: Any, right_table: Any, *, by_hand_match: Any = None,
                       normalization: Any = FuzzyJoinNormalization.LOGWEIGHT,
                       feature_generation: Any = FuzzyJoinFeatureGeneration.AUTO,
                       left_projection: dict[str, str] | None = None,
                       right_projection: dict[str, str] | None = None) -> Any:
    """Matches between the rows of two tables: columns ``left``, ``right``, ``weight``.

    ``left_projection`` / ``right_projection`` map column names to feature groups: only
    columns of the same group are compared (by default every column of both, one group).
    Each row is a node and each of its words a feature of weight 1 (see ``fuzzy_match``).
    """
    left_projection = left_projection or {}
    right_projection = right_projection or {}
    if bool(left_projection) != bool(right_projection):
        raise ValueError("left_projection and right_projection must be given together")
    kind = int(FuzzyJoinNormalization(normalization))
    lfeat = _feature_rows(left_table, left_projection)
    rfeat = _feature_rows(right_table, right_projection)
    features = pw.Table.concat_reindex(
        lfeat.select(pw.this.feature), rfeat.select(pw.this.feature)).groupby(
        pw.this.feature).reduce(pw.this.feature, weight=1.0, normalization_type=kind)
    return _fuzzy(lfeat, rfeat, features, by_hand_match, symmetric=False)


def _apply_corrections(pairs: Any, by_hand: Any) -> tuple[Any, Any]:
    """Pairs left to automatic matching, and the confirmed pairs (keyed like ``pairs``)."""
    hand = by_hand.select(pw.this.left, pw.this.right, weight=pw.cast(float, pw.this.weight))
    keyed = hand.with_id_from(pw.this.left, pw.this.right)
    confirmed = keyed.filter(pw.this.weight >= 0)
    rejected = keyed.filter(pw.this.weight < 0)
    taken_left = confirmed.groupby(pw.this.left).reduce(pw.this.left)
    taken_right = confirmed.groupby(pw.this.right).reduce(pw.this.right)
    free = pairs.with_id_from(pw.this.left, pw.this.right).difference(rejected)
    free = free.join_left(taken_left, free.left == taken_left.left, id=free.id).filter(
        pw.right.left.is_none()).select(*pw.left)
    free = free.join_left(taken_right, free.right == taken_right.right, id=free.id).filter(
        pw.right.right.is_none()).select(*pw.left)
    return free, confirmed


def smart_fuzzy_match(left_col: Any, right_col: Any, *, by_hand_match: Any = None,
                      normalization: Any = FuzzyJoinNormalization.LOGWEIGHT,
                      feature_generation: Any = FuzzyJoinFeatureGeneration.AUTO,
                      HEAVY_LIGHT_THRESHOLD: int = 100) -> Any:
    """``fuzzy_match_tables`` over one column of each table."""
    return fuzzy_match_tables(left_col.table.select(left_col),
                              right_col.table.select(right_col), by_hand_match=by_hand_match,
                              normalization=normalization,
                              feature_generation=feature_generation)
