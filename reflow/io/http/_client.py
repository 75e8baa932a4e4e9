"""``pw.io.http.write`` (a webhook per change) and ``pw.io.http.read`` (a streaming source)."""

from __future__ import annotations

import json
import logging
import random
import re
import threading
import time as _time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

import polars as pl

from reflow.io import python
from reflow.io._common import ConnectorError, add_sink
from reflow.io.http._values import jsonable
from reflow.runtime.batches import rows_of

if TYPE_CHECKING:
    from reflow.api.schema import Schema
    from reflow.api.table import Table

logger = logging.getLogger("reflow")

_DEFAULT_RETRY_CODES = (429, 500, 502, 503, 504)
_WILDCARD = re.compile(r"\{table\.([A-Za-z_][A-Za-z0-9_]*)\}")


class RetryPolicy:
    """Delays between retries: ``first_delay_ms``, multiplied by ``backoff_factor`` after each
    attempt, plus a random jitter of up to ``jitter_ms``.

    >>> policy = RetryPolicy(first_delay_ms=100, backoff_factor=2, jitter_ms=0)
    >>> [policy.wait_duration_before_retry() for _ in range(3)]
    [0.1, 0.2, 0.4]
    """

    def __init__(self, first_delay_ms: int, backoff_factor: float, jitter_ms: int) -> None:
        self._next_retry_duration = first_delay_ms / 1000
        self._backoff_factor = backoff_factor
        self._jitter = jitter_ms / 1000

    @classmethod
    def default(cls) -> RetryPolicy:
        """1 s, then 1.5 times longer each time, with up to 0.3 s of jitter."""
        return cls(first_delay_ms=1000, backoff_factor=1.5, jitter_ms=300)

    def wait_duration_before_retry(self) -> float:
        """Seconds to wait before the next retry (each call moves to the next delay)."""
        delay = self._next_retry_duration
        self._next_retry_duration *= self._backoff_factor
        return delay + random.uniform(0, self._jitter) if self._jitter else delay

    def _copy(self) -> RetryPolicy:
        copy = RetryPolicy.__new__(RetryPolicy)
        copy.__dict__.update(self.__dict__)
        return copy


def _timeout(connect_timeout_ms: int | None, request_timeout_ms: int | None) -> Any:
    import httpx

    request = None if request_timeout_ms is None else request_timeout_ms / 1000
    connect = request if connect_timeout_ms is None else connect_timeout_ms / 1000
    return httpx.Timeout(request, connect=connect)


def _fill(template: str, row: dict[str, Any]) -> str:
    """``template`` with every ``{table.column}`` replaced by the row's value."""

    def value(match: re.Match) -> str:
        name = match.group(1)
        if name not in row:
            raise ConnectorError(f"the template refers to {{table.{name}}}: no such column")
        cell = row[name]
        return cell if isinstance(cell, str) else json.dumps(jsonable(cell))

    return _WILDCARD.sub(value, template)


class _Sender:
    """Sends one request per change, retrying as configured."""

    def __init__(self, url, method, format, template, n_retries, retry_policy, timeout,
                 content_type, headers, allow_redirects, retry_codes, on_failure, name):
        import httpx

        self.client = httpx.Client(timeout=timeout, follow_redirects=allow_redirects)
        self.url, self.method, self.format, self.template = url, method, format, template
        self.n_retries, self.retry_policy = n_retries, retry_policy
        self.content_type = content_type or (
            "application/json" if format == "json" else "text/plain"
        )
        self.headers = headers or {}
        self.retry_codes = tuple(retry_codes or ())
        self.on_failure = on_failure
        self.name = name

    def send(self, row: dict[str, Any], time: int, diff: int) -> None:
        import httpx

        fields = {**row, "time": time, "diff": diff}
        if self.format == "json":
            body = json.dumps({k: jsonable(v) for k, v in fields.items()})
        else:
            body = _fill(self.template or "", fields)
        url = _fill(self.url, fields)
        headers = {_fill(k, fields): _fill(v, fields) for k, v in self.headers.items()}
        headers.setdefault("Content-Type", self.content_type)
        policy = self.retry_policy._copy()
        problem = ""
        for attempt in range(self.n_retries + 1):
            if attempt:
                _time.sleep(policy.wait_duration_before_retry())
            try:
                response = self.client.request(self.method, url, content=body, headers=headers)
            except httpx.HTTPError as exc:
                problem = f"{type(exc).__name__}: {exc}"
                continue
            if response.is_success or response.is_redirect:
                return
            problem = f"HTTP {response.status_code}"
            if response.status_code not in self.retry_codes:
                break
        message = (
            f"{self.name}: {self.method} {url} failed after {attempt + 1} attempt(s): {problem}"
        )
        if self.on_failure == "log":
            logger.error(message)
        else:
            raise ConnectorError(message)

    def close(self) -> None:
        self.client.close()


