"""Run one Nexmark query on a ``pw`` engine: the generated events go through the Python
connector (one ``commit()`` per ``commit`` events of the interleaved stream) and the result
is written with ``pw.io.csv.write``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .generator import AUCTION_COLUMNS, BID_COLUMNS, PERSON_COLUMNS, Events
from .queries import QUERIES

STREAMS = {
    "person": (PERSON_COLUMNS, {"person_id": int, "name": str, "email_address": str, "city": str,
                                "state": str, "date_time": int}),
    "auction": (AUCTION_COLUMNS, {"auction_id": int, "item_name": str, "initial_bid": int,
                                  "reserve": int, "date_time": int, "expires": int,
                                  "seller": int, "category": int}),
    "bid": (BID_COLUMNS, {"auction": int, "bidder": int, "price": int, "channel": str,
                          "date_time": int}),
}


def _stream_table(pw: Any, name: str, rows: list[tuple], chunks: list[int]) -> Any:
    columns, types = STREAMS[name]

    class Subject(pw.io.python.ConnectorSubject):
        def run(self) -> None:
            start = 0
            for end in chunks:
                for row in rows[start:end]:
                    self.next(**dict(zip(columns, row)))
                self.commit()
                start = end

    return pw.io.python.read(
        Subject(), schema=pw.schema_from_types(**types), autocommit_duration_ms=None
    )


def _chunk_ends(events: Events, stream: str, commit: int) -> list[int]:
    """For each block of ``commit`` events of the interleaved stream, how many rows of
    ``stream`` come at or before its end."""
    ends, seen = [], 0
    for position, (kind, _) in enumerate(events.order, start=1):
        seen += kind == stream
        if position % commit == 0 or position == len(events.order):
            ends.append(seen)
    return ends


def commit_plan(events: Events, commit: int) -> dict[str, list[int]]:
    """Per stream, the row counts at which its source commits (see ``_chunk_ends``)."""
    return {name: _chunk_ends(events, name, commit) for name in STREAMS}


def run_query(pw: Any, query: str, events: Events, out: Path, commit: int = 1_000,
              plan: dict[str, list[int]] | None = None) -> None:
    """Build ``query`` on ``pw`` over ``events``, write its changes to ``out`` and run.
    ``plan`` is ``commit_plan(events, commit)``, computed here when not given."""
    function, streams, _ = QUERIES[query]
    plan = plan or commit_plan(events, commit)
    rows = {"person": events.persons, "auction": events.auctions, "bid": events.bids}
    tables = {
        name: (_stream_table(pw, name, rows[name], plan[name]) if name in streams else None)
        for name in STREAMS
    }
    result = function(pw, tables["person"], tables["auction"], tables["bid"])
    pw.io.csv.write(result, str(out))
    pw.run(monitoring_level=pw.MonitoringLevel.NONE)
