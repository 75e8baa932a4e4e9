"""The content of one checkpoint and its framing on storage.

A checkpoint is a small *manifest* -- a magic header, the SHA-256 of its body, then the body
-- naming the segments (``segments.py``) that hold its bulky parts. Checkpoints are
incremental: each writes one segment with only what changed since the previous one -- for
each operator whose state changed (``Dataflow.versions``), its changes since the previous
checkpoint when it can tell them (``Snapshottable.snapshot_delta``: a join writes the rows its
logs gained) or else its whole snapshot, and each Polars frame of a source offset not written
before (frames are immutable, so one seen again is the one already stored) -- and refers to
older segments for the rest. An operator's state is thus a chain: a whole snapshot, then its
deltas in order, replayed on a restore. A chain grown past ``MAX_DELTAS`` deltas, or whose
deltas outweigh its snapshot (``MAX_DELTA_RATIO``), is started again with a whole snapshot,
which bounds the restore time. When the segments a checkpoint refers to become many or mostly
garbage, the next checkpoint is written whole (compaction); segments no kept checkpoint
refers to are deleted.

A checkpoint whose manifest or segments do not match their digests (truncated, corrupt) is
never used: loading falls back to the previous one and says so.
"""

from __future__ import annotations

import hashlib
import io
import logging
import pickle
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, NamedTuple, cast

import polars as pl

from reflow.engine.state.snapshot import SavedState, encode_pieces
from reflow.engine.state.snapshot import decode as decode_state
from reflow.runtime.persistence.backend import Backend, PersistenceError
from reflow.runtime.persistence.segments import FrameRef, Ref, SegmentReader, SegmentWriter

logger = logging.getLogger("reflow")

_MAGIC = b"REFLOW-CHECKPOINT-1\n"  # a whole pickled Checkpoint (still readable)
_MAGIC_2 = b"REFLOW-CHECKPOINT-2\n"  # a manifest referring to segments
#: Checkpoints kept: the newest, plus older ones to fall back to if it is damaged.
KEEP = 2
#: A checkpoint referring to more segments than this is followed by a whole one (room for
#: a chain of ``MAX_DELTAS`` deltas and the snapshots it started from).
MAX_SEGMENTS = 48
#: ... as is one whose segments hold more than this many times the bytes it uses (+ slack).
MAX_GARBAGE_RATIO = 2.0
_GARBAGE_SLACK = 8 << 20
#: An operator's chain of deltas is started again with a whole snapshot beyond this many ...
MAX_DELTAS = 32
#: ... or when its deltas hold more than this many times the bytes of its snapshot (+ slack).
#: A row of a delta costs about 3x a row of a snapshot to restore (its index is rebuilt), so
#: a chain restores in at most ~2.6x the time of a whole snapshot of the same state, plus
#: ~0.15 s for the slack's rows; and a growing state is written whole each time it grew
#: 5-fold: amortized, in proportion to the changes.
MAX_DELTA_RATIO = 4.0
_DELTA_SLACK = 16 << 20


@dataclass
class Checkpoint:
    """Everything a restart needs, taken at logical time ``last_time``.

    ``states`` holds each stateful operator's snapshot by graph position
    (``Dataflow.snapshot_states``), ``state_deltas`` the changes to apply to it since, in
    order (``Dataflow.save_states``); ``dataflow`` a whole ``Dataflow.snapshot()`` instead
    (checkpoints of the first format). ``state_formats`` names each operator's class and
    the version of its state layout, to refuse a checkpoint this reflow cannot read.
    """

    fingerprint: str
    operators: list[str]
    dataflow: bytes = b""
    sources: dict[str, object] = field(default_factory=dict)
    sinks: dict[str, object] = field(default_factory=dict)
    last_time: int | None = None
    states: dict[int, bytes] | None = None
    state_formats: dict[int, tuple[str, int]] = field(default_factory=dict)
    #: Every operator: its description and a digest of what it computes
    #: (``Operator.structure``), to say what changed when the fingerprint differs.
    structures: list[tuple[str, str]] = field(default_factory=list)
    state_deltas: dict[int, list[bytes]] = field(default_factory=dict)


