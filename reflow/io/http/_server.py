"""``PathwayWebserver``: one FastAPI application, served by uvicorn while a pipeline runs.

Every ``rest_connector`` and ``serve_table`` given the same webserver adds its routes to the
same application. The server starts when the pipeline starts and stops when the last part of
the pipeline that uses it has stopped. The application is a plain FastAPI app: a user's own
routes can be added to it, it can be mounted into a user's app, or a user's app can be given
to it (``app=``) to be served together with the pipeline's routes.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from reflow.io._common import ConnectorError

logger = logging.getLogger("reflow")

#: Largest request body accepted by default (bytes); bigger ones get 413.
DEFAULT_MAX_BODY_BYTES = 1 << 20
#: How long a request waits for the pipeline's answer by default (seconds); then 504.
DEFAULT_ANSWER_TIMEOUT_S = 30.0


class PathwayWebserver:
    """An HTTP server for the routes of ``rest_connector`` and ``serve_table``.

    ``with_schema_endpoint`` serves the OpenAPI description of every route at ``/_schema``
    (FastAPI's interactive ``/docs`` is always there); ``with_cors`` allows requests from any
    origin. reflow additions (keyword-only): ``app`` serves the pipeline's routes from a
    FastAPI application of your own; ``max_body_bytes`` (default 1 MiB) and
    ``answer_timeout_s`` (default 30 s) bound requests. ``host=None`` starts no server: the
    application (``webserver.app``) is then served by whoever runs it (e.g. your own uvicorn).

    >>> import reflow as pw
    >>> webserver = pw.io.http.PathwayWebserver(host="127.0.0.1", port=8080)
    >>> @webserver.app.get("/hello")
    ... def hello():
    ...     return {"hello": "world"}
    """

    def __init__(
        self,
        host: str | None,
        port: int | str | None,
        with_schema_endpoint: bool = True,
        with_cors: bool = False,
        *,
        app: Any = None,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        answer_timeout_s: float = DEFAULT_ANSWER_TIMEOUT_S,
    ) -> None:
        from fastapi import FastAPI

        self.host = host
        self.port = int(port) if port is not None else None
        self.max_body_bytes = max_body_bytes
        self.answer_timeout_s = answer_timeout_s
        self.app = app if app is not None else FastAPI(title="reflow")
        self._users = 0
        self._lock = threading.Lock()
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._on_shutdown: list[Callable[[], None]] = []
        self._routes: set[tuple[str, str]] = set()
        self._ready = threading.Event()
        if with_cors:
            from fastapi.middleware.cors import CORSMiddleware

            self.app.add_middleware(
                CORSMiddleware, allow_origins=["*"], allow_methods=["*"], allow_headers=["*"]
            )
        if with_schema_endpoint:
            self.app.add_api_route(
                "/_schema", self._schema, methods=["GET"], include_in_schema=False
            )

    def _schema(self) -> dict:
        return self.app.openapi()

    # --- routes --------------------------------------------------------------------------------
    def add_route(
        self, route: str, methods: list[str], endpoint: Callable, raw: bool = False,
        **kwargs: Any,
    ) -> None:
        """Add ``endpoint`` at ``route`` for ``methods``; a route taken twice is an error.
        ``raw`` endpoints take the Starlette ``Request`` and skip FastAPI's validation."""
        for method in methods:
            if (route, method) in self._routes:
                raise ConnectorError(f"the webserver already serves {method} {route}")
        self._routes.update((route, method) for method in methods)
        if raw:
            # Requests go to a plain Starlette route (it matches first): FastAPI's parameter
            # handling costs more than the whole answer. The API route only describes it.
            from starlette.routing import Route

            self.app.router.routes.insert(0, Route(route, endpoint, methods=methods))
        self.app.add_api_route(route, endpoint, methods=methods, **kwargs)
        # A route added after the app answered once must appear in its OpenAPI description.
        self.app.openapi_schema = None

    def on_shutdown(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` (from any thread) when the server stops, before it waits for
        open connections (e.g. to end event streams)."""
        self._on_shutdown.append(callback)

    # --- lifetime ------------------------------------------------------------------------------
    def acquire(self) -> None:
        """A part of the running pipeline needs the server: start it if it is not running."""
        with self._lock:
            self._users += 1
            if self._users == 1:
                if self.host is not None:
                    try:
                        self._start()
                    except BaseException:
                        self._users -= 1
                        raise
                self._ready.set()

    def release(self) -> None:
        """A part of the pipeline is done with the server: the last one stops it."""
        with self._lock:
            if self._users == 0:
                return
            self._users -= 1
            if self._users == 0:
                self._stop()

    def _start(self) -> None:
        import uvicorn

        assert self.host is not None  # only started when it has a host to listen on
        config = uvicorn.Config(
            self.app,
            host=self.host,
            port=self.port or 0,
            log_level="warning",
            lifespan="off",
            timeout_graceful_shutdown=2,
        )
        server = uvicorn.Server(config)
        self._server = server
        failure: list[BaseException] = []

        def serve() -> None:
            try:
                server.run()  # uvloop and httptools when installed; no signal handlers here
            except BaseException as exc:  # noqa: BLE001 - reported to the starting thread
                failure.append(exc)

        self._thread = threading.Thread(target=serve, name="reflow-http", daemon=True)
        self._thread.start()
        while not server.started and self._thread.is_alive():
            self._thread.join(0.01)
        if not server.started:
            self._server = self._thread = None
            reason = failure[0] if failure else "the server exited"
            raise ConnectorError(
                f"cannot serve HTTP on {self.host}:{self.port}: {reason}"
            )
        if not self.port:
            self.port = server.servers[0].sockets[0].getsockname()[1]

    def _stop(self) -> None:
        self._ready.clear()
        for callback in self._on_shutdown:
            callback()
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def wait_ready(self, timeout: float | None = None) -> bool:
        """Wait until the pipeline serves its routes: its server accepts connections
        (``port`` is then the bound port, also when 0 asked for any free one), or, with
        ``host=None``, the pipeline runs. False on a timeout."""
        return self._ready.wait(timeout)

    @property
    def url(self) -> str:
        """``http://host:port`` of the running server."""
        return f"http://{self.host}:{self.port}"
