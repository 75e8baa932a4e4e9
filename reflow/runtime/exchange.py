"""Transports of the worker exchange (``reflow.engine.sharding.Exchange``).

``ThreadExchange``: workers are threads of one process; batches are handed over in memory.
``SocketExchange``: workers are processes; every pair of workers shares one TCP connection on
localhost, and each exchange step sends one Arrow IPC batch per worker pair (never a message
per row).

>>> import polars as pl
>>> frame = pl.DataFrame({"_id": pl.Series([1, 2**100], dtype=pl.UInt128), "x": ["a", None]})
>>> decode_batch(encode_batch(frame)).equals(frame)
True
>>> decode_batch(encode_batch(None)) is None
True
"""

from __future__ import annotations

import io
import pickle
import socket
import struct
import threading
import time
from collections.abc import Sequence

import polars as pl

_HEADER = struct.Struct("!BBQ")  # flag, encoding (0 none, 1 Arrow IPC, 2 pickle), length
_IPC, _PICKLE = 1, 2


class ExchangeError(RuntimeError):
    """The workers could not connect to one another or one of them went away."""


def encode_batch(frame: pl.DataFrame | None) -> bytes:
    """A batch as bytes: Arrow IPC, or pickle for columns of Python objects."""
    if frame is None:
        return bytes([0])
    objects = [name for name, dtype in frame.schema.items() if dtype == pl.Object]
    if objects:
        # Arrow cannot carry Python objects: those columns are pickled, the rest stays Arrow.
        return bytes([_PICKLE]) + pickle.dumps(
            (frame.columns, {name: frame[name].to_list() for name in objects},
             encode_batch(frame.drop(objects))),
            protocol=pickle.HIGHEST_PROTOCOL,
        )
    buffer = io.BytesIO()
    frame.write_ipc(buffer, compression="uncompressed")
    return bytes([_IPC]) + buffer.getvalue()


def decode_batch(data: bytes) -> pl.DataFrame | None:
    """The inverse of ``encode_batch``."""
    kind, body = data[0], data[1:]
    if kind == _IPC:
        return pl.read_ipc(io.BytesIO(body))
    if kind == _PICKLE:
        order, objects, rest = pickle.loads(body)
        plain = decode_batch(rest)
        columns = {name: pl.Series(name, values, dtype=pl.Object)
                   for name, values in objects.items()}
        if plain is not None:
            columns.update({name: plain[name] for name in plain.columns})
        return pl.DataFrame([columns[name] for name in order])
    return None


class ThreadExchange:
    """The exchange among ``workers`` threads of one process; make one with ``group``."""

    def __init__(self, worker: int, barrier: threading.Barrier, slots: list) -> None:
        self.worker = worker
        self._barrier = barrier
        self._slots = slots

    @staticmethod
    def group(workers: int) -> list[ThreadExchange]:
        """One exchange per worker thread, all connected."""
        barrier = threading.Barrier(workers)
        slots: list = [None] * workers
        return [ThreadExchange(w, barrier, slots) for w in range(workers)]

    def all_to_all(self, parts, flag):
        self._slots[self.worker] = (list(parts), flag)
        self._barrier.wait()
        sent = list(self._slots)
        self._barrier.wait()  # nobody overwrites a slot before everyone has read it
        return [p[self.worker] for p, _ in sent], any(f for _, f in sent)

    def abort(self) -> None:
        """Wake the other workers with an error (this worker failed)."""
        self._barrier.abort()


class SocketExchange:
    """The exchange of worker process ``worker`` of ``workers``; worker ``w`` listens on
    ``first_port + w`` on localhost and connects to every worker before it."""

    def __init__(self, worker: int, workers: int, first_port: int, timeout: float = 60.0) -> None:
        self.worker = worker
        self.workers = workers
        self.bytes_sent = 0
        self._peers: dict[int, socket.socket] = {}
        listener = socket.create_server(("127.0.0.1", first_port + worker), reuse_port=False)
        try:
            deadline = time.monotonic() + timeout
            for peer in range(worker):
                self._peers[peer] = _connect(first_port + peer, deadline)
                self._peers[peer].sendall(struct.pack("!I", worker))
            listener.settimeout(timeout)
            for _ in range(worker + 1, workers):
                try:
                    conn, _ = listener.accept()
                except TimeoutError as error:
                    raise ExchangeError(
                        f"worker {worker}: not every worker connected within {timeout:.0f} s "
                        f"(ports {first_port}..{first_port + workers - 1})"
                    ) from error
                conn.settimeout(None)
                (peer,) = struct.unpack("!I", _read(conn, 4))
                self._peers[peer] = conn
        finally:
            listener.close()
        for conn in self._peers.values():
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def all_to_all(self, parts: Sequence[pl.DataFrame | None], flag: bool):
        errors: list[BaseException] = []

        def send() -> None:
            try:
                for peer, conn in self._peers.items():
                    body = encode_batch(parts[peer])
                    conn.sendall(_HEADER.pack(int(flag), 0, len(body)) + body)
                    self.bytes_sent += len(body)
            except OSError as error:
                errors.append(error)

        sender = threading.Thread(target=send, daemon=True)
        sender.start()
        got: list[pl.DataFrame | None] = [None] * self.workers
        got[self.worker] = parts[self.worker]
        anyone = flag
        try:
            for peer, conn in self._peers.items():
                peer_flag, _, length = _HEADER.unpack(_read(conn, _HEADER.size))
                got[peer] = decode_batch(_read(conn, length))
                anyone = anyone or bool(peer_flag)
        finally:
            sender.join()
        if errors:
            raise ExchangeError(f"worker {self.worker}: sending to another worker failed: "
                                f"{errors[0]}")
        return got, anyone

    def close(self) -> None:
        for conn in self._peers.values():
            conn.close()


def _connect(port: int, deadline: float) -> socket.socket:
    while True:
        try:
            conn = socket.create_connection(("127.0.0.1", port), timeout=5)
            conn.settimeout(None)
            return conn
        except OSError as error:
            if time.monotonic() > deadline:
                raise ExchangeError(
                    f"could not reach the worker on port {port}: {error}"
                ) from error
            time.sleep(0.05)


def _read(conn: socket.socket, size: int) -> bytes:
    chunks, left = [], size
    while left:
        chunk = conn.recv(min(left, 1 << 20))
        if not chunk:
            raise ExchangeError("another worker closed its connection (did it fail?)")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)
