"""Segments: the append-only files that hold the bulky parts of checkpoints.

Each checkpoint writes one segment with what changed since the previous checkpoint -- the
snapshots of the operators whose state changed, and the frames of source offsets not written
before -- and refers to older segments for the rest. A segment is a magic header followed by
entries, each its length, its SHA-256 and its bytes; a reference to an entry is a ``Ref``.

>>> writer = SegmentWriter(7)
>>> ref = writer.add(b"state")
>>> SegmentReader(writer.encode(), "segment 7").read(ref)
b'state'
"""

from __future__ import annotations

import hashlib
import struct
from typing import NamedTuple

from reflow.runtime.persistence.backend import PersistenceError

_MAGIC = b"REFLOW-SEGMENT-1\n"
_LENGTH = struct.Struct("<Q")


class Ref(NamedTuple):
    """Entry ``index`` of segment ``segment``, ``size`` bytes long."""

    segment: int
    index: int
    size: int


class FrameRef(NamedTuple):
    """Rows ``start`` to ``start + length`` of the frame stored in entry ``index`` of segment
    ``segment``; ``size`` is their share of the entry's bytes."""

    segment: int
    index: int
    size: int
    start: int
    length: int


class SegmentWriter:
    """The entries of the segment a checkpoint is writing."""

    def __init__(self, number: int) -> None:
        self.number = number
        self.blobs: list[bytes] = []

    def add(self, blob: bytes) -> Ref:
        self.blobs.append(blob)
        return Ref(self.number, len(self.blobs) - 1, len(blob))

    def encode(self) -> bytes:
        out = [_MAGIC]
        for blob in self.blobs:
            out += [_LENGTH.pack(len(blob)), hashlib.sha256(blob).digest(), blob]
        return b"".join(out)


class SegmentReader:
    """The entries of one stored segment; ``PersistenceError`` naming ``where`` when the
    segment is damaged."""

    def __init__(self, data: bytes, where: str) -> None:
        if not data.startswith(_MAGIC):
            raise PersistenceError(f"{where} is not a reflow checkpoint segment (wrong header)")
        self.where = where
        self.size = len(data)
        self.entries: list[tuple[bytes, memoryview]] = []
        view = memoryview(data)
        at = len(_MAGIC)
        while at < len(data):
            if at + _LENGTH.size + 32 > len(data):
                raise PersistenceError(f"{where} is truncated (entry {len(self.entries)})")
            (length,) = _LENGTH.unpack_from(view, at)
            digest = bytes(view[at + _LENGTH.size:at + _LENGTH.size + 32])
            at += _LENGTH.size + 32
            if at + length > len(data):
                raise PersistenceError(f"{where} is truncated (entry {len(self.entries)})")
            self.entries.append((digest, view[at:at + length]))
            at += length

    def read(self, ref: Ref) -> bytes:
        if ref.index >= len(self.entries):
            raise PersistenceError(f"{self.where} has no entry {ref.index} (truncated)")
        digest, blob = self.entries[ref.index]
        data = bytes(blob)
        if hashlib.sha256(data).digest() != digest:
            raise PersistenceError(
                f"{self.where} is corrupt (the checksum of entry {ref.index} does not match)"
            )
        return data
