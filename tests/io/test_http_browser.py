"""A live table rendered by a real headless browser (Debian's chromium through Playwright)
stays equal to the pipeline's result through inserts, updates, deletes and a reconnect."""

from __future__ import annotations

import queue

from fastapi.responses import HTMLResponse
from playwright.sync_api import sync_playwright

import reflow as pw
from tests.io.live import Collector, run_while

CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]

PAGE = """<!doctype html>
<html><body>
<table><thead><tr><th>player</th><th>total</th></tr></thead><tbody id="rows"></tbody></table>
<p>time <span id="time"></span></p>
<script>
let rows = new Map();
let source = null;
function render(time) {
  const body = document.getElementById("rows");
  body.replaceChildren();
  const sorted = [...rows.values()].sort((a, b) => a.player < b.player ? -1 : 1);
  for (const row of sorted) {
    const tr = document.createElement("tr");
    for (const value of [row.player, row.total]) {
      const td = document.createElement("td");
      td.textContent = value;
      tr.appendChild(td);
    }
    body.appendChild(tr);
  }
  document.getElementById("time").textContent = time === null ? "none" : time;
}
function connect() {
  source = new EventSource("/totals/stream");
  source.addEventListener("snapshot", (e) => {
    const data = JSON.parse(e.data);
    rows = new Map(data.rows.map((r) => [r.id, r]));
    render(data.time);
  });
  source.addEventListener("change", (e) => {
    const data = JSON.parse(e.data);
    for (const c of data.changes) {
      if (c.diff > 0) rows.set(c.id, c.row); else rows.delete(c.id);
    }
    render(data.time);
  });
}
function reconnect() { source.close(); connect(); }
connect();
</script></body></html>"""


class Events(pw.io.python.ConnectorSubject):
    def __init__(self) -> None:
        super().__init__()
        self.commits: queue.Queue = queue.Queue()

    def run(self) -> None:
        while (changes := self.commits.get()) is not None:
            for kind, values in changes:
                if kind == "+":
                    self.next(**values)
                else:
                    self.delete(**values)
            self.commit()

    def on_stop(self) -> None:
        self.commits.put(None)


class Event(pw.Schema):
    event: int = pw.column_definition(primary_key=True)
    player: str
    points: int


def test_browser_table_equals_the_pipeline_result():
    events = Events()
    table = pw.io.python.read(events, schema=Event, autocommit_duration_ms=None)
    totals = table.groupby(pw.this.player).reduce(
        pw.this.player, total=pw.reducers.sum(pw.this.points)
    )
    webserver = pw.io.http.PathwayWebserver(host="127.0.0.1", port=0)
    webserver.app.add_api_route("/", lambda: HTMLResponse(PAGE), methods=["GET"])
    pw.io.http.serve_table(totals, webserver=webserver, route="/totals")
    collected = Collector(totals)
    steps = [
        [("+", {"event": 1, "player": "ann", "points": 3}),
         ("+", {"event": 2, "player": "bob", "points": 4})],
        [("+", {"event": 3, "player": "ann", "points": 5})],  # ann's total is updated
        [("+", {"event": 2, "player": "bob", "points": 1})],  # event 2 is corrected
        [("+", {"event": 4, "player": "cid", "points": 9})],
        [("-", {"event": 2, "player": "bob", "points": 1})],  # bob disappears
        "reconnect",
        [("+", {"event": 5, "player": "dan", "points": 2}),
         ("-", {"event": 1, "player": "ann", "points": 3})],
        [("+", {"event": 6, "player": "bob", "points": 6})],
    ]
    checked = []

    def rendered(page) -> list[tuple]:
        cells = page.eval_on_selector_all(
            "#rows tr", "trs => trs.map(tr => [...tr.children].map(td => td.textContent))"
        )
        return [(player, int(total)) for player, total in cells]

    def driver():
        assert webserver.wait_ready(10)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS
            )
            try:
                page = browser.new_page()
                page.goto(webserver.url + "/")
                page.wait_for_function("document.getElementById('time').textContent !== ''")
                for step in steps:
                    if step == "reconnect":
                        page.evaluate("reconnect()")
                        continue
                    times_before = len(collected.times_ended)
                    events.commits.put(step)
                    collected.wait_for(lambda c, n=times_before: len(c.times_ended) > n)
                    expected = collected.rows()
                    last_time = str(collected.times_ended[-1])
                    page.wait_for_function(
                        f"document.getElementById('time').textContent === '{last_time}'"
                    )
                    assert rendered(page) == sorted(expected)
                    checked.append(expected)
            finally:
                browser.close()

    run_while(driver, timeout=60)
    assert sorted(checked[-1]) == [("ann", 5), ("bob", 6), ("cid", 9), ("dan", 2)]
