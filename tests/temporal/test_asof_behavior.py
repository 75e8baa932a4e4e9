"""asof_join with a behavior (a cutoff needs keep_results=False): delayed, late and
forgotten rows, deletions, and partners re-chosen after forgetting. Expected update streams
were checked against the reference implementation (rows released when the input ends appear
here at the time after the last input time)."""

from __future__ import annotations

import random

import pytest

import reflow as pw
from tests.utils import T, rows, updates

BEHAVIORS = {
    "delay": pw.temporal.common_behavior(delay=3),
    "cutoff": pw.temporal.common_behavior(cutoff=4, keep_results=False),
    "both": pw.temporal.common_behavior(delay=2, cutoff=3, keep_results=False),
}


def _tables():
    a = T("""
       | t  | x | __time__ | __diff__
     1 | 1  | 1 | 2        | 1
     2 | 10 | 2 | 4        | 1
     3 | 4  | 3 | 6        | 1
     4 | 20 | 4 | 8        | 1
     5 | 12 | 5 | 10       | 1
     2 | 10 | 2 | 12       | -1
     6 | 25 | 6 | 14       | 1
    """)
    b = T("""
       | t  | y | __time__ | __diff__
     1 | 2  | 1 | 2        | 1
     2 | 11 | 2 | 6        | 1
     3 | 5  | 3 | 8        | 1
     4 | 21 | 4 | 10       | 1
     5 | 13 | 5 | 12       | 1
     6 | 3  | 6 | 14       | 1
    """)
    return a, b


EXPECTED = {
    ("delay", "left"): [
        (1, None, 4, 1),
        (2, 3, 12, -1),
        (2, 3, 8, 1),
        (3, 1, 14, -1),
        (3, 1, 6, 1),
        (3, 6, 14, 1),
        (4, 5, 14, 1),
        (5, 2, 10, 1),
        (6, 4, 15, 1),
    ],
    ("delay", "right"): [
        (1, 1, 6, 1),
        (1, 6, 14, 1),
        (2, 2, 10, 1),
        (2, 2, 12, -1),
        (3, 2, 12, 1),
        (3, 3, 8, 1),
        (4, 4, 15, 1),
        (5, 5, 12, 1),
    ],
    ("delay", "outer"): [
        (1, 1, 6, 1),
        (1, 6, 14, 1),
        (1, None, 4, 1),
        (2, 2, 10, 1),
        (2, 2, 12, -1),
        (2, 3, 12, -1),
        (2, 3, 8, 1),
        (3, 1, 14, -1),
        (3, 1, 6, 1),
        (3, 2, 12, 1),
        (3, 3, 8, 1),
        (3, 6, 14, 1),
        (4, 4, 15, 1),
        (4, 5, 14, 1),
        (5, 2, 10, 1),
        (5, 5, 12, 1),
        (6, 4, 15, 1),
    ],
    ("cutoff", "left"): [
        (1, None, 2, 1),
        (1, None, 8, -1),
        (2, 1, 10, -1),
        (2, 1, 4, 1),
        (2, None, 10, 1),
        (2, None, 14, -1),
        (4, 2, 8, 1),
        (6, 4, 14, 1),
    ],
    ("cutoff", "right"): [
        (1, 1, 2, 1),
        (1, 1, 8, -1),
        (2, 2, 14, -1),
        (2, 2, 6, 1),
        (4, 4, 10, 1),
        (None, 1, 10, -1),
        (None, 1, 8, 1),
        (None, 2, 14, 1),
    ],
    ("cutoff", "outer"): [
        (1, 1, 2, 1),
        (1, 1, 8, -1),
        (1, None, 2, 1),
        (1, None, 8, -1),
        (2, 1, 10, -1),
        (2, 1, 4, 1),
        (2, 2, 14, -1),
        (2, 2, 6, 1),
        (2, None, 10, 1),
        (2, None, 14, -1),
        (4, 2, 8, 1),
        (4, 4, 10, 1),
        (6, 4, 14, 1),
        (None, 1, 10, -1),
        (None, 1, 8, 1),
        (None, 2, 14, 1),
    ],
    ("both", "left"): [
        (1, None, 4, 1),
        (1, None, 8, -1),
        (2, 3, 12, -1),
        (2, 3, 8, 1),
        (3, 1, 10, -1),
        (3, 1, 6, 1),
        (4, 5, 14, 1),
        (5, 2, 10, 1),
        (5, 2, 15, -1),
        (6, 4, 15, 1),
    ],
    ("both", "right"): [
        (1, 1, 6, 1),
        (1, 1, 8, -1),
        (2, 2, 10, 1),
        (2, 2, 12, -1),
        (3, 3, 10, -1),
        (3, 3, 8, 1),
        (4, 4, 15, 1),
        (5, 5, 12, 1),
        (5, 5, 15, -1),
        (None, 1, 10, -1),
        (None, 1, 8, 1),
        (None, 2, 12, 1),
        (None, 3, 10, 1),
        (None, 3, 12, -1),
        (None, 5, 15, 1),
    ],
    ("both", "outer"): [
        (1, 1, 6, 1),
        (1, 1, 8, -1),
        (1, None, 4, 1),
        (1, None, 8, -1),
        (2, 2, 10, 1),
        (2, 2, 12, -1),
        (2, 3, 12, -1),
        (2, 3, 8, 1),
        (3, 1, 10, -1),
        (3, 1, 6, 1),
        (3, 3, 10, -1),
        (3, 3, 8, 1),
        (4, 4, 15, 1),
        (4, 5, 14, 1),
        (5, 2, 10, 1),
        (5, 2, 15, -1),
        (5, 5, 12, 1),
        (5, 5, 15, -1),
        (6, 4, 15, 1),
        (None, 1, 10, -1),
        (None, 1, 8, 1),
        (None, 2, 12, 1),
        (None, 3, 10, 1),
        (None, 3, 12, -1),
        (None, 5, 15, 1),
    ],
}


