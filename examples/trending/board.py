"""What the page shows, kept up to date from the pipeline's outputs, with the revisions.

``Board.attach(outputs)`` subscribes to the tables the page needs. After each complete
logical time the board has applied all of that time's changes, noted which earlier answers
changed (a prediction revised by a refit or late data, a place withdrawn, an author judged
unreliable, a closed minute's bucket changed by a late record) and sends one ``update``
message to every open event stream, so a page never shows half a commit.
"""

from __future__ import annotations

import asyncio
import collections
import threading
import time
from typing import Any

import reflow as pw

from .pipeline import Outputs

REVISIONS_KEPT_S = 60.0
MAX_REVISIONS_PER_TIME = 40


class Board:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.tables: dict[str, dict[Any, dict]] = collections.defaultdict(dict)
        self.pending: dict[str, list[tuple[Any, dict, bool]]] = collections.defaultdict(list)
        self.revisions: collections.deque[dict] = collections.deque()
        self.revision_count = 0
        self.time = 0
        self.listeners: list[tuple[asyncio.AbstractEventLoop, asyncio.Queue]] = []

    # --- fed by the pipeline (its thread) -------------------------------------------------------
    def attach(self, outputs: Outputs) -> None:
        watched = {
            "buckets": outputs.buckets, "predictions": outputs.predictions,
            "params": outputs.params, "places": outputs.places.filter(~pw.this.good),
            "unreliable": outputs.verdicts.filter(~pw.this.reliable),
            "errors": outputs.errors, "counts": counts(outputs.records),
        }
        for name, table in watched.items():
            pw.io.subscribe(table, on_change=self._on_change(name),
                            on_time_end=self._on_time_end if name == "counts" else None)

    def _on_change(self, name: str):
        def on_change(key: Any, row: dict, time: int, is_addition: bool) -> None:
            self.pending[name].append((key, row, is_addition))

        return on_change

    def _on_time_end(self, logical_time: int) -> None:
        now = time.time()
        with self.lock:
            message: dict[str, Any] = {"time": logical_time, "changes": {}, "revisions": []}
            for name, changes in self.pending.items():
                table = self.tables[name]
                removed: dict[Any, dict] = {}
                added = _keys(changes, True)
                for key, row, is_addition in changes:
                    if is_addition:
                        table[key] = row
                    else:
                        removed[key] = table.pop(key, row)
                upserts = {str(k): table[k] for k in added if k in table}
                deletes = [str(k) for k in removed if k not in table]
                message["changes"][name] = {"upsert": upserts, "delete": deletes}
                message["revisions"] += self._revisions(name, removed, added, table, now)
            self.pending.clear()
            message["revisions"] = message["revisions"][:MAX_REVISIONS_PER_TIME]
            self.revisions.extend(message["revisions"])
            self.revision_count += len(message["revisions"])
            while self.revisions and self.revisions[0]["at"] < now - REVISIONS_KEPT_S:
                self.revisions.popleft()
            self.time = logical_time
            message["stats"] = self.stats()
            for loop, queue in list(self.listeners):
                loop.call_soon_threadsafe(_offer, queue, message)

    def _revisions(self, name: str, removed: dict, added: set, table: dict, now: float
                   ) -> list[dict]:
        found = []
        latest = max((r["minute"] for r in self.tables["buckets"].values()), default=0.0)
        for key, old in removed.items():
            new = table.get(key)
            if name == "predictions" and new is not None and new["predicted"] != old["predicted"]:
                refit = new["fitted_until"] != old["fitted_until"]
                if not refit and new["minute"] >= latest - 60:
                    continue  # the open minute filling up: not a revision
                why = "refit" if refit else "late data"
                found.append({"kind": "prediction", "what": new["topic"],
                              "minute": new["minute"], "old": old["predicted"],
                              "new": new["predicted"], "why": why, "at": now})
            elif name == "buckets" and new is not None and new["minute"] < latest - 60:
                found.append({"kind": "sentiment", "what": f"{new['topic']} in {new['region']}",
                              "minute": new["minute"], "old": old["engagement"],
                              "new": new["engagement"], "why": "late data", "at": now})
            elif name == "buckets" and new is None:
                found.append({"kind": "sentiment", "what": f"{old['topic']} in {old['region']}",
                              "minute": old["minute"], "old": old["engagement"], "new": 0,
                              "why": "withdrawn", "at": now})
        if name == "places":
            found += [{"kind": "place", "what": row["place"], "minute": None, "old": "good",
                       "new": "bad", "why": "no reliable author", "at": now}
                      for key, row in table.items() if key in added and key not in removed]
        if name == "unreliable":
            found += [{"kind": "author", "what": row["author"], "minute": None,
                       "old": "reliable", "new": "unreliable", "why": "far reposters",
                       "at": now}
                      for key, row in table.items() if key in added and key not in removed]
        return found

    # --- read by the API (any thread) -----------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        counts_row = next(iter(self.tables["counts"].values()), {})
        errors_row = next(iter(self.tables["errors"].values()), {})
        return {
            "records": counts_row.get("records", 0),
            "newest": counts_row.get("newest", 0.0),
            "unplaced": counts_row.get("unplaced", 0),
            "errors": errors_row.get("errors", 0),
            "bad_places": len(self.tables["places"]),
            "unreliable_authors": len(self.tables["unreliable"]),
            "late_rows_ignored": pw.temporal.late_rows_ignored(),
            "revisions": self.revision_count,
            "time": self.time,
        }

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {
                "time": self.time,
                "tables": {name: {str(k): row for k, row in rows.items()}
                           for name, rows in self.tables.items()},
                "revisions": list(self.revisions),
                "stats": self.stats(),
            }

    def rows(self, name: str) -> list[dict]:
        with self.lock:
            return list(self.tables[name].values())

    def recent_revisions(self) -> list[dict]:
        with self.lock:
            return list(self.revisions)

    def listen(self) -> asyncio.Queue:
        queue: asyncio.Queue = asyncio.Queue(maxsize=1000)
        with self.lock:
            self.listeners.append((asyncio.get_running_loop(), queue))
        return queue

    def forget(self, queue: asyncio.Queue) -> None:
        with self.lock:
            self.listeners = [(lp, q) for lp, q in self.listeners if q is not queue]

    def close(self) -> None:
        with self.lock:
            for loop, queue in self.listeners:
                loop.call_soon_threadsafe(_offer, queue, None)


