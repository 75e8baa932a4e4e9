"""The showcase pipeline revises exactly what it should: a late repost changes its own
minute's bucket, the reliability loop withdraws a bad place's records, and a refit revises
the predictions of the topics whose parameters changed, and only those."""

from __future__ import annotations

import numpy as np
import pytest

from examples.trending.pipeline import REFIT_EVERY_S, validate
from tests.showcase.trending_streams import T0, at, record, run


def test_a_late_repost_changes_only_its_own_minute_bucket():
    early = [record("p1", 10), record("p2", 70, author="ben", text="awful sad day")]
    later = [record("p3", 130, author="carl", location="Lyon")]
    late = [record("r1", 30, author="dora", location="Lyon", kind="repost", parent="p1")]
    (buckets,) = run([early, later, late], lambda o: [o.buckets])

    changes = at(buckets, 4)
    assert [(row["minute"], diff) for row, diff in changes] == [(T0, -1), (T0, 1)]
    old, new = (row for row, _ in changes)
    assert (old["engagement"], new["engagement"]) == (1, 2)
    # the repost carries the sentiment of the post it shares: the average does not move
    assert new["sentiment"] == pytest.approx(old["sentiment"])
    assert (new["topic"], new["region"]) == ("#x", "EU")


def test_the_reliability_loop_withdraws_every_record_of_a_bad_place():
    # mia claims Reykjavik; people near her real home (Tokyo) repost her: she is unreliable
    # and Reykjavik, backed by no one else, is withdrawn with her earlier posts.
    claims = [record("m1", 5, author="mia", location="Reykjavik", topic="#ice"),
              record("m2", 65, author="mia", location="Reykjavik", topic="#ice")]
    honest = [record("a1", 8, author="ana", location="Paris", topic="#ice")]
    reposts = [record(f"t{i}", 100 + i, author=f"jp{i}", location="Tokyo", kind="repost",
                      parent="m1" if i % 2 else "m2", topic="#ice") for i in range(4)]
    buckets, places, verdicts = run(
        [claims + honest, reposts], lambda o: [o.buckets, o.places, o.verdicts])

    assert [(r["place"], r["good"], d) for r, d in at(places, 0)
            if r["place"] == "Reykjavík, IS"] == [("Reykjavík, IS", True, 1)]
    assert [(r["author"], r["reliable"], d) for r, d in at(verdicts, 2)
            if r["author"] == "mia"] == [("mia", False, 1), ("mia", True, -1)]
    assert all(r["reliable"] for r, d in at(verdicts, 2) if r["author"] != "mia")
    assert [(r["good"], r["backing"], d) for r, d in at(places, 2)
            if r["place"] == "Reykjavík, IS"] == [(False, 0, 1), (True, 2, -1)]
    # Europe's #ice buckets of both earlier minutes lose mia's posts; ana's stays
    europe = [(r["minute"], r["engagement"], d) for r, d in at(buckets, 2)
              if r["region"] == "EU"]
    assert europe == sorted([(T0, 2, -1), (T0, 1, 1), (T0 + 60, 1, -1)])
    assert {r["region"] for r, d in at(buckets, 2) if d > 0} == {"EU", "AS"}


def _minute_records(topic: str, counts: dict[int, int], prefix: str) -> list[str]:
    return [record(f"{prefix}{minute}-{i}", minute * 60 + 1 + i, topic=topic)
            for minute, n in counts.items() for i in range(n)]