@pytest.mark.parametrize(("name", "how"), sorted(EXPECTED))
def test_asof_behavior_update_streams(name, how):
    a, b = _tables()
    r = getattr(a, f"asof_join_{how}")(b, a.t, b.t, behavior=BEHAVIORS[name]).select(
        x=pw.left.x, y=pw.right.y
    )
    assert updates(r) == sorted(EXPECTED[(name, how)], key=repr)


@pytest.mark.parametrize("seed", range(3))
def test_delay_only_final_result_equals_from_scratch(seed):
    rnd = random.Random(seed)
    sides = []
    finals = []
    for name in "xy":
        live: dict[int, tuple[int, int]] = {}
        lines = [f"  | t | {name} | __time__ | __diff__"]
        for step in range(40):
            time = 2 * (step // 4 + 1)
            if live and rnd.random() < 0.3:
                key = rnd.choice(sorted(live))
                tt, v = live.pop(key)
                lines.append(f"{key} | {tt} | {v} | {time} | -1")
            else:
                # right times are distinct and never equal a left time (left times are
                # multiplied by 50 below): the backward partner is unique
                v = step
                tt = rnd.randint(0, 40) if name == "x" else rnd.randint(0, 40) * 50 + 1 + step
                live[step + 1] = (tt, v)
                lines.append(f"{step + 1} | {tt} | {v} | {time} | 1")
        sides.append(T("\n".join(lines)))
        finals.append(list(live.values()))
    a, b = sides
    a = a.with_columns(t=a.t * 50)
    r = a.asof_join_left(b, a.t, b.t, behavior=pw.temporal.common_behavior(delay=60)).select(
        pw.left.x, pw.right.y
    )
    expected = []
    for ta, x in finals[0]:
        before = [(tb, y) for tb, y in finals[1] if tb <= ta * 50]
        expected.append((x, max(before)[1] if before else None))
    assert rows(r) == sorted(expected, key=repr)


def test_unsupported_behaviors_are_refused():
    a, b = _tables()
    with pytest.raises(pw.BuildError, match="keep_results=False"):
        a.asof_join_left(b, a.t, b.t, behavior=pw.temporal.common_behavior(cutoff=1))
    with pytest.raises(pw.BuildError, match="common_behavior"):
        a.asof_join_left(b, a.t, b.t, behavior=pw.temporal.exactly_once_behavior())
