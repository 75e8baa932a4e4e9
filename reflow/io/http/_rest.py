"""``rest_connector``: every HTTP request becomes a row of a table; the pipeline answers it."""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import polars as pl

from reflow.engine.batch import DIFF, ID
from reflow.engine.values import Pointer
from reflow.io import python
from reflow.io._common import ConnectorError, add_sink, schema_dtypes
from reflow.io.http._server import PathwayWebserver
from reflow.io.http._values import BadRequestField, dumps, json_schema, typed_row
from reflow.plan import dtypes as dt
from reflow.plan.error_columns import error_column

if TYPE_CHECKING:
    from reflow.api.schema import Schema
    from reflow.api.table import Table

logger = logging.getLogger("reflow")


class EndpointDocumentation:
    """What the OpenAPI description says about a route: ``summary``, ``description``,
    ``tags`` and ``method_types`` (the methods to describe; all by default).

    >>> doc = EndpointDocumentation(summary="Price of an item", tags=["shop"])
    >>> doc.summary, doc.tags, doc.method_types
    ('Price of an item', ['shop'], None)
    """

    def __init__(
        self,
        *,
        summary: str | None = None,
        description: str | None = None,
        tags: Sequence[str] | None = None,
        method_types: Sequence[str] | None = None,
        examples: Any = None,
    ) -> None:
        self.summary = summary
        self.description = description
        self.tags = list(tags) if tags else None
        self.method_types = [m.upper() for m in method_types] if method_types else None


