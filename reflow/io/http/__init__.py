"""``pw.io.http``: serve a pipeline over HTTP (REST queries, live tables over Server-Sent
Events), call webhooks with a table's changes, and read streaming HTTP sources.

Built on FastAPI and uvicorn (install ``reflow[http]``).
"""

from reflow.io.http._client import RetryPolicy, read, write
from reflow.io.http._live import LiveTable, serve_table
from reflow.io.http._rest import EndpointDocumentation, rest_connector
from reflow.io.http._server import PathwayWebserver

__all__ = [
    "EndpointDocumentation",
    "LiveTable",
    "PathwayWebserver",
    "RetryPolicy",
    "read",
    "rest_connector",
    "serve_table",
    "write",
]
