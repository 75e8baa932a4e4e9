"""pw.io.http.rest_connector over real sockets: answers, several routes, bad requests."""

from __future__ import annotations

import socket
import threading

import httpx
import pytest

import reflow as pw
from tests.io.live import Collector, run_while


class Question(pw.Schema):
    word: str
    times: int = pw.column_definition(default_value=2)


def serve(**kwargs):
    webserver = pw.io.http.PathwayWebserver(host="127.0.0.1", port=0, **kwargs)
    queries, respond = pw.io.http.rest_connector(
        webserver=webserver, route="/repeat", schema=Question, methods=("GET", "POST"),
        autocommit_duration_ms=10,
    )
    respond(queries.select(result=pw.apply(lambda w, n: w * n, pw.this.word, pw.this.times)))
    return webserver, queries


def client(webserver) -> httpx.Client:
    assert webserver.wait_ready(10)
    return httpx.Client(base_url=webserver.url, timeout=10)


def test_post_and_get_are_answered_and_answered_queries_are_removed():
    webserver, queries = serve()
    collected = Collector(queries)
    answers = []

    def driver():
        with client(webserver) as http:
            answers.append(http.post("/repeat", json={"word": "ab", "times": 3}))
            answers.append(http.post("/repeat", json={"word": "x"}))
            answers.append(http.get("/repeat", params={"word": "cd", "times": "2"}))
        collected.wait_for(lambda c: len(c.updates) == 6 and not c.state)

    run_while(driver)
    assert [(r.status_code, r.json()) for r in answers] == [
        (200, "ababab"), (200, "xx"), (200, "cdcd")
    ]
    added = sorted(u[:2] for u in collected.updates if u[-1] == 1)
    removed = sorted(u[:2] for u in collected.updates if u[-1] == -1)
    assert added == removed == [("ab", 3), ("cd", 2), ("x", 2)]


def test_keep_queries_keeps_answered_queries():
    webserver = pw.io.http.PathwayWebserver(host="127.0.0.1", port=0)
    queries, respond = pw.io.http.rest_connector(
        webserver=webserver, route="/", schema=Question, autocommit_duration_ms=10,
        delete_completed_queries=False,
    )
    respond(queries.select(result=pw.this.word))
    collected = Collector(queries)

    def driver():
        with client(webserver) as http:
            assert http.post("/", json={"word": "kept"}).json() == "kept"
        collected.wait_rows([("kept", 2)])

    run_while(driver)
    assert collected.rows() == [("kept", 2)]


def test_several_routes_on_one_webserver_and_a_lookup_join():
    webserver = pw.io.http.PathwayWebserver(host="127.0.0.1", port=0)
    prices = pw.debug.table_from_markdown(
        """
        item  | price
        apple | 3
        pear  | 5
        """
    )

    class Item(pw.Schema):
        item: str

    class Pair(pw.Schema):
        a: int
        b: int

    lookups, answer_lookup = pw.io.http.rest_connector(
        webserver=webserver, route="/price", schema=Item, autocommit_duration_ms=10
    )
    sums, answer_sum = pw.io.http.rest_connector(
        webserver=webserver, route="/sum", schema=Pair, autocommit_duration_ms=10
    )
    joined = lookups.join_left(prices, pw.left.item == pw.right.item, id=pw.left.id)
    answer_lookup(joined.select(result=pw.right.price))
    answer_sum(sums.select(result=pw.this.a + pw.this.b))
    got = {}

    def driver():
        with client(webserver) as http:
            got["pear"] = http.post("/price", json={"item": "pear"}).json()
            got["plum"] = http.post("/price", json={"item": "plum"}).json()
            got["sum"] = http.post("/sum", json={"a": 2, "b": 40}).json()

    run_while(driver)
    assert got == {"pear": 5, "plum": None, "sum": 42}


@pytest.mark.parametrize(
    ("request_kwargs", "status", "field", "reason"),
    [
        ({"content": b"{not json", "headers": {"content-type": "application/json"}}, 400,
         None, "not valid JSON"),
        ({"json": [1, 2]}, 400, None, "must be a JSON object"),
        ({"json": {"times": 3}}, 400, "word", "required"),
        ({"json": {"word": "a", "times": "many"}}, 400, "times", "expected INT"),
        ({"json": {"word": "a", "times": 1.5}}, 400, "times", "expected INT"),
        ({"json": {"word": "a" * 300}}, 413, None, "over the limit of 256 bytes"),
    ],
)
def test_bad_requests_get_clear_errors_and_the_pipeline_goes_on(
    request_kwargs, status, field, reason
):
    webserver, queries = serve(max_body_bytes=256)
    collected = Collector(queries)
    got = {}

    def driver():
        with client(webserver) as http:
            got["bad"] = http.post("/repeat", **request_kwargs)
            got["good"] = http.post("/repeat", json={"word": "ok"})

    run_while(driver, terminate_on_error=False)
    bad = got["bad"]
    assert bad.status_code == status
    assert reason in bad.json()["detail"]
    assert bad.json().get("field") == field
    assert got["good"].json() == "okok"
    assert all(u[0] == "ok" for u in collected.updates)


