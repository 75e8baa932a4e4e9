"""`scripts/demo.sh` end to end: the demo runs for a bounded time (Kafka through a local
broker, PostgreSQL snapshot tables), a headless Chromium (Debian's) shows the map and the
lists filling and changing as records arrive, and the demo stops by itself.
The files + SQLite fallback runs too, and its snapshot tables hold the pipeline's results.

``REFLOW_SCREENSHOT=docs/images/showcase.png`` saves the page for the README."""

from __future__ import annotations

import os
import re
import socket
import sqlite3
import subprocess
from pathlib import Path

import psycopg
import pytest
from playwright.sync_api import sync_playwright

from tests.io.test_http_browser import CHROMIUM_ARGS

ROOT = Path(__file__).resolve().parents[2]
POSTGRES = {"host": "127.0.0.1", "port": 5432, "dbname": "test", "user": "postgres"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def spawn_demo(*args: str) -> subprocess.Popen:
    return subprocess.Popen(["bash", str(ROOT / "scripts" / "demo.sh"), *args],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)


def start_demo(*args: str) -> tuple[subprocess.Popen, list[str]]:
    return serving(spawn_demo(*args))


def serving(demo: subprocess.Popen) -> tuple[subprocess.Popen, list[str]]:
    """The demo and its output up to the line giving the page's URL."""
    lines = []
    assert demo.stdout is not None
    for line in demo.stdout:
        lines.append(line)
        if line.startswith("open http"):
            return demo, lines
    raise AssertionError("the demo ended before serving its page:\n" + "".join(lines))


def finish(demo: subprocess.Popen, lines: list[str], timeout: float) -> str:
    try:
        out, _ = demo.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        demo.terminate()  # SIGTERM: the demo stops its broker and exits
        out, _ = demo.communicate(timeout=30)
        raise AssertionError("the demo did not stop in time:\n" + "".join(lines) + out) from None
    text = "".join(lines) + out
    assert demo.returncode == 0, text
    return text


def records_shown(page) -> int:
    return int(re.match(r"(\d+) records", page.inner_text("#stats")).group(1))


@pytest.fixture(scope="module")
def files_demo(tmp_path_factory):
    """The files + SQLite demo, started once and left running beside the Kafka one (the two
    runs mostly wait for their bounded durations, so they share that wait)."""
    workdir = tmp_path_factory.mktemp("files-demo")
    demo = spawn_demo("--duration", "8", "--port", str(free_port()), "--source", "files",
                      "--database", "sqlite", "--rate", "200", "--workdir", str(workdir))
    yield demo, workdir
    if demo.poll() is None:
        demo.terminate()
        demo.communicate(timeout=30)


def test_the_demo_page_renders_the_map_and_lists_and_follows_the_stream(tmp_path, files_demo):
    port = free_port()
    # event time x60: a refit every 3 s of wall-clock time
    demo, lines = start_demo("--duration", "14", "--port", str(port), "--rate", "200",
                             "--speed", "60",
                             "--workdir", str(tmp_path))
    assert "source: Kafka topic 'posts'" in lines[0]
    assert "snapshot tables: PostgreSQL" in lines[1]
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path="/usr/bin/chromium",
                                                 args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(f"http://127.0.0.1:{port}/")
            page.wait_for_selector("#land path", state="attached")
            page.wait_for_function(
                "document.querySelectorAll('#bubbles circle').length >= 6", timeout=30_000)
            page.wait_for_function(
                "document.querySelectorAll('#predictions tr').length >= 5", timeout=30_000)
            assert page.locator("#topics tr").count() >= 6
            first_count = records_shown(page)
            first_map = page.inner_html("#bubbles")
            # the map and the lists keep changing as records arrive; refits and late records
            # fill the panel of revised decisions
            page.wait_for_function(
                "[...document.querySelectorAll('#revisions li')]"
                ".some(li => li.textContent.includes('(refit)'))", timeout=40_000)
            page.wait_for_function(
                f"!document.getElementById('stats').textContent.startsWith('{first_count} ')",
                timeout=10_000)
            assert records_shown(page) > first_count
            page.wait_for_function(
                "(m) => document.getElementById('bubbles').innerHTML !== m", arg=first_map,
                timeout=20_000)
            colours = page.eval_on_selector_all(
                "#bubbles circle", "cs => new Set(cs.map(c => c.getAttribute('fill'))).size")
            assert colours >= 3  # topics of different moods are coloured differently
            page.screenshot(path=os.environ.get("REFLOW_SCREENSHOT",
                                                str(tmp_path / "showcase.png")))
            browser.close()
    finally:
        output = finish(demo, lines, timeout=120)
    assert re.search(r"stopped after \d+ generated records", output)
    with psycopg.connect(**POSTGRES) as conn:
        topics = conn.execute("SELECT count(*), sum(engagement) FROM trending_topics_by_region"
                              ).fetchone()
        predictions = conn.execute("SELECT count(*) FROM trending_predictions").fetchone()
    assert topics[0] > 10 and topics[1] > 1000
    assert predictions[0] > 10


def test_without_a_broker_and_database_the_demo_uses_files_and_sqlite(files_demo):
    demo, tmp_path = files_demo
    output = finish(*serving(demo), timeout=120)
    assert f"source: JSON-lines files in {tmp_path / 'posts'}" in output
    assert f"snapshot tables: SQLite fallback at {tmp_path / 'trending.sqlite'}" in output
    assert len(list((tmp_path / "posts").glob("*.jsonl"))) > 10
    with sqlite3.connect(tmp_path / "trending.sqlite") as db:
        (count, total), = db.execute(
            "SELECT count(*), sum(engagement) FROM trending_topics_by_region").fetchall()
        reach, = db.execute("SELECT count(*) FROM trending_author_reach").fetchone()
    assert count > 10 and total > 500 and reach > 10
