"""Segments: the append-only files that hold the bulky parts of checkpoints.

Each checkpoint writes one segment with what changed since the previous checkpoint -- the
snapshots of the operators whose state changed, and the frames of source offsets not written
before -- and refers to older segments for the rest. A segment is a magic header followed by
entries, each its length, its CRC-32 and its bytes; a reference to an entry is a ``Ref``.
(CRC-32 finds truncation and accidental damage at several GB/s, where SHA-256 would add a
tenth of a second per 65 MB to every restart; the manifest naming the segments has a SHA-256.)
A restart reads a large segment mapped into memory (``Backend.map_segment``): its entries
are checked and handed out as views of the mapping, never copied whole.

>>> writer = SegmentWriter(7)
>>> ref = writer.add(b"state")
>>> bytes(SegmentReader(writer.encode(), "segment 7").read(ref))
b'state'
"""

from __future__ import annotations

import struct
import zlib
from typing import NamedTuple, cast

from reflow.runtime.persistence.backend import PersistenceError

_MAGIC = b"REFLOW-SEGMENT-1\n"
_HEAD = struct.Struct("<QI")  # length, CRC-32


class Ref(NamedTuple):
    """Entry ``entry`` of segment ``segment``, ``size`` bytes long."""

    segment: int
    entry: int
    size: int


class FrameRef(NamedTuple):
    """Rows ``start`` to ``start + length`` of the frame stored in entry ``entry`` of segment
    ``segment``; ``size`` is their share of the entry's bytes."""

    segment: int
    entry: int
    size: int
    start: int
    length: int


class SegmentWriter:
    """The entries of the segment a checkpoint is writing. An entry may be given as the
    pieces it is made of (``add``): they are written one after the other, never joined."""

    def __init__(self, number: int) -> None:
        self.number = number
        self.blobs: list[list[bytes]] = []
        self.size = len(_MAGIC)  # of the segment, in bytes

    def add(self, blob: bytes | list[bytes]) -> Ref:
        pieces = blob if type(blob) is list else [cast("bytes", blob)]
        length = sum(map(len, pieces))
        self.blobs.append(pieces)
        self.size += _HEAD.size + length
        return Ref(self.number, len(self.blobs) - 1, length)

    def pieces(self) -> list[bytes]:
        """The segment's bytes, as pieces to write in order (checksums computed here)."""
        out = [_MAGIC]
        for pieces in self.blobs:
            digest = 0
            for piece in pieces:
                digest = zlib.crc32(piece, digest)
            out.append(_HEAD.pack(sum(map(len, pieces)), digest))
            out += pieces
        return out

    def encode(self) -> bytes:
        """The segment's bytes."""
        return b"".join(self.pieces())


class SegmentReader:
    """The entries of one stored segment; ``PersistenceError`` naming ``where`` when the
    segment is damaged. ``data`` may be any buffer, such as a mapped segment file."""

    def __init__(self, data: bytes | memoryview, where: str) -> None:
        view = memoryview(data).cast("B")
        if view[:len(_MAGIC)] != _MAGIC:
            raise PersistenceError(f"{where} is not a reflow checkpoint segment (wrong header)")
        self.where = where
        self.size = len(view)
        self.entries: list[tuple[int, memoryview]] = []
        at = len(_MAGIC)
        while at < len(view):
            if at + _HEAD.size > len(view):
                raise PersistenceError(f"{where} is truncated (entry {len(self.entries)})")
            length, digest = _HEAD.unpack_from(view, at)
            at += _HEAD.size
            if at + length > len(view):
                raise PersistenceError(f"{where} is truncated (entry {len(self.entries)})")
            self.entries.append((digest, view[at:at + length]))
            at += length

    def read(self, ref: Ref) -> memoryview:
        """The bytes of entry ``ref`` once their checksum matches: a view of the segment's
        data (no copy), which therefore must not change while it is used (segment files are
        written once and never changed in place)."""
        if ref.entry >= len(self.entries):
            raise PersistenceError(f"{self.where} has no entry {ref.entry} (truncated)")
        digest, blob = self.entries[ref.entry]
        if zlib.crc32(blob) != digest:
            raise PersistenceError(
                f"{self.where} is corrupt (the checksum of entry {ref.entry} does not match)"
            )
        return blob
