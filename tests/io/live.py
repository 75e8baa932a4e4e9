"""Helpers for tests that run live pipelines: a collecting sink and a bounded run."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import reflow as pw
from reflow.runtime import streaming

TIMEOUT = 20.0


class Collector:
    """Subscribes to a table; keeps its current rows and its update stream."""

    def __init__(self, table: pw.Table) -> None:
        self.names = table.column_names()
        self.state: dict = {}
        self.updates: list[tuple] = []
        self.times_ended: list[int] = []
        self.ended = False
        self._cond = threading.Condition()
        pw.io.subscribe(table, self._on_change, self._on_end, self._on_time_end)

    def _on_change(self, key, row, time, is_addition):
        with self._cond:
            values = tuple(row[n] for n in self.names)
            self.updates.append((*values, time, 1 if is_addition else -1))
            if is_addition:
                self.state[key] = values
            else:
                self.state.pop(key, None)

    def _on_time_end(self, time):
        with self._cond:
            self.times_ended.append(time)
            self._cond.notify_all()

    def _on_end(self):
        with self._cond:
            self.ended = True
            self._cond.notify_all()

    def rows(self) -> list[tuple]:
        with self._cond:
            return sorted(self.state.values(), key=repr)

    def wait_for(self, predicate: Callable[[Collector], bool], timeout: float = TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate(self):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"condition not met; rows: {self.state.values()}")
                self._cond.wait(min(left, 0.05))

    def wait_rows(self, expected: list[tuple], timeout: float = TIMEOUT) -> None:
        expected = sorted(expected, key=repr)
        self.wait_for(lambda c: sorted(c.state.values(), key=repr) == expected, timeout)


def run_while(
    driver: Callable[[], None],
    timeout: float = TIMEOUT,
    stop_on_return: bool = True,
    **run_kwargs,
) -> None:
    """Run the pipeline here while ``driver`` runs in a thread; stop when it returns (or on a
    timeout). Re-raises the driver's failure. With ``stop_on_return=False`` the run goes on
    after the driver returns until the pipeline ends itself (an error) or the timeout."""
    failures: list[BaseException] = []

    def target():
        try:
            driver()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test's thread
            failures.append(exc)
            streaming.stop()
        else:
            if stop_on_return:
                streaming.stop()

    thread = threading.Thread(target=target, daemon=True)
    watchdog = threading.Timer(timeout, streaming.stop)
    thread.start()
    watchdog.start()
    try:
        pw.run(monitoring_level=pw.MonitoringLevel.NONE, **run_kwargs)
    finally:
        watchdog.cancel()
        thread.join(5)
    if failures:
        raise failures[0]


def write_atomic(path, text: str | bytes) -> None:
    """Replace a file's contents in one step, so a poll never sees it half written."""
    import os

    tmp = path.with_name("." + path.name + ".tmp")
    if isinstance(text, str):
        tmp.write_text(text)
    else:
        tmp.write_bytes(text)
    os.replace(tmp, path)