def counts(records: pw.Table) -> pw.Table:
    """One row: records, unplaced records and the newest event time. The maximum is taken
    per tenth of a second first, so the last reduce sees one row per tenth, not one per
    record; and a late record revises a small group (a maximum keeps its group's rows, which
    are read back whenever the group changes)."""
    tenths = records.select(pw.this.ts, pw.this.status, tenth=pw.cast(int, pw.this.ts * 10))
    per_tenth = tenths.groupby(pw.this.tenth).reduce(
        records=pw.reducers.count(),
        newest=pw.reducers.max(pw.this.ts),
        unplaced=pw.reducers.sum(pw.if_else(pw.this.status == "ok", 0, 1)),
    )
    return per_tenth.reduce(
        records=pw.reducers.sum(pw.this.records),
        newest=pw.reducers.max(pw.this.newest),
        unplaced=pw.reducers.sum(pw.this.unplaced),
    )


def _keys(changes: list[tuple[Any, dict, bool]], additions: bool) -> set:
    return {key for key, _, is_addition in changes if is_addition == additions}


def _offer(queue: asyncio.Queue, message: dict | None) -> None:
    if queue.full():  # a client too slow to follow: it reconnects and gets a snapshot
        while not queue.empty():
            queue.get_nowait()
        message = None
    queue.put_nowait(message)
