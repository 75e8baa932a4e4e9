"""examples/leaderboard.py in a real headless browser: the page changes while results stream
in, and ends equal to the pipeline's table."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from playwright.sync_api import sync_playwright

from tests.io.test_http_browser import CHROMIUM_ARGS

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "leaderboard.py"
SECONDS = 8  # how long the example streams results


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def rendered(page) -> list[tuple]:
    cells = page.eval_on_selector_all(
        "#rows tr", "trs => trs.map(tr => [...tr.children].map(td => td.textContent))"
    )
    return sorted((player, int(points), int(games)) for player, points, games in cells)


def wait_until_served(url: str, example: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            httpx.get(url + "/board", timeout=1)
            return
        except httpx.HTTPError:
            assert example.poll() is None, example.stdout.read()  # type: ignore[union-attr]
            assert time.monotonic() < deadline, "the example did not start serving"
            time.sleep(0.1)


def test_leaderboard_page_changes_and_ends_equal_to_the_pipeline():
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS
        )
        page = browser.new_page()
        started = time.monotonic()
        example = subprocess.Popen(
            [sys.executable, str(EXAMPLE), "--port", str(port), "--seconds", str(SECONDS)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )
        try:
            wait_until_served(url, example)
            page.goto(url + "/")
            seen: list[list[tuple]] = []
            while len(seen) < 3 and time.monotonic() < started + SECONDS + 5:
                state = rendered(page)
                if not seen or state != seen[-1]:
                    seen.append(state)
                time.sleep(0.05)
            assert len(seen) >= 3, "the page did not change while results streamed in"
            # The results stop after SECONDS: wait until the board stays the same.
            board, quiet_since = None, time.monotonic()
            while time.monotonic() - quiet_since < 1.5 or time.monotonic() < started + SECONDS:
                current = httpx.get(url + "/board", timeout=5).json()
                if current != board:
                    board, quiet_since = current, time.monotonic()
                time.sleep(0.1)
            page.wait_for_function(
                f"document.getElementById('time').textContent === '{board['time']}'"
            )
            final = sorted((r["player"], r["points"], r["games"]) for r in board["rows"])
            assert rendered(page) == final
            answer = httpx.post(url + "/score", json={"player": final[0][0]}, timeout=10)
            assert answer.json() == final[0][1]
        finally:
            browser.close()
            example.send_signal(signal.SIGINT)
            try:
                example.wait(20)
            except subprocess.TimeoutExpired:
                example.kill()
                example.wait()
