"""Anomaly alerts revised by a model change.

Per-sensor readings are flagged when they are more than ``k`` standard deviations away from
the sensor's fitted mean. The model's parameters (mean, std per sensor and the threshold
``k``) live in a table, so refitting or re-tuning it is one more update: the alerts that no
longer hold are retracted and the ones that now hold are raised, *past readings included*.

Notifications are deduplicated: a sensor is notified once when it enters the alarm state
(its first open alert), not once per anomalous reading, and withdrawn when its last alert is
retracted.

Run: ``.venv/bin/python examples/ml_anomaly_alerts.py``
"""

from __future__ import annotations

import reflow as pw

READINGS = """
   | sensor | seq | value | __time__
 1 | s1     | 1   | 20.0  | 2
 2 | s1     | 2   | 21.0  | 2
 3 | s1     | 3   | 35.0  | 2
 4 | s2     | 1   | 50.0  | 2
 5 | s2     | 2   | 59.0  | 2
 6 | s1     | 4   | 36.0  | 4
 7 | s2     | 3   | 75.0  | 4
"""

# The fitted model: s1 refitted at time 6, s2's threshold tightened at 8, s2 refitted at 10.
MODEL = """
   | sensor | mean | std  | k   | __time__ | __diff__
 1 | s1     | 21.0 | 4.0  | 3.0 | 2        | 1
 2 | s2     | 52.0 | 4.0  | 3.0 | 2        | 1
 1 | s1     | 21.0 | 4.0  | 3.0 | 6        | -1
 1 | s1     | 30.0 | 2.0  | 3.0 | 6        | 1
 2 | s2     | 52.0 | 4.0  | 3.0 | 8        | -1
 2 | s2     | 52.0 | 4.0  | 1.5 | 8        | 1
 2 | s2     | 52.0 | 4.0  | 1.5 | 10       | -1
 2 | s2     | 60.0 | 10.0 | 3.0 | 10       | 1
"""


def alerts_and_notifications(readings: pw.Table, model: pw.Table
                             ) -> tuple[pw.Table, pw.Table]:
    """Alerts (one per anomalous reading) and notifications (one per sensor in alarm)."""
    scored = readings.join(model, readings.sensor == model.sensor).select(
        readings.sensor, readings.seq, readings.value,
        z=(readings.value - model.mean) / model.std, k=model.k)
    alerts = scored.filter(abs(pw.this.z) > pw.this.k).select(
        pw.this.sensor, pw.this.seq, pw.this.value)
    in_alarm = alerts.groupby(pw.this.sensor).reduce(pw.this.sensor, n=pw.reducers.count())
    notifications = in_alarm.select(pw.this.sensor)  # more alerts of a sensor: no new row
    return alerts, notifications


def main() -> None:
    alerts, notifications = alerts_and_notifications(
        pw.debug.table_from_markdown(READINGS), pw.debug.table_from_markdown(MODEL))
    pw.debug.compute_and_print_update_stream(alerts, include_id=False)
    pw.debug.compute_and_print_update_stream(notifications, include_id=False)


if __name__ == "__main__":
    main()
