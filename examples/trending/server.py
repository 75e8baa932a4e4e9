"""The API and the page, as routes on the pipeline's own FastAPI app.

| route | answer |
|---|---|
| ``GET /`` | the live page (``static/index.html``) |
| ``GET /topics?minute=`` | topics by region for one minute (default: the latest) |
| ``GET /regions/{id}`` | one region's topics, minute by minute |
| ``GET /predictions`` | each topic's latest predicted engagement and model parameters |
| ``GET /stats`` | counts: records, bad records, unplaced, withdrawn places, revisions |
| ``GET /revisions`` | the decisions the pipeline revised in the last minute |
| ``GET /stream`` | Server-Sent Events: a snapshot, then one ``update`` per logical time |
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException
from fastapi.responses import FileResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles

from .board import Board
from .gazetteer import REGIONS

STATIC = Path(__file__).parent / "static"


def latest_predictions(board: Board) -> dict[str, dict]:
    """Each topic's prediction from its newest complete minute (the open one is filling)."""
    rows = board.rows("predictions")
    open_minute = max((row["minute"] for row in rows), default=0.0)
    latest: dict[str, dict] = {}
    for row in rows:
        topic = row["topic"]
        if row["minute"] < open_minute and (
                topic not in latest or row["minute"] > latest[topic]["minute"]):
            latest[topic] = row
    return latest


def add_routes(app: FastAPI, board: Board) -> None:
    """Serve ``board`` on ``app``."""
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    @app.get("/topics")
    def topics(minute: float | None = None) -> dict[str, Any]:
        buckets = board.rows("buckets")
        if minute is None:
            minute = max((b["minute"] for b in buckets), default=0.0)
        predicted = latest_predictions(board)
        rows = [
            {**b, "predicted": predicted.get(b["topic"], {}).get("predicted")}
            for b in buckets if b["minute"] == minute
        ]
        return {"minute": minute, "topics": sorted(rows, key=lambda r: -r["engagement"])}

    @app.get("/regions/{region}")
    def region(region: str) -> dict[str, Any]:
        if region not in REGIONS:
            raise HTTPException(404, f"no region {region!r}; regions are {', '.join(REGIONS)}")
        rows = [b for b in board.rows("buckets") if b["region"] == region]
        return {"region": region, "name": REGIONS[region][0],
                "buckets": sorted(rows, key=lambda r: (r["minute"], r["topic"]))}

    @app.get("/predictions")
    def predictions() -> dict[str, Any]:
        return {"predictions": sorted(latest_predictions(board).values(),
                                      key=lambda r: -r["predicted"])}

    @app.get("/stats")
    def stats() -> dict[str, Any]:
        with board.lock:
            return board.stats()

    @app.get("/revisions")
    def revisions() -> dict[str, Any]:
        return {"revisions": board.recent_revisions()}

    @app.get("/stream")
    async def stream() -> StreamingResponse:
        return StreamingResponse(events(board), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache"})


async def events(board: Board) -> AsyncIterator[str]:
    queue = board.listen()
    try:
        yield "retry: 1000\n\n"
        yield f"event: snapshot\ndata: {json.dumps(board.snapshot())}\n\n"
        while (message := await queue.get()) is not None:
            yield f"event: update\ndata: {json.dumps(message)}\n\n"
    finally:
        board.forget(queue)
