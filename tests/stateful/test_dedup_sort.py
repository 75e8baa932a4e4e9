"""``sort`` (prev/next pointers), ``diff`` / ``pw.ordered.diff`` and ``deduplicate``."""

from __future__ import annotations

import random

import pytest

import reflow as pw
from reflow.debug.output import collect_updates
from tests.stateful.streams import random_stream, states
from tests.utils import T, rows, rows_by_id, updates


def p(label):
    return pw.pointer_from(label)


def links(table):
    """{label_id: (prev, next)} of a sort result."""
    return rows_by_id(table)


# --- sort -----------------------------------------------------------------------------------------


def test_sort_links_rows_in_key_order():
    t = T("""
      | k
    1 | 30
    2 | 10
    3 | 20
    """)
    s = t.sort(key=pw.this.k)
    assert s.column_names() == ["prev", "next"]
    assert links(s) == {
        p(2): (None, p(3)),
        p(3): (p(2), p(1)),
        p(1): (p(3), None),
    }


STREAM = """
  | k  | __time__ | __diff__
1 | 10 | 2        | 1
2 | 20 | 2        | 1
3 | 30 | 2        | 1
4 | 40 | 2        | 1
5 | 25 | 4        | 1
5 | 25 | 6        | -1
1 | 10 | 8        | -1
4 | 40 | 10       | -1
2 | 20 | 12       | -1
2 | 35 | 12       | 1
1 | 10 | 14       | 1
"""


def test_sort_updates_only_neighbours():
    s = T(STREAM).sort(key=pw.this.k)
    by_time: dict[int, set] = {}
    for time, row_id, _, _ in collect_updates(s):
        by_time.setdefault(time, set()).add(row_id)
    # Insert 5 between 2 and 3: only 5, 2 and 3 change.
    assert by_time[4] == {p(5), p(2), p(3)}
    # Delete 5 from the middle.
    assert by_time[6] == {p(5), p(2), p(3)}
    # Delete the first row: only its successor changes.
    assert by_time[8] == {p(1), p(2)}
    # Delete the last row.
    assert by_time[10] == {p(4), p(3)}
    # Move 2 (key 20 -> 35) past 3: 2 and 3 change.
    assert by_time[12] == {p(2), p(3)}
    # Re-insert 1 at the front.
    assert by_time[14] == {p(1), p(3)}
    assert links(s) == {
        p(1): (None, p(3)),
        p(3): (p(1), p(2)),
        p(2): (p(3), None),
    }


def test_sort_with_instance_and_ties_by_id():
    t = T("""
      | k | g | __time__ | __diff__
    1 | 1 | a | 2        | 1
    2 | 1 | a | 2        | 1
    3 | 5 | b | 2        | 1
    4 | 0 | b | 4        | 1
    3 | 5 | b | 6        | -1
    """)
    s = t.sort(key=pw.this.k, instance=pw.this.g)
    first, second = sorted([p(1), p(2)], key=int)
    assert links(s) == {
        first: (None, second),
        second: (first, None),
        p(4): (None, None),
    }


def test_sort_of_expression_key_and_deleted_everything():
    t = T("""
      | k  | __time__ | __diff__
    1 | 1  | 2        | 1
    2 | 2  | 2        | 1
    1 | 1  | 4        | -1
    2 | 2  | 4        | -1
    """)
    s = t.sort(key=-pw.this.k)
    assert updates(s) == sorted(
        [
            (None, p(1), 2, 1), (p(2), None, 2, 1),
            (None, p(1), 4, -1), (p(2), None, 4, -1),
        ],
        key=repr,
    )
    assert rows(s) == []


def _expected_links(state: dict, key_index: int = 0) -> dict:
    ordered = sorted(state, key=lambda i: (state[i][key_index], int(i)))
    out = {}
    for at, row_id in enumerate(ordered):
        out[row_id] = (
            ordered[at - 1] if at > 0 else None,
            ordered[at + 1] if at + 1 < len(ordered) else None,
        )
    return out


@pytest.mark.parametrize("seed", range(8))
def test_sort_random_streams_match_from_scratch(seed):
    rng = random.Random(seed)
    text, times = random_stream(rng, list(range(1, 9)), 8, range(6))
    t = T(text)
    expected = states(t, times)
    got = states(t.sort(key=pw.this.c0), times)
    for time in times:
        assert got[time] == _expected_links(expected[time]), f"time {time}"


# --- diff -----------------------------------------------------------------------------------------


