"""Retractions through UDFs: a non-deterministic UDF is never re-called to retract a row."""

import random

import reflow as pw
from reflow.debug.output import collect_updates
from tests.utils import T, rows

STREAM = """
  | x | __time__ | __diff__
1 | 1 | 2        | 1
2 | 2 | 2        | 1
1 | 1 | 4        | -1
1 | 5 | 4        | 1
2 | 2 | 6        | -1
2 | 2 | 8        | 1
"""


def check_retractions_match_insertions(updates, column):
    """Every retraction carries exactly the value last inserted for that id."""
    current = {}
    for time, row_id, row, diff in sorted(updates, key=lambda u: (u[0], u[3] > 0)):
        if diff > 0:
            assert row_id not in current
            current[row_id] = row[column]
        else:
            assert current.pop(row_id) == row[column], (time, row_id)
    return current


def test_random_udf_retracts_the_value_it_produced():
    calls = []

    @pw.udf
    def noisy(x: int) -> float:
        calls.append(x)
        return x + random.random()

    r = T(STREAM).select(pw.this.x, v=noisy(pw.this.x))
    updates = collect_updates(r)
    # Insertions at times 2 (two rows), 4 and 8: one call each, none for the retractions.
    assert sorted(calls) == [1, 2, 2, 5]
    assert sorted((t, d) for t, _, _, d in updates) == [
        (2, 1), (2, 1), (4, -1), (4, 1), (6, -1), (8, 1)
    ]
    final = check_retractions_match_insertions(updates, "v")
    assert sorted(int(v) for v in final.values()) == [2, 5]
    # the re-inserted row got a fresh value, and it is the one in the final table
    re_inserted = [u[2]["v"] for u in updates if u[0] == 8]
    assert list(final.values()).count(re_inserted[0]) == 1


def test_deterministic_udf_may_be_called_again_to_retract():
    calls = []

    @pw.udf(deterministic=True)
    def double(x: int) -> int:
        calls.append(x)
        return 2 * x

    r = T(STREAM).select(v=double(pw.this.x))
    assert sorted((u[2]["v"], u[0], u[3]) for u in collect_updates(r)) == [
        (2, 2, 1), (2, 4, -1), (4, 2, 1), (4, 6, -1), (4, 8, 1), (10, 4, 1)
    ]
    assert len(calls) == 6  # four insertions and two retractions


def test_non_deterministic_filter_retracts_exactly_the_rows_it_let_through():
    @pw.udf
    def coin(x: int) -> bool:
        return random.random() < 0.5

    lines = ["  | x | __time__ | __diff__"]
    for i in range(40):
        lines.append(f"{i + 1} | {i} | 2 | 1")
    for i in range(40):
        lines.append(f"{i + 1} | {i} | 4 | -1")
    r = T("\n".join(lines)).filter(coin(pw.this.x))
    updates = collect_updates(r)
    inserted = {u[1] for u in updates if u[3] > 0}
    retracted = {u[1] for u in updates if u[3] < 0}
    assert inserted == retracted
    assert rows(r) == []


def test_errors_are_retracted_as_errors():
    @pw.udf
    def fails_on_two(x: int) -> float:
        if x == 2:
            raise ValueError("two")
        return x + random.random()

    r = T(STREAM).select(v=fails_on_two(pw.this.x))
    updates = collect_updates(r, terminate_on_error=False)
    errors = [(t, d) for t, _, row, d in updates if row["v"] is pw.ERROR]
    assert sorted(errors) == [(2, 1), (6, -1), (8, 1)]
    check_retractions_match_insertions(updates, "v")


def test_long_random_history_stays_consistent():
    rng = random.Random(7)

    @pw.udf
    def noisy(x: int) -> float:
        return x + random.random()

    live: dict[int, int] = {}
    lines = ["  | x | __time__ | __diff__"]
    for time in range(2, 202, 2):
        for _ in range(rng.randint(1, 6)):
            key = rng.randint(1, 25)
            if key in live:
                lines.append(f"{key} | {live.pop(key)} | {time} | -1")
            if rng.random() < 0.7:
                value = rng.randint(0, 9)
                lines.append(f"{key} | {value} | {time} | 1")
                live[key] = value
    r = T("\n".join(lines)).select(pw.this.x, v=noisy(pw.this.x))
    final = check_retractions_match_insertions(collect_updates(r), "v")
    assert len(final) == len(live)
    assert sorted(int(v) for v in final.values()) == sorted(live.values())


def test_random_udf_in_a_join_select_retracts_the_value_it_produced():
    calls = []

    @pw.udf
    def noisy(x: int) -> float:
        calls.append(x)
        return x + random.random()

    other = T(
        """
          | x | w
        7 | 1 | a
        8 | 2 | b
        9 | 5 | c
        """
    )
    left = T(STREAM)
    r = left.join(other, pw.left.x == pw.right.x).select(pw.left.x, v=noisy(pw.left.x))
    updates = collect_updates(r)
    assert sorted(calls) == [1, 2, 2, 5]
    final = check_retractions_match_insertions(updates, "v")
    assert sorted(int(v) for v in final.values()) == [2, 5]


def test_random_udf_inside_a_reducer_retracts_the_value_it_produced():
    calls = []

    @pw.udf
    def noisy(x: int) -> float:
        calls.append(x)
        return x + random.random()

    r = T(STREAM).reduce(total=pw.reducers.sum(noisy(pw.this.x)))
    updates = collect_updates(r)
    assert sorted(calls) == [1, 2, 2, 5]
    # Every retracted total is exactly the total emitted before it; the final one is the sum
    # of the values produced for the rows present at the end.
    current = None
    for _, _, row, diff in sorted(updates, key=lambda u: (u[0], u[3] > 0)):
        if diff < 0:
            assert row["total"] == current
            current = None
        else:
            current = row["total"]
    assert 2 + 5 <= current < 2 + 5 + 2  # each of the two values is x + random() in [x, x+1)
