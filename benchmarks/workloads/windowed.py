"""Workload 5: windowed aggregation — 1M timestamped events, 1-minute tumbling windows,
5% of the events late (1 to 10 minutes behind), count and sum per window kept up to date.

reflow and Pathway run the same pipeline: events pushed through a
``pw.io.python.ConnectorSubject`` (one ``commit()`` per 1,000 events), then
``pw.temporal.windowby(..., window=pw.temporal.tumbling(duration=60)).reduce(...)`` and
``pw.io.csv.write``. Late events update their (already emitted) window. Throughput is events
per second over ``pw.run()``; the runner adds peak RSS. Polars computes the final windows
from scratch (the reference for the digest). Bytewax's windows drop events that are later
than its watermark allows, which gives different results, so it is not run.

An engine without ``pw.temporal`` (reflow before its windows existed) reports
``not_implemented`` here, and the other systems are still measured.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import (
    NOT_IMPLEMENTED,
    OK,
    UNSUPPORTED,
    digest_rows,
    emit,
    events_file,
    final_rows_from_update_csv,
    not_available,
    read_int_rows,
    workload_arguments,
)

WORKLOAD = "windowed"
FULL_SIZE = 1_000_000
QUICK_SIZE = 10_000
COMMIT = 1_000
WINDOW_S = 60
OUTPUT_COLUMNS = ["window_start", "count", "total"]


def run_table_api(
    pw, events: list[tuple[int, int, int]], out: Path, commit: int = COMMIT
) -> None:
    """The pipeline, written once against the shared ``pw`` API (reflow or Pathway)."""

    class Event(pw.Schema):
        event_id: int = pw.column_definition(primary_key=True)
        ts: int
        value: int

    class EventSubject(pw.io.python.ConnectorSubject):
        def run(self) -> None:
            for start in range(0, len(events), commit):
                for event_id, ts, value in events[start : start + commit]:
                    self.next(event_id=event_id, ts=ts, value=value)
                self.commit()

    table = pw.io.python.read(EventSubject(), schema=Event, autocommit_duration_ms=None)
    windows = pw.temporal.windowby(
        table, table.ts, window=pw.temporal.tumbling(duration=WINDOW_S)
    ).reduce(
        window_start=pw.this._pw_window_start,
        count=pw.reducers.count(),
        total=pw.reducers.sum(pw.this.value),
    )
    pw.io.csv.write(windows, str(out))
    pw.run(monitoring_level=pw.MonitoringLevel.NONE)


def run_polars(source: Path, out: Path) -> None:
    import polars as pl

    (
        pl.read_csv(source)
        .group_by(window_start=pl.col("ts") // WINDOW_S * WINDOW_S)
        .agg(count=pl.len(), total=pl.col("value").sum())
        .write_csv(out)
    )


def main() -> None:
    args = workload_arguments(__doc__).parse_args()
    commit = args.commit or COMMIT
    n = args.size or (QUICK_SIZE if args.quick else FULL_SIZE)
    source = events_file(args.data_dir, n)
    if args.prepare:
        return
    if args.engine == "bytewax":
        emit(WORKLOAD, args.engine, UNSUPPORTED, note="drops late events", size=n)
        return
    events = read_int_rows(source)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "windows.csv"
        start = time.perf_counter()
        try:
            if args.engine == "polars":
                run_polars(source, out)
            else:
                import importlib

                pw = importlib.import_module(args.engine)
                pw.temporal  # noqa: B018 -- fails here while windows are not implemented
                start = time.perf_counter()
                run_table_api(pw, events, out, commit)
        except (AttributeError, ImportError, NotImplementedError) as exc:
            note = f"windows are not implemented yet ({not_available(exc)})"
            emit(WORKLOAD, args.engine, NOT_IMPLEMENTED, note=note, size=n)
            return
        elapsed = time.perf_counter() - start
        digest = digest_rows(final_rows_from_update_csv(out, OUTPUT_COLUMNS))
    emit(
        WORKLOAD,
        args.engine,
        OK,
        {"run_s": elapsed, "events_per_s": n / elapsed},
        digest,
        size=n,
        commit=commit,
    )


if __name__ == "__main__":
    main()