def test_a_chunked_body_over_the_limit_is_refused_while_it_is_read():
    webserver, _ = serve(max_body_bytes=1000)
    got = {}

    def chunks():
        yield b'{"word": "'
        for _ in range(100):
            yield b"x" * 100
        yield b'"}'

    def driver():
        with client(webserver) as http:
            got["big"] = http.post("/repeat", content=chunks())
            got["small"] = http.post("/repeat", json={"word": "y"})

    run_while(driver)
    assert "content-length" not in got["big"].request.headers
    assert got["big"].status_code == 413
    assert got["small"].json() == "yy"


def test_get_parameters_of_the_wrong_type_are_refused():
    webserver, _ = serve()
    got = {}

    def driver():
        with client(webserver) as http:
            got["bad"] = http.get("/repeat", params={"word": "a", "times": "x"})

    run_while(driver)
    assert got["bad"].status_code == 400
    assert got["bad"].json()["field"] == "times"


def test_unknown_route_and_wrong_method():
    webserver, _ = serve()
    got = {}

    def driver():
        with client(webserver) as http:
            got["404"] = http.post("/nowhere", json={"word": "a"}).status_code
            got["405"] = http.put("/repeat", json={"word": "a"}).status_code

    run_while(driver)
    assert got == {"404": 404, "405": 405}


def test_request_validator_refuses_with_its_reason():
    webserver = pw.io.http.PathwayWebserver(host="127.0.0.1", port=0)

    def validator(payload, headers):
        if headers.get("X-Token") != "secret":
            return "missing token"
        return None

    queries, respond = pw.io.http.rest_connector(
        webserver=webserver, route="/", schema=Question, autocommit_duration_ms=10,
        request_validator=validator,
    )
    respond(queries.select(result=pw.this.times))
    got = {}

    def driver():
        with client(webserver) as http:
            got["refused"] = http.post("/", json={"word": "a"})
            got["ok"] = http.post("/", json={"word": "a"}, headers={"x-token": "secret"})

    run_while(driver)
    assert got["refused"].status_code == 400
    assert "missing token" in got["refused"].json()["detail"]
    assert got["ok"].json() == 2


def test_unanswered_request_times_out_with_504_and_its_query_is_removed():
    webserver = pw.io.http.PathwayWebserver(host="127.0.0.1", port=0, answer_timeout_s=0.3)
    queries, respond = pw.io.http.rest_connector(
        webserver=webserver, route="/", schema=Question, autocommit_duration_ms=10,
    )
    respond(queries.filter(pw.this.word != "never").select(result=pw.this.word))
    collected = Collector(queries)
    got = {}

    def driver():
        with client(webserver) as http:
            got["never"] = http.post("/", json={"word": "never"})
            got["yes"] = http.post("/", json={"word": "yes"})
        collected.wait_for(lambda c: len(c.updates) == 4 and not c.state)

    run_while(driver)
    assert got["never"].status_code == 504
    assert got["yes"].json() == "yes"
    assert sorted((u[0], u[-1]) for u in collected.updates) == [
        ("never", -1), ("never", 1), ("yes", -1), ("yes", 1)
    ]


def test_openapi_description_of_every_route():
    webserver, _ = serve()
    pw.io.http.rest_connector(webserver=webserver, route="/other", schema=Question)[1](
        pw.debug.table_from_markdown("result\n1")
    )
    got = {}

    def driver():
        with client(webserver) as http:
            got["schema"] = http.get("/_schema").json()
            got["docs"] = http.get("/docs").status_code

    run_while(driver)
    paths = got["schema"]["paths"]
    assert set(paths) == {"/repeat", "/other"}
    body = paths["/repeat"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body["properties"] == {"word": {"type": "string"}, "times": {"type": "integer"}}
    assert body["required"] == ["word"]
    assert {p["name"] for p in paths["/repeat"]["get"]["parameters"]} == {"word", "times"}
    assert got["docs"] == 200


def test_rest_connector_needs_a_result_column():
    webserver, queries = serve()
    _, respond = pw.io.http.rest_connector(webserver=webserver, route="/x", schema=Question)
    with pytest.raises(pw.io.ConnectorError, match="'result' column"):
        respond(queries.select(answer=pw.this.word))


def test_the_server_thread_ends_with_the_run():
    webserver, _ = serve()

    def driver():
        with client(webserver) as http:
            assert http.post("/repeat", json={"word": "a"}).json() == "aa"

    run_while(driver)
    assert not webserver.wait_ready(0)
    assert not [t for t in threading.enumerate() if t.name == "reflow-http"]


def test_a_port_in_use_is_a_clear_error():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        webserver = pw.io.http.PathwayWebserver(host="127.0.0.1", port=port)
        queries, respond = pw.io.http.rest_connector(
            webserver=webserver, route="/", schema=Question
        )
        respond(queries.select(result=pw.this.word))
        with pytest.raises(pw.io.ConnectorError, match=f"cannot serve HTTP on 127.0.0.1:{port}"):
            pw.run(monitoring_level=pw.MonitoringLevel.NONE)
