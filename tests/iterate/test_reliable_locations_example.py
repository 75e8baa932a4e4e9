"""The reliable-locations example: the loop's verdicts withdraw and restore a place."""

import runpy
from pathlib import Path

from tests.utils import updates

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "reliable_locations.py"


def test_a_far_away_repost_withdraws_a_place_until_it_is_deleted():
    names = runpy.run_path(str(EXAMPLE), run_name="example")
    assert updates(names["places"]) == sorted([
        ("bridge", 1, 0, 1), ("harbour", 1, 0, 1), ("oldmill", 1, 0, 1),
        ("harbour", 1, 2, -1), ("oldmill", 1, 6, -1), ("oldmill", 1, 8, 1),
    ], key=repr)
    unreliable = names["verdicts"].filter(~names["verdicts"].reliable)
    assert updates(unreliable) == sorted([
        ("dora", False, 2, 1), ("ben", False, 6, 1), ("ben", False, 8, -1),
    ], key=repr)
