"""An output file that receives each completed logical time in one write.

Writers format a whole time in memory and hand it over at once: the bytes go to the operating
system in a single ``write`` call (repeated only for the rest of a partial write), so a process
killed between two times leaves whole rows and whole times, never part of one. Without
persistence, a kill during that call may still cut the last time short; nothing is buffered in
the process across times.
"""

from __future__ import annotations

import os


class OutputFile:
    """A file opened for writing whole chunks.

    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "out.txt"
    >>> out = OutputFile(path)
    >>> out.write(b"a,b\\n1,2\\n")
    >>> out.close()
    >>> path.read_text()
    'a,b\\n1,2\\n'
    """

    def __init__(self, path: str | os.PathLike, *, resume_at: int | None = None) -> None:
        """Open ``path`` empty, or, with ``resume_at``, cut back to that many bytes (what a
        persistent run had written at its checkpoint) and append from there."""
        self.path = os.fspath(path)
        if resume_at is None:
            self._fd: int | None = os.open(
                self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666
            )
        else:
            self._fd = os.open(self.path, os.O_WRONLY)
            os.ftruncate(self._fd, resume_at)
            os.lseek(self._fd, resume_at, os.SEEK_SET)

    def write(self, data: bytes) -> None:
        """Write ``data`` with one system call (more only if the kernel takes part of it)."""
        if self._fd is None:
            raise ValueError(f"{self.path}: the output file is closed")
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]

    def tell(self) -> int:
        """How many bytes the file holds (where the next write goes)."""
        if self._fd is None:
            raise ValueError(f"{self.path}: the output file is closed")
        return os.lseek(self._fd, 0, os.SEEK_CUR)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
