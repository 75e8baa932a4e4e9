"""What a ``MessageReader`` hands to its ``ReaderSource``: changes with their positions in the
source, and the markers that end a source transaction."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(slots=True)
class Change:
    """One row read from the source: added (or replacing the row with its primary key), or
    removed (``delete``; the values need only hold the primary key).

    ``where`` names the position for error messages (topic/partition/offset, table/LSN;
    ``None``: the reader's ``where(identity)`` says it, only when needed);
    after this change the source resumes at ``resume`` on ``stream``; ``identity`` gives a row
    of a table without a primary key its id (unique and stable per position).
    """

    values: Mapping[str, Any]
    where: str | None
    stream: Hashable = None
    resume: Any = None
    identity: tuple = ()
    delete: bool = False


@dataclass(slots=True)
class Additions:
    """Many rows added at once, in order (a reader's fast path): ``values[i]`` was read at
    position ``identities[i]``; afterwards each stream resumes at ``positions[stream]``."""

    values: list[Mapping[str, Any]]
    identities: list[tuple]
    positions: dict[Hashable, Any]


@dataclass(slots=True)
class Skipped:
    """A message that could not be decoded: reported in the error log, then passed over."""

    where: str
    reason: str
    stream: Hashable = None
    resume: Any = None


@dataclass(slots=True)
class Position:
    """A message passed over on purpose (e.g. older than the requested start): only the
    position advances."""

    stream: Hashable = None
    resume: Any = None


@dataclass(slots=True)
class CommitMarker:
    """The end of a source transaction: what came before enters the pipeline at one time."""

    stream: Hashable = None
    resume: Any = None


Event = Change | Additions | Skipped | Position | CommitMarker


class MessageReader(ABC):
    """The connector-specific part of a source.

    ``connect`` (re)opens the connection and positions every stream at the offsets given
    (streams not listed start at the beginning the reader was configured with); ``read``
    returns what arrived within ``timeout`` seconds; both raise ``TransientError`` when the
    connection is lost. ``acknowledge`` tells which offsets the pipeline has committed (a
    replication slot can then be advanced). ``finished`` is True once a bounded source has
    nothing more to give.

    In a persistent run ``durable`` is True: ``acknowledge`` then reports only offsets that a
    stored checkpoint holds, and what lives on the server (a replication slot) outlives the
    run, so that a restart from the checkpoint can read again what followed.
    """

    #: Names the server and the stream in messages, e.g. "kafka topic 'x' at host:9092".
    description: str = "reader"
    finished: bool = False
    durable: bool = False
    #: In a persistent run: names the source in the run's storage, the same on every restart.
    scope: str = ""

    @abstractmethod
    def connect(self, resume_from: Mapping[Hashable, Any]) -> None: ...

    @abstractmethod
    def read(self, timeout: float) -> Iterable[Event]: ...

    def where(self, identity: tuple) -> str:
        """Names the position ``identity`` of a change in error messages."""
        return repr(identity)

    def acknowledge(self, committed: Mapping[Hashable, Any]) -> None:  # noqa: B027 - optional
        """The pipeline has committed (``durable``: checkpointed) everything up to these
        offsets."""

    @abstractmethod
    def close(self) -> None: ...

    def release(self) -> None:
        """The run is over: close, and free what lives on the server (a replication slot)."""
        self.close()
