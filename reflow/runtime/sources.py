"""What plan input nodes are fed from."""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl


@dataclass
class StaticSource:
    """Batches known before the run starts, each at its logical time."""

    batches: list[tuple[int, pl.DataFrame]] = field(default_factory=list)


class ErrorLogSource:
    """Marker source of ``pw.global_error_log()``: the engine feeds it run-time errors."""
