"""A live leaderboard: a browser shows it changing as scores stream in and are corrected.

Run it and open http://127.0.0.1:8080/ :

    .venv/bin/python examples/leaderboard.py [--port 8080] [--seconds 600]

Game results stream in through a Python source for ``--seconds``; now and then a result is
corrected or cancelled. The server keeps answering until Ctrl-C. The pipeline keeps each
player's total and games; the page follows ``/board/stream`` (Server-Sent Events) and stays
equal to the pipeline's result, and ``POST /score`` asks the pipeline for one player's total.
"""

from __future__ import annotations

import argparse
import random
import time

from fastapi.responses import HTMLResponse

import reflow as pw

PAGE = """<!doctype html>
<html><head><title>reflow leaderboard</title>
<style>body{font-family:sans-serif;margin:2em} td,th{padding:.3em 1em;text-align:left}</style>
</head><body>
<h1>Leaderboard</h1>
<table><thead><tr><th>player</th><th>points</th><th>games</th></tr></thead>
<tbody id="rows"></tbody></table>
<p>logical time <span id="time"></span></p>
<script>
let rows = new Map();
function render(time) {
  const body = document.getElementById("rows");
  body.replaceChildren();
  for (const row of [...rows.values()].sort((a, b) => b.points - a.points)) {
    const tr = document.createElement("tr");
    for (const v of [row.player, row.points, row.games]) {
      const td = document.createElement("td"); td.textContent = v; tr.appendChild(td);
    }
    body.appendChild(tr);
  }
  document.getElementById("time").textContent = time ?? "";
}
const source = new EventSource("/board/stream");
source.addEventListener("snapshot", (e) => {
  const data = JSON.parse(e.data);
  rows = new Map(data.rows.map((r) => [r.id, r]));
  render(data.time);
});
source.addEventListener("change", (e) => {
  const data = JSON.parse(e.data);
  for (const c of data.changes) { if (c.diff > 0) rows.set(c.id, c.row); else rows.delete(c.id); }
  render(data.time);
});
</script></body></html>"""

PLAYERS = ["ann", "bob", "cid", "dan", "eve", "fay"]


class Result(pw.Schema):
    game: int = pw.column_definition(primary_key=True)
    player: str
    points: int


class Results(pw.io.python.ConnectorSubject):
    """One game result every 0.3 s; every fifth is a correction or a cancellation."""

    def __init__(self, seconds: float) -> None:
        super().__init__()
        self.seconds = seconds

    def run(self) -> None:
        rng = random.Random(1)
        end = time.monotonic() + self.seconds
        played: dict[int, str] = {}
        game = 0
        while time.monotonic() < end:
            if played and game % 5 == 4:
                earlier = rng.choice(list(played))
                if rng.random() < 0.5:
                    self.next(game=earlier, player=played[earlier], points=rng.randint(0, 3))
                else:
                    self.delete(game=earlier, player=played.pop(earlier), points=0)
            else:
                played[game] = rng.choice(PLAYERS)
                self.next(game=game, player=played[game], points=rng.randint(1, 10))
            game += 1
            self.commit()
            time.sleep(0.3)


class Question(pw.Schema):
    player: str


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--seconds", type=float, default=600)
    args = parser.parse_args()

    results = pw.io.python.read(Results(args.seconds), schema=Result,
                                autocommit_duration_ms=None)
    board = results.groupby(pw.this.player).reduce(
        pw.this.player,
        points=pw.reducers.sum(pw.this.points),
        games=pw.reducers.count(),
    )

    webserver = pw.io.http.PathwayWebserver(host="127.0.0.1", port=args.port)
    webserver.app.add_api_route("/", lambda: HTMLResponse(PAGE), methods=["GET"])
    pw.io.http.serve_table(board, webserver=webserver, route="/board")

    questions, answer = pw.io.http.rest_connector(
        webserver=webserver, route="/score", schema=Question, autocommit_duration_ms=20
    )
    looked_up = questions.join_left(board, pw.left.player == pw.right.player, id=pw.left.id)
    answer(looked_up.select(result=pw.right.points))

    print(f"open http://127.0.0.1:{args.port}/ (Ctrl-C stops)", flush=True)
    pw.run(monitoring_level=pw.MonitoringLevel.NONE)


if __name__ == "__main__":
    main()