def test_diff_of_consecutive_rows():
    t = T("""
      | t | v  | w
    1 | 1 | 1  | 1.5
    2 | 2 | 2  | 1.0
    3 | 3 | 4  | 0.0
    4 | 4 | 7  | 2.0
    """)
    d = t.diff(pw.this.t, pw.this.v, pw.this.w)
    assert d.column_names() == ["diff_v", "diff_w"]
    assert rows_by_id(d) == {
        p(1): (None, None),
        p(2): (1, -0.5),
        p(3): (2, -1.0),
        p(4): (3, 2.0),
    }
    assert rows_by_id(pw.ordered.diff(t, pw.this.t, pw.this.v)) == {
        p(1): (None,), p(2): (1,), p(3): (2,), p(4): (3,)
    }


def test_diff_follows_updates_inserts_and_deletes():
    t = T("""
      | t | v  | __time__ | __diff__
    1 | 1 | 10 | 2        | 1
    2 | 2 | 15 | 2        | 1
    3 | 3 | 30 | 2        | 1
    2 | 2 | 15 | 4        | -1
    2 | 2 | 20 | 4        | 1
    2 | 2 | 20 | 6        | -1
    4 | 0 | 5  | 8        | 1
    2 | 2 | 18 | 10       | 1
    """)
    d = t.diff(pw.this.t, pw.this.v)
    assert updates(d) == sorted(
        [
            (None, 2, 1), (5, 2, 1), (15, 2, 1),
            (5, 4, -1), (10, 4, 1), (15, 4, -1), (10, 4, 1),  # value of row 2 changed
            (10, 6, -1), (10, 6, -1), (20, 6, 1),  # row 2 deleted
            (None, 8, -1), (5, 8, 1), (None, 8, 1),  # new first row
            (20, 10, -1), (8, 10, 1), (12, 10, 1),  # row 2 re-inserted
        ],
        key=repr,
    )
    assert rows_by_id(d) == {p(4): (None,), p(1): (5,), p(2): (8,), p(3): (12,)}


def test_diff_per_instance():
    t = T("""
      | t | v  | g
    1 | 1 | 10 | a
    2 | 2 | 15 | b
    3 | 3 | 30 | a
    4 | 4 | 16 | b
    """)
    d = t.diff(pw.this.t, pw.this.v, instance=pw.this.g)
    assert rows_by_id(d) == {p(1): (None,), p(2): (None,), p(3): (20,), p(4): (1,)}


def test_diff_needs_column_references():
    t = T("""
    t | v
    1 | 1
    """)
    with pytest.raises(pw.BuildError, match="column references"):
        t.diff(pw.this.t, pw.this.v + 1)


@pytest.mark.parametrize("seed", range(6))
def test_diff_random_streams_match_from_scratch(seed):
    rng = random.Random(100 + seed)
    text, times = random_stream(rng, list(range(1, 8)), 8, range(6), columns=2)
    t = T(text)
    expected = states(t, times)
    got = states(t.diff(pw.this.c0, pw.this.c1), times)
    for time in times:
        state = expected[time]
        want = {}
        for row_id, (prev, _) in _expected_links(state).items():
            want[row_id] = (None if prev is None else state[row_id][1] - state[prev][1],)
        assert got[time] == want, f"time {time}"


# --- deduplicate ----------------------------------------------------------------------------------


def test_deduplicate_keeps_last_accepted_value():
    t = T("""
    val | __time__
    1   | 2
    2   | 4
    3   | 6
    4   | 8
    6   | 10
    """)
    result = t.deduplicate(value=pw.this.val, acceptor=lambda new, old: new >= old + 2)
    assert updates(result) == sorted(
        [(1, 2, 1), (1, 6, -1), (3, 6, 1), (3, 10, -1), (6, 10, 1)], key=repr
    )
    assert rows_by_id(result) == {pw.pointer_from(): (6,)}


def test_deduplicate_per_instance_keeps_all_columns():
    t = T("""
    name | g | score | __time__
    a    | x | 5     | 2
    b    | y | 3     | 2
    c    | x | 4     | 4
    d    | x | 9     | 6
    e    | y | 8     | 6
    """)
    result = t.deduplicate(value=pw.this.score, instance=pw.this.g,
                           acceptor=lambda new, old: new > old)
    assert result.column_names() == ["name", "g", "score"]
    assert rows_by_id(result) == {
        pw.pointer_from("x"): ("d", "x", 9),
        pw.pointer_from("y"): ("e", "y", 8),
    }
    assert updates(result) == sorted(
        [
            ("a", "x", 5, 2, 1), ("b", "y", 3, 2, 1),
            ("a", "x", 5, 6, -1), ("d", "x", 9, 6, 1),
            ("b", "y", 3, 6, -1), ("e", "y", 8, 6, 1),
        ],
        key=repr,
    )


