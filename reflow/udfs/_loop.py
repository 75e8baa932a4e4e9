"""One background event loop on which the asynchronous UDFs of every run execute.

Running coroutines on a dedicated thread works the same whether or not the caller already has a
running loop (a notebook, an async application), and the loop is reused across batches.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None


def _background_loop() -> asyncio.AbstractEventLoop:
    global _loop
    with _lock:
        if _loop is None or _loop.is_closed():
            loop = asyncio.new_event_loop()
            thread = threading.Thread(
                target=loop.run_forever, name="reflow-udf-loop", daemon=True
            )
            thread.start()
            _loop = loop
        return _loop


def run_coroutine(coroutine: Coroutine[Any, Any, Any]) -> Any:
    """Run ``coroutine`` to completion on the background loop and return its result."""
    return asyncio.run_coroutine_threadsafe(coroutine, _background_loop()).result()
