"""A user's own FastAPI app and reflow's routes in one process and one event loop."""

from __future__ import annotations

import threading

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

import reflow as pw
from tests.io.live import run_while


class Word(pw.Schema):
    word: str


def upper_route(webserver, route="/upper"):
    queries, respond = pw.io.http.rest_connector(
        webserver=webserver, route=route, schema=Word, autocommit_duration_ms=10
    )
    respond(queries.select(result=pw.apply(str.upper, pw.this.word)))


def test_the_webserver_serves_the_users_app_with_the_pipeline_routes():
    app = FastAPI()

    @app.get("/hello")
    def hello():
        return {"hello": "user"}

    webserver = pw.io.http.PathwayWebserver(host="127.0.0.1", port=0, app=app)
    upper_route(webserver)
    got = {}

    def driver():
        assert webserver.wait_ready(10)
        with httpx.Client(base_url=webserver.url, timeout=10) as http:
            got["hello"] = http.get("/hello").json()
            got["upper"] = http.post("/upper", json={"word": "abc"}).json()
            got["paths"] = set(http.get("/_schema").json()["paths"])

    run_while(driver)
    assert got == {"hello": {"hello": "user"}, "upper": "ABC", "paths": {"/hello", "/upper"}}


def test_users_app_mounts_the_pipeline_routes_and_runs_its_own_server():
    app = FastAPI()

    @app.get("/hello")
    def hello():
        return {"hello": "user"}

    webserver = pw.io.http.PathwayWebserver(host=None, port=None)
    upper_route(webserver)
    app.mount("/pipeline", webserver.app)
    got = {}

    def driver():
        assert webserver.wait_ready(10)
        with TestClient(app) as client:
            got["hello"] = client.get("/hello").json()
            got["upper"] = client.post("/pipeline/upper", json={"word": "x"}).json()

    run_while(driver)
    assert got == {"hello": {"hello": "user"}, "upper": "X"}


def test_users_uvicorn_serves_both_while_the_pipeline_runs():
    app = FastAPI()

    @app.get("/hello")
    def hello():
        return "hi"

    webserver = pw.io.http.PathwayWebserver(host=None, port=None, app=app)
    upper_route(webserver)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    got = {}

    def driver():
        assert webserver.wait_ready(10)
        while not server.started:
            threading.Event().wait(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            got["hello"] = http.get("/hello").json()
            got["upper"] = http.post("/upper", json={"word": "yes"}).json()

    try:
        run_while(driver)
    finally:
        server.should_exit = True
        thread.join(10)
    assert got == {"hello": "hi", "upper": "YES"}
    assert not thread.is_alive()


def test_cors_and_schema_endpoint_switches():
    plain = pw.io.http.PathwayWebserver(host=None, port=None, with_schema_endpoint=False)
    cors = pw.io.http.PathwayWebserver(host=None, port=None, with_cors=True)
    upper_route(plain)
    upper_route(cors)
    with TestClient(plain.app) as client:
        assert client.get("/_schema").status_code == 404
        assert "access-control-allow-origin" not in client.options(
            "/upper", headers={"Origin": "http://x", "Access-Control-Request-Method": "POST"}
        ).headers
    with TestClient(cors.app) as client:
        assert set(client.get("/_schema").json()["paths"]) == {"/upper"}
        preflight = client.options(
            "/upper", headers={"Origin": "http://x", "Access-Control-Request-Method": "POST"}
        )
        assert preflight.headers["access-control-allow-origin"] == "*"


def test_requests_before_the_pipeline_runs_get_503():
    webserver = pw.io.http.PathwayWebserver(host=None, port=None)
    upper_route(webserver)
    with TestClient(webserver.app) as client:
        answer = client.post("/upper", json={"word": "early"})
    assert answer.status_code == 503
    assert answer.json() == {"detail": "the pipeline is not running"}


def test_a_route_cannot_be_taken_twice():
    webserver = pw.io.http.PathwayWebserver(host=None, port=None)
    upper_route(webserver)
    with pytest.raises(pw.io.ConnectorError, match="already serves POST /upper"):
        upper_route(webserver)
