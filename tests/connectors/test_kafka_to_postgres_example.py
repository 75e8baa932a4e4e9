"""The Kafka -> reflow -> PostgreSQL example runs and revises its table on a late sale."""

import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "kafka_to_postgres.py"


def test_kafka_to_postgres_example_revises_the_snapshot_on_a_late_message(pg):
    result = subprocess.run(
        [sys.executable, str(EXAMPLE)], capture_output=True, text=True, timeout=120
    )
    pg.tables.append("daily_sales")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-2:] == [
        "after the first sales: 2026-03-01 = 150, 2026-03-02 = 75",
        "after a late sale  : 2026-03-01 = 200, 2026-03-02 = 75",
    ]
