"""Python subject -> join with a static table + tumbling windows -> JSON lines, persistent.

Run by ``test_kill_restart.py``: ``python pipeline_subject.py OUTPUT STATE ROWS``. The subject
is deterministic and slow (a few milliseconds a row), so a kill lands in the middle.
"""

import sys
import time

import reflow as pw


class Event(pw.Schema):
    sensor: int
    t: int
    value: int


class Sensors(pw.io.python.ConnectorSubject):
    def __init__(self, rows: int) -> None:
        super().__init__()
        self.rows = rows

    def run(self) -> None:
        for i in range(self.rows):
            self.next(sensor=i % 5, t=i, value=(i * 7919) % 101)
            if i % 10 == 9:
                self.commit()
                time.sleep(0.05)


def main() -> None:
    output, state, rows = sys.argv[1], sys.argv[2], int(sys.argv[3])
    events = pw.io.python.read(Sensors(rows), schema=Event, name="sensors")
    names = pw.debug.table_from_markdown('''
    sensor | label
    0      | north
    1      | south
    2      | east
    3      | west
    4      | center
    ''')
    labelled = events.join(names, pw.left.sensor == pw.right.sensor).select(
        pw.left.t, pw.left.value, pw.right.label
    )
    windows = labelled.windowby(
        pw.this.t, window=pw.temporal.tumbling(duration=25), instance=pw.this.label
    ).reduce(
        label=pw.this._pw_instance,
        start=pw.this._pw_window_start,
        total=pw.reducers.sum(pw.this.value),
        n=pw.reducers.count(),
    )
    pw.io.jsonlines.write(windows, output, name="windows")
    pw.run(persistence_config=pw.persistence.Config(
        pw.persistence.Backend.filesystem(state), snapshot_interval_ms=50
    ))


if __name__ == "__main__":
    main()
