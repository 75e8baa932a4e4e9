"""The content of one checkpoint and its framing on storage.

A checkpoint is a magic header, the SHA-256 of the body, then the pickled body: the
dataflow's snapshot, each source's offset and each sink's position at one completed logical
time. A checkpoint whose digest does not match (truncated, corrupt) is never used: loading
falls back to the previous one and says so.
"""

from __future__ import annotations

import hashlib
import logging
import pickle
from dataclasses import dataclass, field

from reflow.runtime.persistence.backend import Backend, PersistenceError

logger = logging.getLogger("reflow")

_MAGIC = b"REFLOW-CHECKPOINT-1\n"
#: Checkpoints kept: the newest, plus older ones to fall back to if it is damaged.
KEEP = 2


@dataclass
class Checkpoint:
    """Everything a restart needs, taken at logical time ``last_time``."""

    fingerprint: str
    operators: list[str]
    dataflow: bytes
    sources: dict[str, object] = field(default_factory=dict)
    sinks: dict[str, object] = field(default_factory=dict)
    last_time: int | None = None


def encode(checkpoint: Checkpoint) -> bytes:
    """The bytes stored for ``checkpoint``."""
    body = pickle.dumps(checkpoint, protocol=pickle.HIGHEST_PROTOCOL)
    return _MAGIC + hashlib.sha256(body).digest() + body


def decode(data: bytes, where: str) -> Checkpoint:
    """The checkpoint in ``data``; ``PersistenceError`` naming ``where`` if it is damaged."""
    if not data.startswith(_MAGIC):
        raise PersistenceError(f"{where} is not a reflow checkpoint (wrong header)")
    digest, body = data[len(_MAGIC):len(_MAGIC) + 32], data[len(_MAGIC) + 32:]
    if hashlib.sha256(body).digest() != digest:
        raise PersistenceError(f"{where} is truncated or corrupt (its checksum does not match)")
    checkpoint = pickle.loads(body)
    if not isinstance(checkpoint, Checkpoint):
        raise PersistenceError(f"{where} does not hold a reflow checkpoint")
    return checkpoint


class CheckpointStore:
    """Writes numbered checkpoints to a backend and finds the newest usable one."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        numbers = backend.sequence_numbers()
        self.next_number = (numbers[-1] + 1) if numbers else 1

    def load_latest(self) -> Checkpoint | None:
        """The newest checkpoint that is whole; None when there is none at all.

        A damaged newest checkpoint is skipped with a warning naming its file; if every stored
        checkpoint is damaged, ``PersistenceError`` names them rather than starting empty.
        """
        damaged = []
        for number in reversed(self.backend.sequence_numbers()):
            where = self.backend.describe(number)
            try:
                return decode(self.backend.get(number), where)
            except (PersistenceError, OSError, pickle.UnpicklingError, EOFError) as exc:
                logger.warning("skipping checkpoint %s: %s", where, exc)
                damaged.append(str(exc))
        if damaged:
            raise PersistenceError(
                "no usable checkpoint: " + "; ".join(damaged)
                + ". Delete the persistence directory to start over."
            )
        return None

    def save(self, checkpoint: Checkpoint) -> None:
        """Store ``checkpoint`` atomically, then drop the ones older than the last ``KEEP``."""
        self.backend.put(self.next_number, encode(checkpoint))
        self.next_number += 1
        for number in self.backend.sequence_numbers()[:-KEEP]:
            self.backend.delete(number)
