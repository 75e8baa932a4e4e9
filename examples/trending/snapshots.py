"""The snapshot tables (topics by region, author reach, predictions): in the machine's
PostgreSQL when one answers, else in an SQLite file. Either always equals the pipeline's
current result, one transaction per logical time."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import reflow as pw

from .pipeline import Outputs

POSTGRES = {"host": "127.0.0.1", "port": 5432, "dbname": "test", "user": "postgres"}


def postgres_reachable(settings: dict[str, Any] = POSTGRES) -> bool:
    try:
        import psycopg

        with psycopg.connect(**settings, connect_timeout=2):
            return True
    except Exception:  # noqa: BLE001 - any failure means: use the fallback
        return False


def tables(outputs: Outputs) -> dict[str, tuple[pw.Table, list[str]]]:
    return {
        "trending_topics_by_region": (outputs.buckets, ["topic", "region", "minute"]),
        "trending_author_reach": (outputs.reach, ["author", "followers"]),
        "trending_predictions": (outputs.predictions, ["topic", "minute"]),
    }


def write_postgres(outputs: Outputs, settings: dict[str, Any] = POSTGRES) -> None:
    for name, (table, key) in tables(outputs).items():
        pw.io.postgres.write_snapshot(table, settings, name, key, init_mode="replace")


class SqliteSnapshot:
    """Keeps one SQLite table equal to ``table``: each logical time one transaction."""

    def __init__(self, path: Path, name: str, table: pw.Table, key: list[str]) -> None:
        self.path, self.name, self.key = path, name, key
        self.columns = list(table.schema.column_names())
        self.conn: sqlite3.Connection | None = None
        self.pending: list[tuple[dict, bool]] = []
        pw.io.subscribe(table, on_change=self.on_change, on_time_end=self.on_time_end,
                        on_end=self.on_end)

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path)
        columns = ", ".join(f'"{c}"' for c in self.columns)
        conn.execute(f'DROP TABLE IF EXISTS "{self.name}"')
        conn.execute(f'CREATE TABLE "{self.name}" ({columns}, '
                     f'PRIMARY KEY ({", ".join(self.key)}))')
        return conn

    def on_change(self, key: Any, row: dict, time: int, is_addition: bool) -> None:
        self.pending.append((row, is_addition))

    def on_time_end(self, time: int) -> None:
        if self.conn is None:
            self.conn = self._connect()
        where = " AND ".join(f'"{k}" = ?' for k in self.key)
        marks = ", ".join("?" for _ in self.columns)
        with self.conn:
            for row, is_addition in self.pending:
                if not is_addition:
                    self.conn.execute(f'DELETE FROM "{self.name}" WHERE {where}',
                                      [row[k] for k in self.key])
            self.conn.executemany(
                f'INSERT OR REPLACE INTO "{self.name}" VALUES ({marks})',
                [[row[c] for c in self.columns] for row, add in self.pending if add])
        self.pending.clear()

    def on_end(self) -> None:
        if self.conn is not None:
            self.conn.close()


def write_sqlite(outputs: Outputs, path: Path) -> None:
    for name, (table, key) in tables(outputs).items():
        SqliteSnapshot(path, name, table, key)
