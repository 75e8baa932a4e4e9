"""Transports of the worker exchange (``reflow.engine.sharding.Exchange``).

``ThreadExchange``: workers are threads of one process; batches are handed over in memory.
``SocketExchange``: workers are processes; every pair of workers shares one TCP connection on
localhost, and each exchange step sends one message per worker pair (never a message per
row): the Arrow IPC batches of every input of the operator.

>>> import polars as pl
>>> frame = pl.DataFrame({"_id": pl.Series([1, 2**100], dtype=pl.UInt128), "x": ["a", None]})
>>> decode_batch(encode_batch(frame)).equals(frame)
True
>>> decode_batch(encode_batch(None)) is None
True
"""

from __future__ import annotations

import io
import logging
import pickle
import queue
import socket
import struct
import threading
import time
from collections.abc import Sequence

import polars as pl

from reflow.engine.sharding import StepsFromAllToAll

logger = logging.getLogger("reflow.exchange")

_IPC, _PICKLE = 1, 2  # how a batch is encoded (0: no batch)


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


class ThreadExchange(StepsFromAllToAll):
    """The exchange among ``workers`` threads of one process; make one with ``group``."""

    def __init__(self, worker: int, barrier: threading.Barrier, slots: list) -> None:
        self.worker = worker
        self.workers = len(slots)
        self._barrier = barrier
        self._slots = slots

    @staticmethod
    def group(workers: int) -> list[ThreadExchange]:
        """One exchange per worker thread, all connected."""
        barrier = threading.Barrier(workers)
        slots: list = [None] * workers
        return [ThreadExchange(w, barrier, slots) for w in range(workers)]

    def all_to_all(self, parts, flag):
        return self._swap(parts, flag)

    def all_to_all_many(self, parts, flag):
        got, anyone = self._swap(parts, flag)
        return [list(frames) for frames in got], anyone

    def _swap(self, parts, flag):
        self._slots[self.worker] = (list(parts), flag)
        self._barrier.wait()
        sent = list(self._slots)
        self._barrier.wait()  # nobody overwrites a slot before everyone has read it
        return [p[self.worker] for p, _ in sent], any(f for _, f in sent)

    def abort(self) -> None:
        """Wake the other workers with an error (this worker failed)."""
        self._barrier.abort()


#: A message: the sender's flag and its number of frames, then each frame as its length
#: and ``encode_batch`` bytes.
_MESSAGE = struct.Struct("!BI")
_FRAME = struct.Struct("!Q")
_CLOSED = object()


