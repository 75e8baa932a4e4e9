"""Where checkpoints are kept: an interface, and a directory implementation of it.

A checkpoint is one blob named by an increasing sequence number. A backend stores it whole or
not at all (``put``), lists what it has (``sequence_numbers``) and gives one back (``get``).
Beside checkpoints it keeps *segments*, numbered the same way: each holds the parts of state
that changed since the previous checkpoint, which later checkpoints refer to instead of
writing them again.
"""

from __future__ import annotations

import mmap
import os
import re
from abc import ABC, abstractmethod
from pathlib import Path


class PersistenceError(Exception):
    """A checkpoint cannot be used: corrupt, from a different pipeline, or unwritable."""


class Backend(ABC):
    """Storage of checkpoints. ``Backend.filesystem(path)`` keeps them in a directory.

    >>> import tempfile
    >>> backend = Backend.filesystem(tempfile.mkdtemp())
    >>> backend.put(1, b"state")
    >>> backend.sequence_numbers(), backend.get(1)
    ([1], b'state')
    """

    @staticmethod
    def filesystem(path: str | os.PathLike) -> FilesystemBackend:
        """Checkpoints in the directory ``path`` (created when missing)."""
        return FilesystemBackend(path)

    @staticmethod
    def s3(root_path: str, bucket_settings: object) -> Backend:
        """Pathway's S3 backend: not available yet (raises ``NotImplementedError``)."""
        raise NotImplementedError(
            f"pw.persistence.Backend.s3({root_path!r}, ...) is not supported yet; use "
            "pw.persistence.Backend.filesystem(path) (on a mounted bucket if needed)"
        )

    @staticmethod
    def azure(root_path: str, account: str, password: str, container: str) -> Backend:
        """Pathway's Azure backend: not available yet (raises ``NotImplementedError``)."""
        raise NotImplementedError(
            f"pw.persistence.Backend.azure({root_path!r}, ...) is not supported yet; use "
            "pw.persistence.Backend.filesystem(path)"
        )

    @abstractmethod
    def put(self, number: int, data: bytes) -> None:
        """Store checkpoint ``number`` atomically: after a crash it is wholly there or absent."""

    @abstractmethod
    def get(self, number: int) -> bytes:
        """The bytes of checkpoint ``number``."""

    @abstractmethod
    def sequence_numbers(self) -> list[int]:
        """The stored checkpoints, oldest first."""

    @abstractmethod
    def delete(self, number: int) -> None:
        """Forget checkpoint ``number``."""

    @abstractmethod
    def describe(self, number: int) -> str:
        """Where checkpoint ``number`` lives, for error messages."""

    # Segments: a backend that keeps none makes every checkpoint whole (see checkpoint.py).
    def put_segment(self, number: int, data: bytes) -> None:
        """Store segment ``number`` durably before a checkpoint referring to it is put."""
        raise NotImplementedError(f"{type(self).__name__} does not store segments")

    def put_segment_pieces(self, number: int, pieces: list[bytes]) -> None:
        """``put_segment`` of the bytes ``pieces`` make up, in order (a backend that can
        write them one after the other saves joining them: a copy of every byte)."""
        self.put_segment(number, b"".join(pieces))

    def get_segment(self, number: int) -> bytes:
        """The bytes of segment ``number``."""
        raise NotImplementedError(f"{type(self).__name__} does not store segments")

    def map_segment(self, number: int) -> bytes | memoryview:
        """The bytes of segment ``number`` for reading, as any buffer: a backend keeping
        files maps them into memory instead of copying them (segments are never changed in
        place, so a mapped one stays what it was while it is read)."""
        return self.get_segment(number)

    def segment_numbers(self) -> list[int]:
        """The stored segments, oldest first."""
        return []

    def delete_segment(self, number: int) -> None:
        """Forget segment ``number``."""
        raise NotImplementedError(f"{type(self).__name__} does not store segments")

    def describe_segment(self, number: int) -> str:
        """Where segment ``number`` lives, for error messages."""
        return f"segment {number}"

    def identity(self) -> str:
        """Names this storage, the same in every run using it (e.g. its directory)."""
        return self.describe(0)


#: Segments smaller than this are read into memory rather than mapped.
_MAP_AT_LEAST = 1 << 20
_NAME = re.compile(r"^checkpoint-(\d{12})\.bin$")
_SEGMENT = re.compile(r"^segment-(\d{12})\.bin$")


class FilesystemBackend(Backend):
    """Checkpoints as files ``checkpoint-<number>.bin`` in one directory, written to a hidden
    temporary file, fsynced, then renamed into place (and the directory fsynced)."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)

    def _file(self, number: int) -> Path:
        return self.path / f"checkpoint-{number:012d}.bin"

    def _segment(self, number: int) -> Path:
        return self.path / f"segment-{number:012d}.bin"

    def put(self, number: int, data: bytes) -> None:
        self._write(self._file(number), [data])

    def put_segment(self, number: int, data: bytes) -> None:
        self._write(self._segment(number), [data])

    def put_segment_pieces(self, number: int, pieces: list[bytes]) -> None:
        self._write(self._segment(number), pieces)

    def get_segment(self, number: int) -> bytes:
        return self._segment(number).read_bytes()

    def map_segment(self, number: int) -> bytes | memoryview:
        with open(self._segment(number), "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if size == 0 or size < _MAP_AT_LEAST:
                return handle.read()
            if not hasattr(mmap, "MAP_POPULATE"):  # not Linux
                return memoryview(mmap.mmap(handle.fileno(), size, access=mmap.ACCESS_READ))
            # Mapped pages are read on first touch (the checksums touch them all): populated
            # at once, the kernel reads them in bulk instead of one fault per page.
            return memoryview(mmap.mmap(handle.fileno(), size, prot=mmap.PROT_READ,
                                        flags=mmap.MAP_SHARED | mmap.MAP_POPULATE))

    def segment_numbers(self) -> list[int]:
        return self._numbers(_SEGMENT)

    def delete_segment(self, number: int) -> None:
        self._segment(number).unlink(missing_ok=True)

    def describe_segment(self, number: int) -> str:
        return str(self._segment(number))

    def identity(self) -> str:
        return str(self.path.resolve())

    def _write(self, target: Path, pieces: list[bytes]) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        temporary = self.path / f".{target.name}.tmp"
        with open(temporary, "wb") as handle:
            for piece in pieces:  # (one by one: large ones go to the file without a copy)
                handle.write(piece)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)
        directory = os.open(self.path, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)

    def get(self, number: int) -> bytes:
        return self._file(number).read_bytes()

    def sequence_numbers(self) -> list[int]:
        return self._numbers(_NAME)

    def _numbers(self, pattern: re.Pattern) -> list[int]:
        if not self.path.is_dir():
            return []
        found = (pattern.match(entry.name) for entry in self.path.iterdir())
        return sorted(int(match.group(1)) for match in found if match)

    def delete(self, number: int) -> None:
        self._file(number).unlink(missing_ok=True)

    def describe(self, number: int) -> str:
        return str(self._file(number))
