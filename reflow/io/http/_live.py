"""``serve_table``: a table's current rows as JSON, and every later change as Server-Sent
Events, so a web page can stay equal to the pipeline's result without polling."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import polars as pl

from reflow.io._common import add_sink
from reflow.io.http._server import PathwayWebserver
from reflow.io.http._values import jsonable
from reflow.runtime.batches import rows_of

if TYPE_CHECKING:
    from reflow.api.table import Table

#: Events a subscriber may have waiting before it is dropped (it reconnects and gets a
#: fresh snapshot instead of an ever-growing backlog).
MAX_BACKLOG = 10_000
#: Seconds between keep-alive comments on an idle event stream.
KEEPALIVE_S = 15.0

_END = None  # put in a subscriber's queue: the stream ends


class LiveTable:
    """The current rows of a table and the clients following its changes.

    The snapshot and the subscriptions change under one lock, in the pipeline's thread, once
    per logical time: a client that subscribes gets the snapshot of the last complete time
    and then exactly the changes of the later times.
    """

    def __init__(self, columns: dict) -> None:
        self.columns = columns
        self.rows: dict[str, dict[str, Any]] = {}
        self.time: int | None = None
        self.lock = threading.Lock()
        self.subscribers: dict[asyncio.AbstractEventLoop, set[asyncio.Queue]] = {}
        self.ended = False

    # --- pipeline side -------------------------------------------------------------------------
    def on_time(self, time: int, delta: pl.DataFrame) -> None:
        changes = sorted(rows_of(self.columns, delta), key=lambda change: change[2] > 0)
        out = []
        with self.lock:
            for key, row, diff in changes:
                row_id = str(key)
                values = {name: jsonable(value) for name, value in row.items()}
                if diff > 0:
                    self.rows[row_id] = values
                else:
                    self.rows.pop(row_id, None)
                out.append({"id": row_id, "diff": 1 if diff > 0 else -1, "row": values})
            self.time = time
            if out:
                message = json.dumps({"time": time, "changes": out}, separators=(",", ":"))
                self._publish(f"event: change\nid: {time}\ndata: {message}\n\n")

    def end(self) -> None:
        with self.lock:
            self.ended = True
            self._publish(_END)

    def _publish(self, event: str | None) -> None:
        for loop, queues in list(self.subscribers.items()):
            if loop.is_closed():
                del self.subscribers[loop]
                continue
            loop.call_soon_threadsafe(_deliver, queues, event)

    # --- server side ---------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return self._snapshot()

    def _snapshot(self) -> dict[str, Any]:
        return {"time": self.time, "rows": [{"id": k, **v} for k, v in self.rows.items()]}

    def subscribe(self) -> tuple[dict[str, Any], asyncio.Queue]:
        queue: asyncio.Queue = asyncio.Queue()
        loop = asyncio.get_running_loop()
        with self.lock:
            if self.ended:
                queue.put_nowait(_END)
            else:
                self.subscribers.setdefault(loop, set()).add(queue)
            return self._snapshot(), queue

    def unsubscribe(self, queue: asyncio.Queue) -> None:
        with self.lock:
            for queues in self.subscribers.values():
                queues.discard(queue)

    async def stream(self) -> AsyncIterator[str]:
        snapshot, queue = self.subscribe()
        try:
            data = json.dumps(snapshot, separators=(",", ":"))
            yield f"retry: 1000\nevent: snapshot\ndata: {data}\n\n"
            while True:
                try:
                    event = await asyncio.wait_for(queue.get(), KEEPALIVE_S)
                except TimeoutError:
                    yield ": keep-alive\n\n"
                    continue
                # Whatever else is waiting goes out in the same write.
                events = [event]
                while event is not _END and not queue.empty():
                    event = queue.get_nowait()
                    events.append(event)
                if events[-1] is _END:
                    if len(events) > 1:
                        yield "".join(events[:-1])
                    return
                yield "".join(events)
        finally:
            self.unsubscribe(queue)


def _deliver(queues: set[asyncio.Queue], event: str | None) -> None:
    for queue in list(queues):
        if event is not _END and queue.qsize() >= MAX_BACKLOG:
            queues.discard(queue)  # too slow: end its stream, the client reconnects
            queue.put_nowait(_END)
        else:
            queue.put_nowait(event)


def serve_table(
    table: Table,
    *,
    webserver: PathwayWebserver,
    route: str,
) -> LiveTable:
    """Serve ``table`` live: ``GET route`` answers its current rows as JSON
    (``{"time": t, "rows": [{"id": ..., column: value, ...}]}``) and ``GET route/stream``
    is a Server-Sent Events stream: a ``snapshot`` event with the same JSON, then one
    ``change`` event per logical time, ``{"time": t, "changes": [{"id", "diff", "row"}]}``
    (an update is a removal, ``diff`` -1, then an addition). A client that reconnects gets a
    fresh snapshot and then the changes after it, none missing and none twice.

    >>> import reflow as pw
    >>> scores = pw.debug.table_from_markdown('''
    ... player | points
    ... ann    | 3
    ... ''')
    >>> webserver = pw.io.http.PathwayWebserver(host="127.0.0.1", port=0)
    >>> live = pw.io.http.serve_table(scores, webserver=webserver, route="/scores")
    >>> pw.run(monitoring_level=pw.MonitoringLevel.NONE)  # serves while the pipeline runs
    >>> [(row["player"], row["points"]) for row in live.snapshot()["rows"]]
    [('ann', 3)]
    """
    from fastapi.responses import JSONResponse, StreamingResponse

    live = LiveTable(table._node.columns)
    route = "/" + route.strip("/")

    def current() -> JSONResponse:
        return JSONResponse(live.snapshot())

    def stream() -> StreamingResponse:
        return StreamingResponse(
            live.stream(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    webserver.add_route(route, ["GET"], current, name=f"rows of {route}")
    webserver.add_route(f"{route}/stream", ["GET"], stream, name=f"changes of {route}")
    webserver.on_shutdown(live.end)

    def ended() -> None:
        live.end()
        webserver.release()

    add_sink(
        table,
        f"serve_table {route}",
        live.on_time,
        on_end=ended,
        on_start=webserver.acquire,
    )
    return live