class SocketExchange(StepsFromAllToAll):
    """The exchange of worker process ``worker`` of ``workers``; worker ``w`` listens on
    ``first_port + w`` on localhost and connects to every worker before it.

    Sending and receiving run beside the worker's computation: a thread per peer reads and
    decodes every message as soon as it arrives, and one thread encodes and sends what the
    worker hands over, in order, so a step costs the worker only the wait for the
    messages it has not received yet (``waited``: seconds spent so). A step whose
    rows all go to one worker (``gather``: the sinks' rows to the writer) is one-way: the
    other workers send and go on without waiting for anything.
    """

    def __init__(self, worker: int, workers: int, first_port: int, timeout: float = 60.0) -> None:
        self.worker = worker
        self.workers = workers
        self.bytes_sent = 0
        #: Seconds this worker waited for other workers' messages, and how many steps it took.
        self.waited = 0.0
        self.steps = 0
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
        self._closing = False
        self._send_error: BaseException | None = None
        self._outbox: queue.SimpleQueue = queue.SimpleQueue()
        self._inboxes: dict[int, queue.SimpleQueue] = {}
        self._threads: list[threading.Thread] = []
        for peer, conn in self._peers.items():
            inbox: queue.SimpleQueue = queue.SimpleQueue()
            self._inboxes[peer] = inbox
            self._threads.append(threading.Thread(
                target=self._receive, args=(conn, inbox), daemon=True,
                name=f"reflow-exchange-{worker}-from-{peer}",
            ))
        self._sender = threading.Thread(target=self._send, daemon=True,
                                        name=f"reflow-exchange-{worker}-send")
        for thread in [*self._threads, self._sender]:
            thread.start()

    # --- the worker's side ---------------------------------------------------------------

    def all_to_all(self, parts: Sequence[pl.DataFrame | None], flag: bool):
        got, anyone = self.all_to_all_many([[part] for part in parts], flag)
        return [frames[0] for frames in got], anyone

    def all_to_all_many(
        self, parts: Sequence[Sequence[pl.DataFrame | None]], flag: bool
    ) -> tuple[list[list[pl.DataFrame | None]], bool]:
        """Send the frames ``parts[w]`` to worker ``w`` in one message; return the frames
        each worker sent to this one and whether any worker raised ``flag``."""
        self.steps += 1
        for peer in self._peers:
            self._post(peer, parts[peer], flag)
        got: list[list[pl.DataFrame | None]] = [[] for _ in range(self.workers)]
        got[self.worker] = list(parts[self.worker])
        anyone = flag
        for peer in self._peers:
            peer_flag, frames = self._take(peer)
            got[peer] = frames
            anyone = anyone or peer_flag
        return got, anyone

    def gather(self, part: pl.DataFrame | None, root: int) -> list[pl.DataFrame | None] | None:
        """Every worker's ``part`` at worker ``root`` (in worker order); the others send
        theirs and go on (None)."""
        self.steps += 1
        if self.worker != root:
            self._post(root, [part], False)
            return None
        got: list[pl.DataFrame | None] = [None] * self.workers
        got[root] = part
        for peer in self._peers:
            _, frames = self._take(peer)
            got[peer] = frames[0]
        return got

    def close(self) -> None:
        """Send what is still queued, then close the connections."""
        self._outbox.put(_CLOSED)
        self._sender.join(timeout=60)
        self._closing = True
        for conn in self._peers.values():
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            conn.close()
        logger.debug("worker %d: %d exchange steps, %.3f s waiting for other workers, "
                     "%d bytes sent", self.worker, self.steps, self.waited, self.bytes_sent)

    def _post(self, peer: int, frames: Sequence[pl.DataFrame | None], flag: bool) -> None:
        if self._send_error is not None:
            raise ExchangeError(f"worker {self.worker}: sending to another worker failed: "
                                f"{self._send_error}")
        self._outbox.put((peer, list(frames), flag))

    def _take(self, peer: int) -> tuple[bool, list[pl.DataFrame | None]]:
        started = time.perf_counter()
        message = self._inboxes[peer].get()
        self.waited += time.perf_counter() - started
        if isinstance(message, BaseException):
            self._inboxes[peer].put(message)  # every later step fails the same way
            raise message
        return message

    # --- the threads -----------------------------------------------------------------------

    def _send(self) -> None:
        while True:
            item = self._outbox.get()
            if item is _CLOSED:
                return
            if self._send_error is not None:
                continue  # the worker raises it at its next step
            peer, frames, flag = item
            try:
                bodies = [encode_batch(frame) for frame in frames]
                data = b"".join([_MESSAGE.pack(int(flag), len(bodies)),
                                 *(_FRAME.pack(len(body)) + body for body in bodies)])
                self._peers[peer].sendall(data)
                self.bytes_sent += len(data)
            except Exception as error:  # noqa: BLE001 - raised in the worker by _post
                self._send_error = error

    def _receive(self, conn: socket.socket, inbox: queue.SimpleQueue) -> None:
        try:
            while True:
                try:
                    head = _read(conn, _MESSAGE.size)
                except ExchangeError:
                    if not self._closing:
                        raise
                    return
                flag, count = _MESSAGE.unpack(head)
                frames = []
                for _ in range(count):
                    (length,) = _FRAME.unpack(_read(conn, _FRAME.size))
                    frames.append(decode_batch(_read(conn, length)))
                inbox.put((bool(flag), frames))
        except OSError as error:
            if not self._closing:
                inbox.put(ExchangeError(f"worker {self.worker}: receiving from another "
                                        f"worker failed: {error}"))
        except Exception as error:  # noqa: BLE001 - raised in the worker by _take
            inbox.put(error if isinstance(error, ExchangeError) else ExchangeError(
                f"worker {self.worker}: a message from another worker could not be read: "
                f"{error}"))


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