def write(
    table: Table,
    url: str,
    *,
    method: str = "POST",
    format: Literal["json", "custom"] = "json",
    request_payload_template: str | None = None,
    n_retries: int = 0,
    retry_policy: RetryPolicy | None = None,
    connect_timeout_ms: int | None = None,
    request_timeout_ms: int | None = None,
    content_type: str | None = None,
    headers: dict[str, str] | None = None,
    allow_redirects: bool = True,
    retry_codes: tuple | None = _DEFAULT_RETRY_CODES,
    name: str | None = None,
    on_failure: Literal["stop", "log"] = "stop",
) -> None:
    """Send every change of ``table`` to ``url``, one request per changed row, in order.

    With ``format="json"`` the body is the row as a JSON object plus ``time`` and ``diff``
    (1 added, -1 removed); with ``format="custom"`` it is ``request_payload_template``.
    ``{table.column}`` in the URL, the template and the headers is replaced by the row's
    value. A failed request (a connection error, or a status in ``retry_codes``) is retried
    ``n_retries`` times with the delays of ``retry_policy``; when it still fails the pipeline
    stops with a ``ConnectorError`` naming the URL and the reason (``on_failure="log"``
    logs it and goes on instead).

    >>> import reflow as pw
    >>> t = pw.debug.table_from_markdown('''
    ... pet
    ... dog
    ... ''')
    >>> pw.io.http.write(t, "http://127.0.0.1:9/hook/{table.pet}", n_retries=1,
    ...                  retry_policy=pw.io.http.RetryPolicy(10, 2.0, 0))
    >>> pw.run(monitoring_level=pw.MonitoringLevel.NONE)  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    ...
    ConnectorError: POST http://127.0.0.1:9/hook/dog failed after 2 attempt(s): ConnectError
    """
    if format not in ("json", "custom"):
        raise ConnectorError(f"format must be 'json' or 'custom', got {format!r}")
    if format == "custom" and request_payload_template is None:
        raise ConnectorError("format='custom' needs request_payload_template")
    if on_failure not in ("stop", "log"):
        raise ConnectorError(f"on_failure must be 'stop' or 'log', got {on_failure!r}")
    label = name or f"http write {url}"
    sender = _Sender(url, method.upper(), format, request_payload_template, n_retries,
                     retry_policy or RetryPolicy.default(),
                     _timeout(connect_timeout_ms, request_timeout_ms), content_type, headers,
                     allow_redirects, retry_codes, on_failure, label)
    columns = table._node.columns

    def on_time(time: int, delta: pl.DataFrame) -> None:
        changes = sorted(rows_of(columns, delta), key=lambda change: change[2] > 0)
        for _, row, diff in changes:
            for _ in range(abs(diff)):
                sender.send(row, time, 1 if diff > 0 else -1)

    add_sink(table, label, on_time, on_end=sender.close)


