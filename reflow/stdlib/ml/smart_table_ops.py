"""Fuzzy matching of two tables, with a reviewer's corrections taking precedence.

Every row is cut into lower-case word features. A feature weighs less the more rows (of both
tables) have it (``normalization``: ``LOGWEIGHT`` ``1/ln(1 + n)``, ``WEIGHT`` ``1/n``,
``NONE`` 1); the score of a pair of rows is the sum of the weights of the features they share.
A left row and a right row are matched when each is the other's best-scoring partner (ties go
to the smaller id).

``by_hand_match`` is a table of ``left``, ``right`` (row ids) and ``weight``: a row with a
non-negative weight *confirms* the pair (it is matched with that weight, and neither of its
rows takes part in automatic matching); a negative weight *rejects* the pair (it is never
matched, and its rows look for their next best partner). Adding, changing or deleting a
correction re-derives every match that depends on it, and only those.

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
    rows = table.select(_pw_row=table.id,
                        feature=pw.apply_with_type(_features, tuple[str, ...], *args))
    return rows.flatten(pw.this.feature)


def _weight_of(normalization: Any) -> Any:
    kind = FuzzyJoinNormalization(normalization)
    if kind is FuzzyJoinNormalization.LOGWEIGHT:
        return lambda n: 1.0 / math.log(1.0 + n)
    if kind is FuzzyJoinNormalization.WEIGHT:
        return lambda n: 1.0 / n
    return lambda n: 1.0


def fuzzy_match_tables(left_table: Any, right_table: Any, *, by_hand_match: Any = None,
                       normalization: Any = FuzzyJoinNormalization.LOGWEIGHT,
                       feature_generation: Any = FuzzyJoinFeatureGeneration.AUTO,
                       left_projection: dict[str, str] | None = None,
                       right_projection: dict[str, str] | None = None) -> Any:
    """Matches between the rows of two tables: columns ``left``, ``right``, ``weight``.

    ``left_projection`` / ``right_projection`` map column names to feature groups: only
    columns of the same group are compared (by default every column of both, one group).
    """
    left_projection = left_projection or {}
    right_projection = right_projection or {}
    if bool(left_projection) != bool(right_projection):
        raise ValueError("left_projection and right_projection must be given together")
    lfeat = _feature_rows(left_table, left_projection)
    rfeat = _feature_rows(right_table, right_projection)
    everywhere = pw.Table.concat_reindex(lfeat.select(pw.this.feature),
                                         rfeat.select(pw.this.feature))
    weight = _weight_of(normalization)
    weights = everywhere.groupby(pw.this.feature).reduce(
        pw.this.feature, w=pw.apply_with_type(weight, float, pw.reducers.count()))
    shared = lfeat.join(rfeat, lfeat.feature == rfeat.feature).select(
        left=lfeat["_pw_row"], right=rfeat["_pw_row"], feature=lfeat.feature)
    shared = shared.join(weights, shared.feature == weights.feature).select(
        pw.left.left, pw.left.right, w=pw.right.w)
    pairs = shared.groupby(pw.this.left, pw.this.right).reduce(
        pw.this.left, pw.this.right, weight=pw.reducers.sum(pw.this.w))
    confirmed = None
    if by_hand_match is not None:
        pairs, confirmed = _apply_corrections(pairs, by_hand_match)
    from reflow.stdlib.utils.filtering import argmax_rows

    best_for_left = argmax_rows(pairs, pairs.left, what=pairs.weight)
    best_for_right = argmax_rows(pairs, pairs.right, what=pairs.weight)
    mutual = best_for_left.join(best_for_right, best_for_left.id == best_for_right.id,
                                id=best_for_left.id).select(*pw.left)
    if confirmed is None:
        return mutual
    return mutual.promise_universes_are_disjoint(confirmed).concat(confirmed)


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
