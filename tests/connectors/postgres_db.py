"""The machine's PostgreSQL (127.0.0.1:5432, database ``test``) for connector tests."""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

import psycopg

SETTINGS = {"host": "127.0.0.1", "port": 5432, "dbname": "test", "user": "postgres"}


def ensure_logical_replication() -> None:
    """Change data capture needs wal_level=logical; set it (a server restart) if needed."""
    with psycopg.connect(**SETTINGS) as conn:
        level = conn.execute("SHOW wal_level").fetchone()[0]
    if level != "logical":
        script = Path(__file__).resolve().parents[2] / "scripts" / "postgres-logical.sh"
        subprocess.run(["bash", str(script)], check=True)


class Database:
    settings = SETTINGS

    def __init__(self) -> None:
        self.conn = psycopg.connect(**SETTINGS, autocommit=True)
        self.tables: list[str] = []

    def table_name(self) -> str:
        name = f"reflow_test_{uuid.uuid4().hex[:12]}"
        self.tables.append(name)
        return name

    def execute(self, sql: str, params=None) -> None:
        self.conn.execute(sql, params)

    def rows(self, sql: str, params=None) -> list[tuple]:
        return sorted(self.conn.execute(sql, params).fetchall(), key=repr)

    def cleanup(self) -> None:
        for name in self.tables:
            self.conn.execute(f'DROP TABLE IF EXISTS "{name}"')
        self.conn.close()