class _StreamSubject(python.ConnectorSubject):
    """Reads a streaming HTTP response and turns each message into a row."""

    def __init__(self, url, method, payload, headers, response_mapper, format, delimiter,
                 n_retries, retry_policy, timeout, allow_redirects, retry_codes):
        super().__init__(datasource_name="http")
        self.url, self.method, self.payload, self.headers = url, method, payload, headers
        self.response_mapper = response_mapper
        self.format = format
        self.delimiter = delimiter
        self.n_retries, self.retry_policy = n_retries, retry_policy
        self.timeout, self.allow_redirects = timeout, allow_redirects
        self.retry_codes = tuple(retry_codes or ())
        self._stopped = threading.Event()
        self._client: Any = None

    def run(self) -> None:
        import httpx

        policy = self.retry_policy._copy()
        self._client = httpx.Client(timeout=self.timeout, follow_redirects=self.allow_redirects)
        try:
            for attempt in range(self.n_retries + 1):
                if attempt and self._stopped.wait(policy.wait_duration_before_retry()):
                    return
                try:
                    problem = self._read_once()
                except httpx.HTTPError as exc:
                    if self._stopped.is_set():
                        return
                    problem = f"{type(exc).__name__}: {exc}"
                if problem is None:
                    return
            raise ConnectorError(f"pw.io.http.read {self.method} {self.url}: {problem}")
        finally:
            self._client.close()

    def _read_once(self) -> str | None:
        content = None if self.payload is None else json.dumps(self.payload)
        with self._client.stream(self.method, self.url, content=content,
                                 headers=self.headers) as response:
            if not response.is_success:
                if response.status_code in self.retry_codes:
                    return f"HTTP {response.status_code}"
                raise ConnectorError(
                    f"pw.io.http.read {self.method} {self.url}: HTTP {response.status_code}"
                )
            sse = response.headers.get("content-type", "").startswith("text/event-stream")
            buffer = b""
            for chunk in response.iter_bytes():
                buffer += chunk
                *messages, buffer = buffer.split(self.delimiter)
                for message in messages:
                    self._message(message, sse)
            if buffer.strip():
                self._message(buffer, sse)
        return None

    def _message(self, message: bytes, sse: bool) -> None:
        if sse:
            if not message.startswith(b"data:"):
                return  # event names, ids, comments and blank lines
            message = message[5:].strip()
        elif not message.strip():
            return
        if self.response_mapper is not None:
            message = self.response_mapper(message)
            if isinstance(message, str):
                message = message.encode()
        if self.format == "raw":
            self.next_bytes(message)
            return
        try:
            document = json.loads(message)
        except ValueError as exc:
            self._source._handle.report_error(  # type: ignore[union-attr]
                f"{self.url}: message {message[:100]!r} is not JSON: {exc}"
            )
            return
        if isinstance(document, dict):
            self.next_json(document)
        else:
            self._source._handle.report_error(  # type: ignore[union-attr]
                f"{self.url}: message {message[:100]!r} is not a JSON object"
            )

    def on_stop(self) -> None:
        self._stopped.set()
        if self._client is not None:
            self._client.close()


def read(
    url: str,
    *,
    schema: type[Schema] | None = None,
    method: str = "GET",
    payload: Any = None,
    headers: dict[str, str] | None = None,
    response_mapper: Callable[[str | bytes], bytes] | None = None,
    format: Literal["json", "raw"] = "json",
    delimiter: str | bytes | None = None,
    n_retries: int = 0,
    retry_policy: RetryPolicy | None = None,
    connect_timeout_ms: int | None = None,
    request_timeout_ms: int | None = None,
    allow_redirects: bool = True,
    retry_codes: tuple | None = _DEFAULT_RETRY_CODES,
    autocommit_duration_ms: int = 10000,
    debug_data: Any = None,
    name: str | None = None,
    max_backlog_size: int | None = None,
) -> Table:
    """A table read from a streaming HTTP response: one row per message.

    Messages are separated by ``delimiter`` (a newline by default); a Server-Sent Events
    response (``text/event-stream``) gives one message per ``data:`` line. With
    ``format="json"`` each message is a JSON object with the fields of ``schema``; with
    ``format="raw"`` it is the ``data`` column. ``response_mapper`` may rewrite each message
    first. A message that is not JSON, or does not fit the schema, goes to
    ``pw.global_error_log()``; the table ends when the response does.

    >>> import reflow as pw
    >>> class Event(pw.Schema):
    ...     user: str
    >>> events = pw.io.http.read("http://127.0.0.1:9/events", schema=Event)
    """
    if format not in ("json", "raw"):
        raise ConnectorError(f"format must be 'json' or 'raw', got {format!r}")
    if format == "json" and schema is None:
        raise ConnectorError("pw.io.http.read with format='json' needs a schema (schema=...)")
    separator = delimiter or b"\n"
    if isinstance(separator, str):
        separator = separator.encode()
    subject = _StreamSubject(url, method.upper(), payload, headers or {}, response_mapper,
                             format, separator, n_retries, retry_policy or RetryPolicy.default(),
                             _timeout(connect_timeout_ms, request_timeout_ms), allow_redirects,
                             retry_codes)
    return python.read(
        subject,
        schema=schema,
        format="raw" if format == "raw" and schema is None else None,
        autocommit_duration_ms=autocommit_duration_ms,
        name=name or f"http read {url}",
    )