class _Stored(NamedTuple):
    """Where an operator's state is stored: its version then, its snapshot and deltas."""

    version: int
    refs: tuple[Ref, ...]  # the whole snapshot, then the deltas in order
    mark: object | None  # the state's ``checkpoint_mark()`` then (None: no delta next)

    def extensible(self) -> bool:
        """Whether the next save of this state may be a delta on this chain."""
        deltas = sum(ref.size for ref in self.refs[1:])
        return (self.mark is not None and len(self.refs) <= MAX_DELTAS
                and deltas <= MAX_DELTA_RATIO * self.refs[0].size + _DELTA_SLACK)


def _chain(saved: Any) -> tuple[Ref, ...]:
    """The refs of one operator's state in a manifest: one ``Ref`` as a plain tuple (before
    deltas), or a list of them."""
    if saved and isinstance(saved[0], int):
        return (Ref(*saved),)
    return tuple(Ref(*ref) for ref in saved)


def encode(checkpoint: Checkpoint) -> bytes:
    """The bytes of ``checkpoint`` as one whole file (the first format)."""
    body = pickle.dumps(checkpoint, protocol=pickle.HIGHEST_PROTOCOL)
    return _MAGIC + hashlib.sha256(body).digest() + body


def _unframe(data: bytes, where: str) -> tuple[bytes, bytes]:
    for magic in (_MAGIC, _MAGIC_2):
        if data.startswith(magic):
            digest, body = data[len(magic):len(magic) + 32], data[len(magic) + 32:]
            if hashlib.sha256(body).digest() != digest:
                raise PersistenceError(
                    f"{where} is truncated or corrupt (its checksum does not match)"
                )
            return magic, body
    raise PersistenceError(f"{where} is not a reflow checkpoint (wrong header)")


def decode(data: bytes, where: str) -> Checkpoint:
    """The checkpoint in ``data`` (first format); ``PersistenceError`` naming ``where`` if
    it is damaged."""
    magic, body = _unframe(data, where)
    if magic != _MAGIC:
        raise PersistenceError(f"{where} refers to segments: load it with a CheckpointStore")
    checkpoint = pickle.loads(body)
    if not isinstance(checkpoint, Checkpoint):
        raise PersistenceError(f"{where} does not hold a reflow checkpoint")
    return checkpoint


class _FramePickler(pickle.Pickler):
    """Pickles a manifest body; Polars frames go to segments, once per frame object.

    The frames new to this checkpoint are written together, one segment entry per schema
    (one Arrow IPC stream instead of many small ones); each is a slice of it.
    """

    def __init__(self, file: io.BytesIO, store: CheckpointStore, writer: SegmentWriter,
                 whole: bool) -> None:
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self.store, self.writer, self.whole = store, writer, whole
        self.used: dict[int, tuple[pl.DataFrame, FrameRef]] = {}
        self.groups: dict[tuple, list[pl.DataFrame]] = {}
        self.group_rows: dict[tuple, int] = {}
        self.first_new = len(writer.blobs)

    def persistent_id(self, obj: Any) -> tuple | None:
        if type(obj) is not pl.DataFrame:
            return None
        known = self.used.get(id(obj)) or (
            None if self.whole else self.store.frames.get(id(obj))
        )
        if known is None or known[0] is not obj:
            schema = tuple(obj.schema.items())
            group = self.groups.setdefault(schema, [])
            index = self.first_new + list(self.groups).index(schema)
            start = self.group_rows.get(schema, 0)
            self.group_rows[schema] = start + obj.height
            group.append(obj)
            # The size is known once the entry is written (``finish``).
            known = (obj, FrameRef(self.writer.number, index, 0, start, obj.height))
        self.used[id(obj)] = known
        return ("frame", *known[1])

    def finish(self) -> None:
        """Write the new frames, then note each one's share of its entry's size."""
        sizes = []
        for frames in self.groups.values():
            blob = encode_pieces({"frame": pl.concat(frames, how="vertical", rechunk=False)})
            sizes.append(self.writer.add(blob).size)
        for key, (frame, ref) in list(self.used.items()):
            if ref.segment == self.writer.number and ref.entry >= self.first_new:
                rows = self.group_rows[tuple(frame.schema.items())] or 1
                share = sizes[ref.entry - self.first_new] * ref.length // rows
                self.used[key] = (frame, ref._replace(size=share))


