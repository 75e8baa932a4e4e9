"""Soak profile: a long streaming run whose memory must level off.

    .venv/bin/python -m tests.reliability.soak [--seconds 300] [--baseline PATH]

Rows flow at a steady rate through ``pw.io.python`` into a groupby (a bounded number of keys)
and a CSV sink. Once the state has stopped growing, the process's resident memory must stay
flat: the run fails (exit code 1) when RSS grew by more than ``--tolerance-mb`` between the
end of the warm-up (the first 30% of the run) and the end. Prints RSS samples, rows processed
and the growth per row.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

_PIPELINE = textwrap.dedent(
    """
    import sys, time
    import reflow as pw

    class S(pw.Schema):
        user: int
        amount: int

    class Subject(pw.io.python.ConnectorSubject):
        def run(self):
            # A steady 20,000 rows per second, which the pipeline keeps up with: memory then
            # measures what the run retains, not a backlog.
            i, start = 0, time.monotonic()
            while True:
                for _ in range(1000):
                    self.next(user=i % 5000, amount=i % 97)
                    i += 1
                self.commit()
                time.sleep(max(0.0, start + i / 20_000 - time.monotonic()))
                if i % 100_000 == 0:
                    print(i, flush=True)

    t = pw.io.python.read(Subject(), schema=S, autocommit_duration_ms=None)
    totals = t.groupby(pw.this.user).reduce(pw.this.user, total=pw.reducers.sum(pw.this.amount))
    pw.io.csv.write(totals, sys.argv[1])
    pw.run(monitoring_level=pw.MonitoringLevel.NONE)
    """
)


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def soak(seconds: float, tolerance_mb: float, env: dict | None = None) -> bool:
    folder = Path(tempfile.mkdtemp())
    script = folder / "pipeline.py"
    script.write_text(_PIPELINE)
    process = subprocess.Popen(
        [sys.executable, str(script), str(folder / "out.csv")],
        stdout=subprocess.PIPE, text=True, env=env,
    )
    progress = [0]

    def follow() -> None:
        for line in process.stdout:  # type: ignore[union-attr]
            progress[0] = int(line)

    threading.Thread(target=follow, daemon=True).start()
    samples: list[tuple[float, float, int]] = []
    start = time.monotonic()
    try:
        while time.monotonic() - start < seconds:
            time.sleep(1.0)
            samples.append((time.monotonic() - start, _rss_mb(process.pid), progress[0]))
    finally:
        process.kill()
        process.wait()
    warm = next(s for s in samples if s[0] >= 0.3 * seconds)
    end = samples[-1]
    growth = end[1] - warm[1]
    per_row = growth * 2**20 / max(1, end[2] - warm[2])
    for t, rss, n in samples[:: max(1, len(samples) // 20)]:
        print(f"{t:7.1f} s  {rss:8.1f} MB  {n:>10,} rows")
    print(f"after warm-up: RSS {warm[1]:.1f} -> {end[1]:.1f} MB ({growth:+.1f} MB) over "
          f"{end[2] - warm[2]:,} rows: {per_row:.1f} bytes per row")
    return growth <= tolerance_mb


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=300.0)
    parser.add_argument("--tolerance-mb", type=float, default=24.0)
    parser.add_argument("--baseline", help="run the reflow of another checkout instead")
    args = parser.parse_args()
    env = dict(os.environ)
    if args.baseline:
        env["PYTHONPATH"] = os.path.abspath(args.baseline)
    ok = soak(args.seconds, args.tolerance_mb, env)
    print("RSS levels off" if ok else "RSS keeps growing")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
