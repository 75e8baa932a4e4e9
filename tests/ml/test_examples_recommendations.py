"""Pattern 3: recommendations revised by feedback, only for the users it affects."""

from __future__ import annotations

from collections import Counter, defaultdict

import reflow as pw
from examples.ml_recommendations import FEEDBACK, INTERACTIONS, K, recommend
from reflow.debug.output import collect_updates


def _parse(markdown: str) -> list[list[str]]:
    lines = [line.split("|") for line in markdown.strip().splitlines()[1:]]
    return [[cell.strip() for cell in line] for line in lines]


def _from_scratch(interactions: list[tuple[str, str]], feedback: list[tuple[str, str, str]]):
    """Recommendations computed directly from the rows (no reflow)."""
    had = defaultdict(set)
    for user, item in interactions + [(u, i) for u, i, k in feedback if k == "like"]:
        had[user].add(item)
    similar = Counter((a, b) for items in had.values() for a in items for b in items if a != b)
    excluded = {u: set(items) for u, items in had.items()}
    for user, item, kind in feedback:
        if kind != "like":
            excluded.setdefault(user, set()).add(item)
    recs = {}
    for user, items in had.items():
        score = Counter()
        for (a, b), weight in similar.items():
            if a in items and b not in excluded[user]:
                score[b] += weight
        if score:
            recs[user] = tuple(sorted(score, key=lambda i: (-score[i], i))[:K])
    return recs


def test_feedback_revises_exactly_the_lists_of_the_users_it_affects() -> None:
    interactions = [tuple(r) for r in _parse(INTERACTIONS)]
    feedback_rows = [tuple(r) for r in _parse(FEEDBACK)]
    recs = recommend(pw.debug.table_from_markdown(INTERACTIONS),
                     pw.debug.table_from_markdown(FEEDBACK))
    changes = defaultdict(set)
    state: dict[str, tuple] = {}
    by_time = defaultdict(list)
    for time, _, row, diff in collect_updates(recs):
        by_time[time].append((row["user"], row["recs"], diff))
    previous = _from_scratch(interactions, [])
    for time in sorted(by_time):
        for user, items, diff in by_time[time]:
            changes[time].add(user)
            if diff > 0:
                state[user] = items
            elif state.get(user) == items:
                del state[user]
        feedback = [(u, i, k) for u, i, k, t in feedback_rows if int(t) <= time]
        expected = _from_scratch(interactions, feedback)
        assert state == expected, time
        if time > 0:
            affected = {u for u in expected.keys() | previous.keys()
                        if expected.get(u) != previous.get(u)}
            assert changes[time] == affected, time
        previous = expected
    # the specific revisions: "not interested" touches only u1; u4's like of A reaches u1 and
    # u5 (whose candidates involve A or u4's items), not u2, u3, u4, u6
    assert changes[4] == {"u1"}
    assert changes[6] == {"u1", "u5"}
    assert changes[8] == {"u6"}
