"""Helpers for the stateful-operator tests: per-time states and random update streams."""

from __future__ import annotations

import random
from typing import Any

import reflow as pw
from reflow.debug.output import collect_updates


def states(table: pw.Table, times: list[int]) -> dict[int, dict[Any, tuple]]:
    """The rows of ``table`` (by id) after each of ``times``."""
    names = table.column_names()
    updates = sorted(
        collect_updates(table, terminate_on_error=False), key=lambda u: (u[0], u[3] > 0)
    )
    out: dict[int, dict[Any, tuple]] = {}
    state: dict[Any, tuple] = {}
    pending = list(updates)
    for time in sorted(times):
        while pending and pending[0][0] <= time:
            _, row_id, row, diff = pending.pop(0)
            if diff > 0:
                assert row_id not in state, f"row {row_id} inserted twice"
                state[row_id] = tuple(row[n] for n in names)
            else:
                assert row_id in state, f"retraction of absent row {row_id}"
                del state[row_id]
        out[time] = dict(state)
    return out


def random_stream(
    rng: random.Random, labels: list[int], times: int, values: range, columns: int = 1
) -> tuple[str, list[int]]:
    """Markdown of a random update stream over ``labels`` and the times it uses.

    Each time inserts, updates (retract + insert) or deletes a few rows, so the stream has
    every kind of change, including deleting a row and inserting it again later.
    """
    header = "  | " + " | ".join(f"c{i}" for i in range(columns)) + " | __time__ | __diff__"
    lines = [header]
    live: dict[int, tuple] = {}
    used = []
    for step in range(times):
        time = 2 * (step + 1)
        used.append(time)
        for label in rng.sample(labels, k=min(len(labels), rng.randint(1, 3))):
            row = tuple(rng.choice(values) for _ in range(columns))
            if label in live:
                old = live.pop(label)
                lines.append(_line(label, old, time, -1))
                if rng.random() < 0.5:
                    continue
                if row == old:
                    live[label] = old
                    lines.pop()
                    continue
            live[label] = row
            lines.append(_line(label, row, time, 1))
    return "\n".join(lines), used


def _line(label: int, row: tuple, time: int, diff: int) -> str:
    return f"{label} | " + " | ".join(map(str, row)) + f" | {time} | {diff}"
