"""pw.io.http.write (webhooks) and pw.io.http.read (streaming sources) against real local
servers on free ports."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading

import pytest
import uvicorn
from fastapi import FastAPI, Request, Response
from fastapi.responses import StreamingResponse

import reflow as pw
from tests.io.live import Collector


@contextlib.contextmanager
def serving(app: FastAPI):
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started and thread.is_alive():
        thread.join(0.01)
    try:
        yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)


def hook_app(failures_before_success: int = 0, status: int = 503):
    app = FastAPI()
    received: list[tuple] = []
    attempts = {"n": 0}

    @app.api_route("/hook/{pet}", methods=["POST", "PUT"])
    async def hook(pet: str, request: Request):
        attempts["n"] += 1
        if attempts["n"] <= failures_before_success:
            return Response(status_code=status)
        received.append((request.method, pet, dict(request.headers), await request.body()))
        return {"ok": True}

    return app, received, attempts


PETS = """
owner | pet | __time__ | __diff__
alice | dog | 2        | 1
bob   | cat | 2        | 1
alice | dog | 4        | -1
"""


def test_write_sends_every_change_as_json():
    app, received, _ = hook_app()
    with serving(app) as url:
        pets = pw.debug.table_from_markdown(PETS)
        pw.io.http.write(pets, url + "/hook/{table.pet}", headers={"X-Owner": "{table.owner}"})
        pw.run(monitoring_level=pw.MonitoringLevel.NONE)
    bodies = [(pet, h["x-owner"], json.loads(body)) for _, pet, h, body in received]
    assert sorted(bodies[:2], key=repr) == sorted([
        ("dog", "alice", {"owner": "alice", "pet": "dog", "time": 2, "diff": 1}),
        ("cat", "bob", {"owner": "bob", "pet": "cat", "time": 2, "diff": 1}),
    ], key=repr)
    assert bodies[2] == ("dog", "alice", {"owner": "alice", "pet": "dog", "time": 4, "diff": -1})
    assert all(h["content-type"] == "application/json" for _, _, h, _ in received)


def test_write_custom_payload_and_method():
    app, received, _ = hook_app()
    with serving(app) as url:
        pets = pw.debug.table_from_markdown(PETS)
        pw.io.http.write(pets.filter(pw.this.pet == "cat"), url + "/hook/x", method="PUT",
                         format="custom", request_payload_template="{table.owner} has a cat")
        pw.run(monitoring_level=pw.MonitoringLevel.NONE)
    assert [(m, body) for m, _, _, body in received] == [("PUT", b"bob has a cat")]


def test_write_retries_with_backoff_then_succeeds():
    app, received, attempts = hook_app(failures_before_success=2)
    with serving(app) as url:
        pets = pw.debug.table_from_markdown("owner | pet\nbob | cat")
        pw.io.http.write(pets, url + "/hook/x", n_retries=3,
                         retry_policy=pw.io.http.RetryPolicy(10, 2.0, 0))
        pw.run(monitoring_level=pw.MonitoringLevel.NONE)
    assert attempts["n"] == 3
    assert len(received) == 1


def test_a_url_that_keeps_failing_stops_the_pipeline_loudly():
    app, _, attempts = hook_app(failures_before_success=100, status=500)
    with serving(app) as url:
        pets = pw.debug.table_from_markdown("owner | pet\nbob | cat")
        pw.io.http.write(pets, url + "/hook/x", n_retries=2,
                         retry_policy=pw.io.http.RetryPolicy(1, 1.0, 0))
        with pytest.raises(pw.io.ConnectorError, match=r"/hook/x failed after 3 attempt\(s\): "
                           r"HTTP 500"):
            pw.run(monitoring_level=pw.MonitoringLevel.NONE)
    assert attempts["n"] == 3


def test_a_status_outside_retry_codes_is_not_retried_and_can_be_only_logged(caplog):
    app, _, attempts = hook_app(failures_before_success=100, status=400)
    with serving(app) as url:
        pets = pw.debug.table_from_markdown("owner | pet\nbob | cat\nann | dog")
        pw.io.http.write(pets, url + "/hook/x", n_retries=5, on_failure="log")
        pw.run(monitoring_level=pw.MonitoringLevel.NONE)
    assert attempts["n"] == 2
    assert caplog.text.count("HTTP 400") == 2


def test_connection_refused_names_the_url():
    with serving(FastAPI()) as url:
        dead = url  # the server stops at the end of the block: nothing listens any more
    pets = pw.debug.table_from_markdown("owner | pet\nbob | cat")
    pw.io.http.write(pets, dead + "/hook", connect_timeout_ms=500)
    with pytest.raises(pw.io.ConnectorError, match=f"POST {dead}/hook failed .*ConnectError"):
        pw.run(monitoring_level=pw.MonitoringLevel.NONE)


class Reading(pw.Schema):
    sensor: str
    value: float


def stream_app():
    app = FastAPI()

    async def lines():
        for i in range(3):
            yield json.dumps({"sensor": f"s{i}", "value": i / 2}) + "\n"
            await asyncio.sleep(0.01)
        yield "not json\n"
        yield json.dumps({"sensor": "s9"}) + "\n"  # no value

    async def events():
        for i in range(2):
            yield f"event: reading\nid: {i}\ndata: " + json.dumps({"sensor": "e", "value": i})
            yield "\n\n"
        yield ": a comment\n\n"

    @app.get("/lines")
    def get_lines():
        return StreamingResponse(lines(), media_type="application/x-ndjson")

    @app.get("/events")
    def get_events():
        return StreamingResponse(events(), media_type="text/event-stream")

    return app


def test_read_newline_delimited_json_bad_messages_go_to_the_error_log():
    with serving(stream_app()) as url:
        readings = pw.io.http.read(url + "/lines", schema=Reading, autocommit_duration_ms=10)
        collected = Collector(readings)
        log = Collector(pw.global_error_log())
        pw.run(monitoring_level=pw.MonitoringLevel.NONE, terminate_on_error=False)
    assert collected.rows() == [("s0", 0.0), ("s1", 0.5), ("s2", 1.0)]
    messages = " | ".join(str(row) for row in log.rows())
    assert "'not json' is not JSON" in messages
    assert "value" in messages


def test_read_server_sent_events_and_raw_format():
    with serving(stream_app()) as url:
        readings = pw.io.http.read(url + "/events", schema=Reading, autocommit_duration_ms=10)
        raw = pw.io.http.read(url + "/lines", format="raw", autocommit_duration_ms=10)
        collected = Collector(readings)
        lines = Collector(raw)
        pw.run(monitoring_level=pw.MonitoringLevel.NONE, terminate_on_error=False)
    assert collected.rows() == [("e", 0.0), ("e", 1.0)]
    assert len(lines.rows()) == 5
    assert ("not json",) in lines.rows()


def test_read_of_a_failing_url_stops_the_pipeline():
    app = FastAPI()
    with serving(app) as url:
        table = pw.io.http.read(url + "/missing", schema=Reading)
        pw.io.null.write(table)
        with pytest.raises(pw.io.ConnectorError, match="/missing: HTTP 404"):
            pw.run(monitoring_level=pw.MonitoringLevel.NONE)
