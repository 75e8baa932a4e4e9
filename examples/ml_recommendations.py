"""Item-item recommendations revised by feedback, only for the users it affects.

Two items are similar when the same users interacted with both (a co-occurrence count). A
user's candidates are the items similar to theirs, scored by the sum of the similarities;
items they already have, disliked or marked "not interested" are left out; the top ``K`` are
recommended. Feedback streams in: "not interested" and "dislike" change that user's list only;
a "like" is a new interaction, so it also changes the similarities of the liked item and with
them the lists of exactly the users whose candidates involve it.

Run: ``.venv/bin/python examples/ml_recommendations.py``
"""

from __future__ import annotations

import reflow as pw

K = 2

INTERACTIONS = """
user | item
u1   | A
u1   | B
u2   | A
u2   | C
u3   | B
u3   | C
u3   | D
u4   | D
u4   | E
u5   | E
u5   | F
u6   | F
u6   | G
"""

FEEDBACK = """
user | item | kind           | __time__
u1   | C    | not_interested | 4
u4   | A    | like           | 6
u6   | E    | dislike        | 8
"""


def _top(scored: tuple) -> tuple:
    """The ``K`` best items of ``((-score, item), ...)`` sorted ascending."""
    return tuple(item for _, item in scored[:K])


def recommend(interactions: pw.Table, feedback: pw.Table) -> pw.Table:
    """One row per user with ``recs``: a tuple of up to ``K`` items, best first (ties by
    name)."""
    likes = feedback.filter(pw.this.kind == "like").select(pw.this.user, pw.this.item)
    had = interactions.concat_reindex(likes)
    other = had.copy()
    pairs = had.join(other, had.user == other.user).filter(pw.left.item != pw.right.item)
    similar = pairs.groupby(pw.left.item, pw.right.item).reduce(
        item=pw.left.item, similar=pw.right.item, weight=pw.reducers.count())
    candidates = had.join(similar, had.item == similar.item).groupby(
        pw.left.user, pw.right.similar).reduce(
        user=pw.left.user, item=pw.right.similar, score=pw.reducers.sum(pw.right.weight))
    negative = feedback.filter(pw.this.kind != "like").select(pw.this.user, pw.this.item)
    excluded = had.concat_reindex(negative).groupby(pw.this.user, pw.this.item).reduce(
        pw.this.user, pw.this.item)
    keyed = candidates.with_id_from(pw.this.user, pw.this.item)
    allowed = keyed.difference(excluded.with_id_from(pw.this.user, pw.this.item))
    return allowed.groupby(pw.this.user).reduce(
        pw.this.user,
        recs=pw.apply(_top, pw.reducers.sorted_tuple(pw.make_tuple(-pw.this.score,
                                                                    pw.this.item))))


if __name__ == "__main__":
    recs = recommend(pw.debug.table_from_markdown(INTERACTIONS),
                     pw.debug.table_from_markdown(FEEDBACK))
    pw.debug.compute_and_print_update_stream(recs, include_id=False)
