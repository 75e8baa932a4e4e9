"""Running a pipeline script in a subprocess, killing it with SIGKILL at seeded random
instants while its input grows, and restarting it."""

from __future__ import annotations

import csv
import io
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).parent
#: Longest wait for a restarted process to be at work before its kill delay starts (s).
READY_WAIT = 20.0


def start(script: str, *args: str) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(HERE.parent.parent))
    return subprocess.Popen(
        [sys.executable, str(HERE / script), *args], env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )


def run_with_kills(
    script: str,
    args: list[str],
    feed: Callable[[int, bool], bool],
    kills: int,
    seed: int,
    window: tuple[float, float] = (0.5, 2.5),
    ready: Callable[[float], bool] | None = None,
) -> None:
    """Start ``script``; call ``feed(step, last_run)`` (it adds input and returns False once
    nothing more is to be added) every few milliseconds; kill -9 the process at ``kills``
    random instants and restart it after each; the last run goes on until the script exits
    by itself.

    With ``ready(since)`` the random delay of a kill counts from when ``ready`` first says
    the restarted process is at work (``since``: its start, as ``time.time()``; at most
    ``READY_WAIT`` s), so kills land while it processes rather than while it imports.
    """
    rng = random.Random(seed)
    step = 0
    for attempt in range(kills + 1):
        since = time.time()
        process = start(script, *args)
        started = time.monotonic()
        delay = rng.uniform(*window) if attempt < kills else 120
        deadline = None if ready is not None and attempt < kills else started + delay
        while process.poll() is None:
            now = time.monotonic()
            if deadline is None and (ready(since) or now - started > READY_WAIT):
                deadline = now + delay
            if deadline is not None and now >= deadline:
                break
            if feed(step, attempt == kills):
                step += 1
            time.sleep(0.05)
        if attempt < kills and process.poll() is None:
            process.send_signal(signal.SIGKILL)
            process.wait()
            continue
        if process.poll() is None:
            process.kill()
            _, err = process.communicate()
            raise AssertionError(f"{script} did not finish:\n{err.decode()[-3000:]}")
        _, err = process.communicate()
        if process.returncode != 0:
            if attempt < kills:
                continue  # finished before the kill: the next start finds everything done
            raise AssertionError(f"{script} failed:\n{err.decode()[-3000:]}")


def checkpointed_since(state: Path) -> Callable[[float], bool]:
    """A ``ready`` for ``run_with_kills``: a checkpoint was written in ``state`` since then."""

    def ready(since: float) -> bool:
        return any(file.stat().st_mtime > since for file in state.glob("checkpoint-*.bin"))

    return ready


def net_json_rows(text: str) -> Counter:
    """The rows of a JSON-lines change stream with their summed diffs (zero sums left out)."""
    total: Counter = Counter()
    for line in text.splitlines():
        row = json.loads(line)  # a torn last line fails here
        key = tuple(sorted((k, v) for k, v in row.items() if k not in ("time", "diff")))
        total[key] += row["diff"]
    return Counter({k: v for k, v in total.items() if v})


def net_rows(text: str, drop: tuple[str, ...] = ("time", "diff")) -> Counter:
    """The rows of a CSV change stream with their summed diffs (zero sums left out)."""
    reader = csv.DictReader(io.StringIO(text))
    total: Counter = Counter()
    for row in reader:
        assert None not in row and None not in row.values(), f"torn line {row!r}"
        key = tuple((k, v) for k, v in row.items() if k not in drop)
        total[key] += int(row["diff"])
    return Counter({k: v for k, v in total.items() if v})