class _Problem(Exception):
    def __init__(self, status: int, detail: str, field: str | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.field = field


class _QuerySubject(python.ConnectorSubject):
    """Feeds the queries table: each request is added with its own id, removed when done.

    It commits by itself ``autocommit_ms`` after the first change of a commit, so a request
    enters the pipeline without waiting for the run loop's next tick.
    """

    def __init__(self, webserver: PathwayWebserver, autocommit_ms: int | None) -> None:
        super().__init__(datasource_name="rest_connector")
        self.webserver = webserver
        self.autocommit_s = (autocommit_ms or 0) / 1000
        self._stopped = threading.Event()
        self._changed = threading.Event()
        self.running = False

    def run(self) -> None:
        self.running = True
        self.webserver.acquire()
        try:
            while not self._stopped.is_set():
                self._changed.wait()
                if self.autocommit_s:
                    self._stopped.wait(self.autocommit_s)  # gather the requests of a commit
                self._changed.clear()  # before the commit: a later change sets it again
                self.commit()
        finally:
            self.running = False
            self.webserver.release()

    def on_stop(self) -> None:
        self._stopped.set()
        self._changed.set()

    def add_query(self, query_id: int, row: dict[str, Any]) -> None:
        self._add_inner(Pointer(query_id), row)
        self._changed.set()

    def remove_query(self, query_id: int, row: dict[str, Any]) -> None:
        self._remove_inner(Pointer(query_id), row)
        self._changed.set()


class _Waiting:
    __slots__ = ("future", "loop", "row")

    def __init__(self, loop: asyncio.AbstractEventLoop, future: asyncio.Future, row: dict):
        self.loop = loop
        self.future = future
        self.row = row


class _Route:
    """The requests of one route that wait for their answers."""

    def __init__(
        self,
        subject: _QuerySubject,
        schema: type[Schema],
        webserver: PathwayWebserver,
        delete_completed: bool,
        validator: Callable | None,
    ) -> None:
        self.subject = subject
        self.dtypes = schema.dtypes()
        self.defaults = schema.default_values()
        self.webserver = webserver
        self.delete_completed = delete_completed
        self.validator = validator
        self.waiting: dict[int, _Waiting] = {}
        self.lock = threading.Lock()

    # --- the request side (event loop of the server) -------------------------------------------
    async def endpoint(self, request: Any) -> Any:
        from fastapi.responses import JSONResponse, Response

        try:
            payload, from_text = await self._payload(request)
            if self.validator is not None:
                self._validate(payload, request.headers)
            row = typed_row(payload, self.dtypes, self.defaults, from_text)
        except BadRequestField as exc:
            return JSONResponse({"detail": str(exc), "field": exc.field}, status_code=400)
        except _Problem as exc:
            body = {"detail": exc.detail}
            if exc.field is not None:
                body["field"] = exc.field
            return JSONResponse(body, status_code=exc.status)
        if not self.subject.running:
            return JSONResponse({"detail": "the pipeline is not running"}, status_code=503)
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        query_id = secrets.randbits(128)
        with self.lock:
            self.waiting[query_id] = _Waiting(loop, future, row)
        self.subject.add_query(query_id, row)
        try:
            answer = await asyncio.wait_for(future, self.webserver.answer_timeout_s)
        except (TimeoutError, asyncio.CancelledError) as exc:
            # No answer in time, or the client went away: the query leaves the pipeline.
            with self.lock:
                waiting = self.waiting.pop(query_id, None)
            if waiting is not None:
                self.subject.remove_query(query_id, row)
            if isinstance(exc, asyncio.CancelledError):
                raise
            if waiting is not None:
                return JSONResponse(
                    {"detail": "the pipeline did not answer in time"}, status_code=504
                )
            answer = future.result()
        status, body = answer
        return Response(body, status_code=status, media_type="application/json")

    async def _payload(self, request: Any) -> tuple[dict[str, Any], bool]:
        limit = self.webserver.max_body_bytes
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise _Problem(413, f"the request body is over the limit of {limit} bytes")
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                raise _Problem(413, f"the request body is over the limit of {limit} bytes")
        if request.method == "GET" or not body.strip():
            return dict(request.query_params), True
        try:
            payload = json.loads(body)
        except ValueError as exc:
            raise _Problem(400, f"the request body is not valid JSON: {exc}") from None
        if not isinstance(payload, dict):
            raise _Problem(
                400, f"the request body must be a JSON object, got {type(payload).__name__}"
            )
        return payload, False

    def _validate(self, payload: dict, headers: Any) -> None:
        try:
            verdict = self.validator(payload, headers)  # type: ignore[misc]
        except Exception as exc:  # noqa: BLE001 - the user's check refused the request
            raise _Problem(400, f"the request was refused: {exc}") from None
        if verdict is not None:
            raise _Problem(400, f"the request was refused: {verdict}")

    # --- the answer side (thread of the pipeline) ----------------------------------------------
    def answer(
        self, time: int, delta: pl.DataFrame, has_error_column: bool, pointers: bool
    ) -> None:
        if not self.waiting:
            return
        ids = delta[ID].to_list()
        diffs = delta[DIFF].to_list()
        results = delta["result"].to_list()
        if pointers:
            results = [None if v is None else Pointer(v) for v in results]
        errors = delta[error_column("result")].to_list() if has_error_column else None
        done = []
        with self.lock:
            for i, query_id in enumerate(ids):
                if diffs[i] > 0 and query_id in self.waiting:
                    done.append((self.waiting.pop(query_id), query_id, i))
        for waiting, query_id, i in done:
            if errors is not None and errors[i]:
                answer = (500, dumps({"detail": "the pipeline's result is an error value"}))
            else:
                try:
                    answer = (200, dumps(results[i]))
                except (TypeError, ValueError) as exc:
                    answer = (500, dumps({"detail": f"the result is not JSON: {exc}"}))
            waiting.loop.call_soon_threadsafe(_resolve, waiting.future, answer)
            if self.delete_completed:
                self.subject.remove_query(query_id, waiting.row)


def _resolve(future: asyncio.Future, answer: tuple[int, bytes]) -> None:
    if not future.done():
        future.set_result(answer)


def _openapi(schema: type[Schema], methods: list[str], doc: EndpointDocumentation) -> dict:
    dtypes = schema.dtypes()
    defaults = schema.default_values()
    required = [n for n, d in dtypes.items() if n not in defaults and not d.is_optional]
    body = {
        "type": "object",
        "properties": {n: json_schema(d) for n, d in dtypes.items()},
        "required": required,
    }
    extra: dict[str, Any] = {}
    if any(m != "GET" for m in methods):
        extra["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": body}},
        }
    if "GET" in methods:
        extra["parameters"] = [
            {"name": n, "in": "query", "required": n in required, "schema": json_schema(d)}
            for n, d in dtypes.items()
        ]
    return extra


