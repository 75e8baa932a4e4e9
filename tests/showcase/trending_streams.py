"""Small hand-written streams for the showcase pipeline's tests."""

from __future__ import annotations

import json
from typing import Any

import reflow as pw
from examples.trending.pipeline import Outputs, build
from reflow.debug.output import collect_updates_of

T0 = 1_800_000_000.0  # a multiple of the refit period, so minute and refit bounds are round


def record(rid: str, ts: float, *, author: str = "ana", location: str = "Paris",
           kind: str = "post", topic: str = "#x", text: str = "good day",
           parent: str | None = None) -> str:
    return json.dumps({
        "id": rid, "kind": kind, "author": author, "followers": 10, "location": location,
        "topic": topic, "text": text if kind != "repost" else "", "ts": T0 + ts,
        "parent": parent,
    })


def run(commits: list[list[str]], pick) -> list[list[tuple[int, Any, dict, int]]]:
    """Runs the pipeline over ``commits`` (one logical time each: 0, 2, 4, ...) and returns
    the update streams of the tables ``pick(outputs)`` names."""
    rows = [(line, 2 * time, 1) for time, lines in enumerate(commits) for line in lines]
    lines = pw.debug.table_from_rows(pw.schema_from_types(data=str), rows, is_stream=True)
    outputs: Outputs = build(lines)
    return collect_updates_of(pick(outputs), terminate_on_error=False)


def at(updates: list, time: int) -> list[tuple[dict, int]]:
    return sorted(((row, diff) for t, _, row, diff in updates if t == time), key=repr)