def test_deduplicate_ignores_retractions_and_sees_reinsertions():
    t = T("""
      | v | __time__ | __diff__
    1 | 5 | 2        | 1
    1 | 5 | 4        | -1
    2 | 3 | 6        | 1
    1 | 7 | 8        | 1
    """)
    result = t.deduplicate(value=pw.this.v, acceptor=lambda new, old: new != old)
    # Deleting the kept row at time 4 does not change the output; every later value differs
    # from the kept one and replaces it.
    assert updates(result) == sorted(
        [(5, 2, 1), (5, 6, -1), (3, 6, 1), (3, 8, -1), (7, 8, 1)], key=repr
    )


def test_deduplicate_same_time_rows_in_input_order():
    t = T("""
    v | __time__
    1 | 2
    5 | 2
    3 | 2
    """)
    result = t.deduplicate(value=pw.this.v, acceptor=lambda new, old: new > old)
    assert rows(result) == [(5,)]


def test_deduplicate_acceptor_error_is_logged_and_row_skipped():
    t = T("""
    v | __time__
    1 | 2
    0 | 4
    4 | 6
    """)

    def acceptor(new, old):
        return 1 / new > 0 and new > old

    result = t.deduplicate(value=pw.this.v, acceptor=acceptor)
    log = pw.global_error_log().select(pw.this.message)
    assert rows(result, terminate_on_error=False) == [(4,)]
    messages = [m for (m,) in rows(log, terminate_on_error=False)]
    assert any("acceptor failed" in m and "ZeroDivisionError" in m for m in messages)


def _big_stream(seed: int, size: int = 150) -> tuple[str, list[int]]:
    """A first time inserting ``size`` rows at once (the bulk path), then small changes."""
    rng = random.Random(seed)
    lines = ["  | c0 | c1 | g | __time__ | __diff__"]
    live = {}
    for label in range(size):
        live[label] = (rng.randrange(40), rng.randrange(100), rng.choice("ab"))
        lines.append(f"{label} | {' | '.join(map(str, live[label]))} | 2 | 1")
    times = [2]
    for step in range(6):
        time = 4 + 2 * step
        times.append(time)
        for label in rng.sample(range(size + 5), 4):
            if label in live:
                lines.append(f"{label} | {' | '.join(map(str, live.pop(label)))} | {time} | -1")
                if rng.random() < 0.5:
                    continue
            live[label] = (rng.randrange(40), rng.randrange(100), rng.choice("ab"))
            lines.append(f"{label} | {' | '.join(map(str, live[label]))} | {time} | 1")
    return "\n".join(lines), times


def _expected_links_by_instance(state: dict) -> dict:
    out = {}
    for group in {row[2] for row in state.values()}:
        out.update(_expected_links({k: v for k, v in state.items() if v[2] == group}))
    return out


@pytest.mark.parametrize("seed", range(3))
def test_sort_and_diff_of_a_large_first_batch_then_updates(seed):
    text, times = _big_stream(seed)
    t = T(text)
    expected = states(t, times)
    got_sort = states(t.sort(key=pw.this.c0, instance=pw.this.g), times)
    got_diff = states(t.diff(pw.this.c0, pw.this.c1, instance=pw.this.g), times)
    for time in times:
        state = expected[time]
        want_links = _expected_links_by_instance(state)
        assert got_sort[time] == want_links, f"sort at time {time}"
        want_diff = {
            row_id: (None if prev is None else state[row_id][1] - state[prev][1],)
            for row_id, (prev, _) in want_links.items()
        }
        assert got_diff[time] == want_diff, f"diff at time {time}"


def test_diff_of_datetimes_gives_durations():
    t = T("""
      | t | at
    1 | 1 | 2024-01-01T00:00:00
    2 | 2 | 2024-01-01T00:00:05
    """)
    if t.typehints()["at"] is str:
        t = t.select(pw.this.t, at=pw.this.at.dt.strptime("%Y-%m-%dT%H:%M:%S"))
    d = t.diff(pw.this.t, pw.this.at)
    values = sorted(rows(d), key=repr)
    assert values[0] == (None,)
    assert values[1][0].total_seconds() == 5
