"""Pattern 4: fuzzy matching of two registries with a reviewer's corrections table."""

from __future__ import annotations

import reflow as pw
from examples.ml_supplier_matching import match_and_total, registries
from reflow.debug.output import collect_updates


def _stream(table: pw.Table, *columns: str) -> list[tuple]:
    return sorted((t, *(r[c] for c in columns), d) for t, _, r, d in collect_updates(table))


def test_each_correction_re_derives_the_matches_and_totals_that_depend_on_it() -> None:
    matches, totals = match_and_total(*registries())
    assert _stream(matches, "supplier", "payee_name") == [
        (0, "Acme Tools Ltd", "ACME TOOLS", 1),
        (0, "Globex Steel", "Globex Steel Works", 1),
        (0, "Initech Office Supplies", "Initech Supplies", 1),
        (0, "Umbrella Chemicals", "Umbrella Corp Chemicals", 1),
        # a rejection: the supplier falls back to its next best partner
        (4, "Globex Steel", "Globex", 1),
        (4, "Globex Steel", "Globex Steel Works", -1),
        # a confirmation overrides the automatic match of both rows
        (6, "Initech Office Supplies", "Initech Supplies", -1),
        (6, "Initech Office Supplies", "Office Partners", 1),
        # withdrawing the rejection restores the automatic match
        (8, "Globex Steel", "Globex", -1),
        (8, "Globex Steel", "Globex Steel Works", 1),
    ]
    assert _stream(totals, "supplier", "total") == [
        (0, "Acme Tools Ltd", 100, 1), (0, "Globex Steel", 250, 1),
        (0, "Initech Office Supplies", 40, 1), (0, "Umbrella Chemicals", 75, 1),
        (4, "Globex Steel", 60, 1), (4, "Globex Steel", 250, -1),
        (6, "Initech Office Supplies", 30, 1), (6, "Initech Office Supplies", 40, -1),
        (8, "Globex Steel", 60, -1), (8, "Globex Steel", 250, 1),
    ]