class _FrameUnpickler(pickle.Unpickler):
    def __init__(self, file: io.BytesIO, load: Callable[[Ref], memoryview]) -> None:
        super().__init__(file)
        self.fetch = load
        self.entries: dict[tuple[int, int], pl.DataFrame] = {}
        self.loaded: dict[int, tuple[pl.DataFrame, FrameRef]] = {}

    def persistent_load(self, pid: tuple) -> Any:
        if pid[0] != "frame":
            raise pickle.UnpicklingError(f"unknown reference {pid[0]!r}")
        ref = FrameRef(*pid[1:])
        entry = self.entries.get((ref.segment, ref.entry))
        if entry is None:
            entry = decode_state(self.fetch(Ref(ref.segment, ref.entry, ref.size)))["frame"]
            self.entries[(ref.segment, ref.entry)] = entry
        if ref.start + ref.length > entry.height:
            raise PersistenceError(f"segment {ref.segment} entry {ref.entry} is too short")
        frame = entry.slice(ref.start, ref.length)
        self.loaded[id(frame)] = (frame, ref)
        return frame


class CheckpointStore:
    """Writes numbered checkpoints to a backend and finds the newest usable one."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        numbers = backend.sequence_numbers() + backend.segment_numbers()
        self.next_number = (max(numbers) + 1) if numbers else 1
        #: What the stored segments already hold: per operator its chain (``_Stored``), per
        #: frame object (the frame, kept alive so its id is not reused, and where).
        self.states: dict[int, _Stored] = {}
        self.frames: dict[int, tuple[pl.DataFrame, FrameRef]] = {}
        self.segment_sizes: dict[int, int] = {}
        self.last_refs: list[Ref | FrameRef] = []
        self.manifest_segments: dict[int, list[int]] = {}
        self._writer: ThreadPoolExecutor | None = None
        self._pending: Future | None = None

    # --- loading -------------------------------------------------------------------------------
    def load_latest(self) -> Checkpoint | None:
        """The newest checkpoint that is whole; None when there is none at all.

        A damaged newest checkpoint is skipped with a warning naming its file; if every stored
        checkpoint is damaged, ``PersistenceError`` names them rather than starting empty.
        """
        damaged = []
        for number in reversed(self.backend.sequence_numbers()):
            where = self.backend.describe(number)
            try:
                return self._load(number, where)
            except (PersistenceError, OSError, pickle.UnpicklingError, EOFError,
                    KeyError, ValueError) as exc:
                logger.warning("skipping checkpoint %s: %s", where, exc)
                damaged.append(str(exc) or f"{where}: {type(exc).__name__}")
        if damaged:
            raise PersistenceError(
                "no usable checkpoint: " + "; ".join(damaged)
                + ". Delete the persistence directory to start over."
            )
        return None

    def _load(self, number: int, where: str) -> Checkpoint:
        data = self.backend.get(number)
        magic, body = _unframe(data, where)
        if magic == _MAGIC:
            return decode(data, where)
        manifest = pickle.loads(body)
        readers: dict[int, SegmentReader] = {}

        def load(ref: Ref) -> memoryview:
            if ref.segment not in readers:
                try:
                    segment = self.backend.map_segment(ref.segment)
                except FileNotFoundError:
                    raise PersistenceError(
                        f"{where} refers to {self.backend.describe_segment(ref.segment)}, "
                        "which is missing"
                    ) from None
                readers[ref.segment] = SegmentReader(
                    segment, self.backend.describe_segment(ref.segment)
                )
            return readers[ref.segment].read(ref)

        def load_state(ref: Ref) -> bytes:
            # A view of the mapped segment, not bytes: every reader of a state decodes it
            # (``reflow.engine.state.snapshot.decode`` takes any buffer) or copies it.
            return cast("bytes", load(ref))

        unpickler = _FrameUnpickler(io.BytesIO(manifest["body"]), load)
        content = unpickler.load()
        chains = {index: _chain(saved) for index, saved in content["states"].items()}
        states = {index: load_state(refs[0]) for index, refs in chains.items()}
        deltas = {index: [load_state(ref) for ref in refs[1:]]
                  for index, refs in chains.items() if len(refs) > 1}
        # What was loaded is what the segments hold: the next checkpoint refers to it (and
        # extends its chains once the restored states' marks are known: ``restored``).
        self.states = {index: _Stored(0, refs, None) for index, refs in chains.items()}
        self.frames = dict(unpickler.loaded)
        self.segment_sizes = {n: reader.size for n, reader in readers.items()}
        self.last_refs = [*(ref for refs in chains.values() for ref in refs),
                          *(ref for _, ref in self.frames.values())]
        self.manifest_segments[number] = manifest["segments"]
        return Checkpoint(
            fingerprint=content["fingerprint"],
            operators=content["operators"],
            structures=content.get("structures", []),
            sources=content["sources"],
            sinks=content["sinks"],
            last_time=content["last_time"],
            states=states,
            state_deltas=deltas,
            state_formats=content["state_formats"],
        )

    def restored(self, marks: Mapping[int, object | None]) -> None:
        """Note the ``checkpoint_mark()`` of each operator restored from the loaded
        checkpoint, so the next checkpoint may save only their changes since."""
        self.states = {index: known._replace(mark=marks.get(index))
                       for index, known in self.states.items()}

    # --- saving --------------------------------------------------------------------------------
    def save(
        self,
        checkpoint: Checkpoint,
        versions: Mapping[int, int] | None = None,
        snapshot: Callable[[dict[int, object | None]], dict[int, SavedState]] | None = None,
        background: bool = False,
        stored: Callable[[], None] | None = None,
    ) -> None:
        """Store ``checkpoint`` atomically, then drop the ones older than the last ``KEEP``
        and the segments none of them refers to.

        With ``versions`` (each stateful operator's ``Dataflow.versions`` entry) and
        ``snapshot`` (``Dataflow.save_states``), only the operators whose version changed
        since the last checkpoint are saved and written, as their changes since it when they
        can tell them; ``checkpoint.states`` is then ignored. With ``background`` the bytes
        are made now and written (and fsynced) by a writer thread while the caller goes on;
        the next ``save`` or ``wait`` waits for it.
        ``stored`` is called (in the thread that wrote) once the checkpoint is durable.
        """
        self.wait()
        number = self.next_number
        whole = self._needs_compaction()
        writer = SegmentWriter(number)
        new_states: dict[int, _Stored] = {}
        if versions is not None and snapshot is not None:
            new_states = self._save_states(writer, whole, versions, snapshot)
            state_refs = {index: known.refs for index, known in new_states.items()}
        else:
            state_refs = {index: (writer.add(blob),)
                          for index, blob in (checkpoint.states or {}).items()}
        buffer = io.BytesIO()
        pickler = _FramePickler(buffer, self, writer, whole)
        pickler.dump({
            "fingerprint": checkpoint.fingerprint,
            "operators": checkpoint.operators,
            "structures": checkpoint.structures,
            "state_formats": checkpoint.state_formats,
            "states": {i: [tuple(ref) for ref in refs]  # plain tuples
                       for i, refs in state_refs.items()},
            "sources": checkpoint.sources,
            "sinks": checkpoint.sinks,
            "last_time": checkpoint.last_time,
        })
        pickler.finish()
        refs: list[Ref | FrameRef] = [ref for chain in state_refs.values() for ref in chain]
        refs += [ref for _, ref in pickler.used.values()]
        segments = sorted({ref.segment for ref in refs})
        segment = writer if writer.blobs else None
        if segment is not None:
            self.segment_sizes[number] = segment.size
        manifest = pickle.dumps({"segments": segments, "body": buffer.getvalue()},
                                protocol=pickle.HIGHEST_PROTOCOL)
        self.next_number = number + 1
        self.states = new_states
        self.frames = pickler.used
        self.last_refs = refs
        self.manifest_segments[number] = segments
        framed = _MAGIC_2 + hashlib.sha256(manifest).digest() + manifest
        if background:
            if self._writer is None:
                self._writer = ThreadPoolExecutor(1, thread_name_prefix="reflow-checkpoint")
            self._pending = self._writer.submit(self._write, number, segment, framed, stored)
        else:
            self._write(number, segment, framed, stored)

    def _save_states(
        self, writer: SegmentWriter, whole: bool, versions: Mapping[int, int],
        snapshot: Callable[[dict[int, object | None]], dict[int, SavedState]],
    ) -> dict[int, _Stored]:
        """Save the operators whose version changed into ``writer`` (all when ``whole``):
        as a delta on their chain while it may grow, else whole; where each state is now."""
        wanted: dict[int, object | None] = {}
        for index, version in versions.items():
            known = self.states.get(index)
            if whole or known is None:
                wanted[index] = None
            elif known.version != version:
                wanted[index] = known.mark if known.extensible() else None
        fresh = snapshot(wanted)
        out = {}
        for index, version in versions.items():
            saved = fresh.get(index)
            if saved is None:
                out[index] = self.states[index]._replace(version=version)
                continue
            ref = writer.add(saved.data)
            chain = (*self.states[index].refs, ref) if saved.delta else (ref,)
            out[index] = _Stored(version, chain, saved.mark)
        return out

    def wait(self) -> None:
        """Wait until a checkpoint being written in the background is stored (re-raising
        what failed there)."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def _write(self, number: int, segment: SegmentWriter | None, manifest: bytes,
               stored: Callable[[], None] | None = None) -> None:
        if segment is not None:  # durable before the manifest names it
            self.backend.put_segment_pieces(number, segment.pieces())
        self.backend.put(number, manifest)
        if stored is not None:
            stored()
        self._collect()

    def _needs_compaction(self) -> bool:
        segments = {ref.segment for ref in self.last_refs}
        if len(segments) > MAX_SEGMENTS:
            return True
        used = sum(ref.size for ref in self.last_refs)
        stored = sum(self.segment_sizes.get(n, 0) for n in segments)
        return stored > MAX_GARBAGE_RATIO * used + _GARBAGE_SLACK

    def _collect(self) -> None:
        """Delete checkpoints older than the ``KEEP`` newest, and unreferenced segments."""
        numbers = self.backend.sequence_numbers()
        for number in numbers[:-KEEP]:
            self.backend.delete(number)
            self.manifest_segments.pop(number, None)
        kept = numbers[-KEEP:]
        referenced: set[int] = set()
        for number in kept:
            segments = self.manifest_segments.get(number)
            if segments is None:
                try:
                    segments = self._segments_of(number)
                except (PersistenceError, OSError, pickle.UnpicklingError, EOFError, KeyError):
                    return  # a damaged checkpoint: keep every segment, to be safe
                self.manifest_segments[number] = segments
            referenced.update(segments)
        for number in self.backend.segment_numbers():
            if number not in referenced and number < self.next_number:
                self.backend.delete_segment(number)
                self.segment_sizes.pop(number, None)

    def _segments_of(self, number: int) -> list[int]:
        magic, body = _unframe(self.backend.get(number), self.backend.describe(number))
        return [] if magic == _MAGIC else list(pickle.loads(body)["segments"])
