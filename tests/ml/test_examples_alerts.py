"""Pattern 2: anomaly alerts revised by a change of the model's parameter table."""

from __future__ import annotations

import reflow as pw
from examples.ml_anomaly_alerts import MODEL, READINGS, alerts_and_notifications
from reflow.debug.output import collect_updates


def _stream(table: pw.Table, *columns: str) -> list[tuple]:
    return sorted((t, *(r[c] for c in columns), d) for t, _, r, d in collect_updates(table))


def test_a_model_change_retracts_stale_alerts_raises_new_ones_and_notifies_once() -> None:
    alerts, notifications = alerts_and_notifications(
        pw.debug.table_from_markdown(READINGS), pw.debug.table_from_markdown(MODEL))
    assert _stream(alerts, "sensor", "seq") == [
        (2, "s1", 3, 1),
        (4, "s1", 4, 1), (4, "s2", 3, 1),
        # s1 refitted: its two alerts no longer hold; two *past* readings now do
        (6, "s1", 1, 1), (6, "s1", 2, 1), (6, "s1", 3, -1), (6, "s1", 4, -1),
        (8, "s2", 2, 1),  # a tighter threshold raises an alert on a reading of time 2
        (10, "s2", 2, -1), (10, "s2", 3, -1),  # s2 refitted: nothing anomalous left
    ]
    # one notification per sensor entering the alarm state; none for further alerts of a
    # sensor already in alarm (times 4, 6 and 8), a withdrawal when its last alert goes
    assert _stream(notifications, "sensor") == [(2, "s1", 1), (4, "s2", 1), (10, "s2", -1)]