def test_a_refit_revises_exactly_the_predictions_of_topics_whose_parameters_changed():
    first = {0: 2, 1: 3, 2: 5, 3: 6}
    second = {4: 9, 5: 9, 6: 12}
    commits = [
        _minute_records("#a", first, "a") + _minute_records("#b", {0: 1}, "b"),
        _minute_records("#a", second, "c"),  # minute 6 starts: the model is refitted
        [record("late6", 6 * 60 + 30, topic="#a")],  # no refit: one prediction changes
    ]
    predictions, params = run(commits, lambda o: [o.predictions, o.params])

    counts = [first[m] if m in first else second[m] for m in range(7)]
    x, y = np.array(counts[:5], float), np.array(counts[1:6], float)
    a, b = np.polyfit(x, y, 1)
    refit = at(params, 2)
    assert [(r["topic"], r["pairs"], r["fitted_until"], d) for r, d in refit] == sorted(
        [("#a", 5, T0 + 2 * REFIT_EVERY_S, 1), ("#a", 2, T0 + REFIT_EVERY_S, -1)],
        key=repr)
    new = next(r for r, d in refit if d > 0)
    assert (new["a"], new["b"]) == (pytest.approx(a), pytest.approx(b))

    revised = at(predictions, 2)
    assert {r["topic"] for r, _ in revised} == {"#a"}  # #b's prediction is untouched
    retracted = sorted(r["minute"] for r, d in revised if d < 0)
    inserted = sorted(r["minute"] for r, d in revised if d > 0)
    assert retracted == [T0 + 60 * m for m in range(4)]
    assert inserted == [T0 + 60 * m for m in range(7)]
    for row, diff in revised:
        if diff > 0:
            minute = int((row["minute"] - T0) // 60)
            assert row["predicted"] == pytest.approx(max(0.0, a * counts[minute] + b))

    # a record inside the current refit period changes its own minute's prediction only
    last = at(predictions, 4)
    assert [(r["minute"], r["engagement"], d) for r, d in last] == sorted(
        [(T0 + 360, 12, -1), (T0 + 360, 13, 1)], key=repr)
    assert at(params, 4) == []


@pytest.mark.parametrize("line, message", [
    ("{not json", "not JSON (Expecting property name enclosed in double quotes at offset 1)"),
    ('[1, 2]', "not a JSON object"),
    ('{"id": "r9", "kind": "post", "author": "a", "location": "", "topic": "#t", '
     '"text": "", "ts": "noon", "followers": 1}', "record 'r9': field 'ts'"),
    ('{"id": "r9", "kind": "reply", "author": "a", "location": "", "topic": "#t", '
     '"text": "", "ts": 1, "followers": 1}', "record 'r9': field 'parent'"),
    ('{"id": "r9", "kind": "post", "location": "", "topic": "#t", '
     '"text": "", "ts": 1, "followers": 1}', "record 'r9': field 'author'"),
])
def test_bad_records_are_refused_naming_the_record_and_field(line, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        validate(line)


def test_bad_records_reach_the_error_log_and_the_rest_flows_on():
    lines = [record("p1", 10), "{oops", record("p2", 20).replace('"ts": ', '"ts": "x", "y": ')]
    errors, records = run([lines], lambda o: [o.errors, o.records])
    assert [r["errors"] for r, d in at(errors, 0) if d > 0] == [2]
    assert [r["rid"] for r, _ in at(records, 0)] == ["p1"]


def test_incremental_results_equal_a_from_scratch_run_at_every_checked_time():
    from examples.trending.generator import SocialStream
    from reflow.debug.output import _final_state

    lines = list(SocialStream(seed=11, authors=150).lines(900, posts_per_second=4))
    commits = [lines[i:i + 150] for i in range(0, len(lines), 150)]

    def pick(o):
        return [o.buckets, o.predictions, o.places, o.verdicts]

    incremental = run(commits, pick)
    for last in (1, 3, len(commits) - 1):
        scratch = run([[line for commit in commits[:last + 1] for line in commit]], pick)
        for updates, expected in zip(incremental, scratch, strict=True):
            upto = [u for u in updates if u[0] <= 2 * last]
            assert rounded(_final_state(upto)) == rounded(_final_state(expected))


def rounded(state: dict) -> dict:
    """Float sums are added in another order incrementally: equal to 9 significant digits."""
    return {key: {k: float(f"{v:.9g}") if isinstance(v, float) else v for k, v in row.items()}
            for key, row in state.items()}