def rest_connector(
    host: str | None = None,
    port: int | str | None = None,
    *,
    webserver: PathwayWebserver | None = None,
    route: str = "/",
    schema: type[Schema] | None = None,
    methods: Sequence[str] = ("POST",),
    autocommit_duration_ms: int | None = 1500,
    documentation: EndpointDocumentation | None = None,
    keep_queries: bool | None = None,
    delete_completed_queries: bool | None = None,
    request_validator: Callable | None = None,
    cache_strategy: Any = None,
) -> tuple[Table, Callable[[Table], None]]:
    """Serve ``route``: each request becomes a row of the returned ``queries`` table, and
    ``response_writer(result_table)`` answers it with the ``result`` column of the row of
    ``result_table`` that has the query's id.

    POST (and PUT, PATCH, ...) requests carry a JSON object, GET requests query parameters,
    with the fields of ``schema``. A bad request is answered 400 (naming the field), a body
    over the webserver's limit 413, an answer that does not come within its timeout 504 (and
    the query is removed). With ``delete_completed_queries`` (the default) an answered query is
    removed from ``queries``, so the pipeline's state does not grow; ``request_validator``
    (``payload, headers -> None`` to accept, or a reason / an exception to refuse) checks
    requests first.

    >>> import threading, httpx
    >>> import reflow as pw
    >>> from reflow.runtime.streaming import stop
    >>> class Question(pw.Schema):
    ...     word: str
    >>> webserver = pw.io.http.PathwayWebserver(host="127.0.0.1", port=0)  # any free port
    >>> queries, response_writer = pw.io.http.rest_connector(
    ...     webserver=webserver, route="/length", schema=Question, autocommit_duration_ms=10)
    >>> response_writer(queries.select(result=pw.apply(len, pw.this.word)))
    >>> def ask():
    ...     webserver.wait_ready()
    ...     print(httpx.post(webserver.url + "/length", json={"word": "reactive"}).json())
    ...     print(httpx.post(webserver.url + "/length", json={"w": 1}).json()["detail"])
    ...     stop()
    >>> threading.Thread(target=ask).start()
    >>> pw.run(monitoring_level=pw.MonitoringLevel.NONE)
    8
    field 'word': required
    """
    if schema is None:
        raise ConnectorError("pw.io.http.rest_connector needs a schema (schema=...)")
    schema_dtypes(schema, "pw.io.http.rest_connector")
    if webserver is None:
        if host is None or port is None:
            raise ConnectorError(
                "pw.io.http.rest_connector needs either webserver= or both host= and port="
            )
        webserver = PathwayWebserver(host, port)
    if keep_queries is not None and delete_completed_queries is not None:
        raise ConnectorError("give only one of keep_queries and delete_completed_queries")
    if delete_completed_queries is None:
        delete_completed_queries = not keep_queries if keep_queries is not None else True
    methods = [m.upper() for m in methods]
    subject = _QuerySubject(webserver, autocommit_duration_ms)
    queries = python.read(
        subject,
        schema=schema,
        autocommit_duration_ms=None,
        name=f"rest_connector {route}",
    )
    state = _Route(subject, schema, webserver, delete_completed_queries, request_validator)
    from starlette.requests import Request

    async def endpoint(request: Request) -> Any:
        return await state.endpoint(request)

    endpoint.__annotations__ = {"request": Request}  # resolved here, not in module globals
    doc = documentation or EndpointDocumentation()
    described = set(doc.method_types or methods)
    for method in methods:
        webserver.add_route(
            route,
            [method],
            endpoint,
            raw=True,
            openapi_extra=_openapi(schema, [method], doc),
            summary=doc.summary,
            description=doc.description,
            tags=doc.tags,
            include_in_schema=method in described,
            name=f"{method.lower()} {route}",
        )

    def response_writer(responses: Table) -> None:
        """Answer each waiting request with the ``result`` of the row with its id."""
        columns = responses._node.columns
        if "result" not in columns:
            raise ConnectorError(
                "the table given to response_writer needs a 'result' column; it has "
                + ", ".join(repr(c) for c in columns)
            )
        fallible = columns["result"].fallible
        pointers = columns["result"].dtype.strip_optional() == dt.POINTER

        def on_time(time: int, delta: pl.DataFrame) -> None:
            state.answer(time, delta, fallible, pointers)

        add_sink(responses, f"rest_connector {route} responses", on_time)

    return queries, response_writer
