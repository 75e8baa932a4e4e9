"""Vector tables with update streams, for the index tests."""

from __future__ import annotations

import numpy as np

import reflow as pw


class Rows(pw.Schema):
    key: int = pw.column_definition(primary_key=True)
    vec: np.ndarray
    tag: str


def vector_table(changes: list[tuple[int, np.ndarray, str, int, int]]) -> pw.Table:
    """A table of ``(key, vec, tag, time, diff)`` changes (an update is -1 old, +1 new)."""
    return pw.debug.table_from_rows(Rows, changes, is_stream=True)


def distance(a: np.ndarray, b: np.ndarray, metric: str) -> float:
    """The index's distances, from scratch in float64."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if metric == "l2sq":
        return float(((a - b) ** 2).sum())
    if metric == "cos":
        return float(1.0 - (a / np.linalg.norm(a)) @ (b / np.linalg.norm(b)))
    return float(1.0 - a @ b)


def exact_top(data: dict[int, np.ndarray], query: np.ndarray, k: int,
              metric: str = "l2sq") -> list[str]:
    """Tags (``"r<key>"``) of the ``k`` nearest rows of ``data`` (random vectors: no ties)."""
    order = sorted(data, key=lambda key: distance(data[key], query, metric))
    return [f"r{key}" for key in order[:k]]
