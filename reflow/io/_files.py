"""A live source reading a file, a directory or a glob, once or while watching it.

In ``static`` mode every file is read once, all rows enter at one logical time and the source
closes. In ``streaming`` mode the path is polled: a new file adds its rows, a modified file
retracts the rows it had and adds its new ones, a deleted file retracts its rows.

Rows get ids from their primary key when the schema has one (then a row with a key that is
already present replaces it), else from the file and the row's position in it, so that a
modified file retracts exactly the rows it produced.
"""

from __future__ import annotations

import fnmatch
import glob
import hashlib
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import polars as pl

from reflow.engine.batch import DIFF, DIFF_DTYPE, ID, ID_DTYPE, concat_batches, negate
from reflow.engine.ids import hash_columns
from reflow.engine.values import Json
from reflow.io._common import METADATA_COLUMN, ConnectorError, InputPathNotFound
from reflow.io._formats import ROW, Parsed, empty_rows
from reflow.plan import dtypes as dt
from reflow.runtime.sources import LiveSource, SourceHandle

logger = logging.getLogger("reflow")

#: Seconds between two scans of a watched path.
POLL_INTERVAL = 0.1
#: Longest interval between two scans of a path where nothing changes (seconds).
IDLE_POLL_INTERVAL = 1.0
#: Seconds an unterminated last line of a streamed file must stay unchanged to be read.
SETTLE_SECONDS = 1.0
#: Files whose status changed less than this long ago are also compared by content.
_RECENT_NS = 2_000_000_000

Parser = Callable[[bytes, str], Parsed]


def _is_glob(path: str) -> bool:
    return any(c in path for c in "*?[")


def list_files(path: str, object_pattern: str = "*") -> list[str]:
    """The regular files a path stands for (a file, every file under a directory, a glob);
    in a listing only those whose name matches ``object_pattern``."""
    if _is_glob(path):
        found = glob.glob(path, recursive=True)
    elif os.path.isdir(path):
        return sorted(
            p for p in _files_under(path) if fnmatch.fnmatch(os.path.basename(p), object_pattern)
        )
    else:
        return [path] if os.path.isfile(path) else []
    # Hidden files in a listing are skipped (editors and atomic writers use them).
    return sorted(
        p for p in found
        if os.path.isfile(p) and not os.path.basename(p).startswith(".")
        and fnmatch.fnmatch(os.path.basename(p), object_pattern)
    )


def share_files(
    files: list[str], worker: int, workers: int, size: Callable[[str], int] | None = None
) -> list[str]:
    """The files of ``files`` (every worker lists the same) that worker ``worker`` of
    ``workers`` reads: each file goes to exactly one worker, the largest first, each to the
    worker with the fewest bytes so far (ties to the lowest worker), so that shares are even
    in bytes (``size``: a file's size, by default read from the file system). Keeps the
    order of ``files``.

    >>> sizes = {"a": 5, "b": 1, "c": 4, "d": 2}
    >>> [share_files(list(sizes), w, 2, sizes.get) for w in range(2)]
    [['a', 'b'], ['c', 'd']]
    """
    if workers == 1:
        return list(files)
    sizes = [(size or _size)(file) for file in files]
    loads = [0] * workers
    owner = [0] * len(files)
    for index in sorted(range(len(files)), key=lambda i: (-sizes[i], i)):
        target = min(range(workers), key=lambda w: (loads[w], w))
        owner[index] = target
        loads[target] += sizes[index]
    return [file for file, w in zip(files, owner) if w == worker]


def _size(file: str) -> int:
    try:
        return os.stat(file).st_size
    except OSError:
        return 0


def _files_under(folder: str) -> list[str]:
    """The regular, non-hidden files under ``folder``, found with ``os.scandir`` (the entry
    types come with the listing: no ``stat`` per file)."""
    out = []
    pending = [folder]
    while pending:
        try:
            entries = list(os.scandir(pending.pop()))
        except OSError:
            continue
        for entry in entries:
            try:
                if entry.is_dir():
                    pending.append(entry.path)
                elif entry.is_file() and not entry.name.startswith("."):
                    out.append(entry.path)
            except OSError:
                continue
    return out


class FileSource(LiveSource):
    """Reads ``path`` with ``parser`` into batches of the given columns."""

    def __init__(
        self,
        path: str | os.PathLike,
        parser: Parser,
        dtypes: dict[str, dt.DType],
        *,
        mode: str,
        primary_key: list[str] | None,
        with_metadata: bool,
        name: str,
        check_file: Callable[[str], None] | None = None,
        poll_interval: float | None = None,
        line_based: bool = True,
        object_pattern: str = "*",
    ) -> None:
        if mode not in ("static", "streaming"):
            raise ConnectorError(f"mode must be 'static' or 'streaming', got {mode!r}")
        self.path = os.fspath(path)
        self.object_pattern = object_pattern
        self.parser = parser
        self.dtypes = dtypes
        self.mode = mode
        self.primary_key = primary_key
        self.with_metadata = with_metadata
        self.name = name
        self.check_file = check_file
        self.poll_interval = POLL_INTERVAL if poll_interval is None else poll_interval
        self.rows_read = 0
        self._thread: threading.Thread | None = None
        # streaming state: file -> (signature, the rows it contributed)
        self._files: dict[str, tuple[tuple, pl.DataFrame | None]] = {}
        self._keyed: pl.DataFrame | None = None
        self._version = 0  # counts file reads: the latest read of a key wins
        self.line_based = line_based
        self._digests: dict[str, bytes] = {}  # file -> digest of the part read
        # file -> (signature, since when) of files whose unterminated last line waits
        self._waiting: dict[str, tuple[tuple, float]] = {}

    # --- start-up checks -----------------------------------------------------------------------
    def check(self) -> None:
        # Every run reads the files from the start (a run restored from a checkpoint then
        # sets the state of that checkpoint through ``resume``): a table read by a static
        # run is read again by the next ``pw.run`` or ``pw.debug`` call of the program.
        self._files, self._keyed, self._version = {}, None, 0
        self._digests, self._waiting = {}, {}
        self.rows_read = 0
        if not _is_glob(self.path) and not os.path.exists(self.path):
            raise InputPathNotFound(f"{self.name}: input path {self.path!r} does not exist")
        for file in list_files(self.path, self.object_pattern):
            try:
                with open(file, "rb") as handle:
                    handle.read(1)
            except OSError as exc:
                raise ConnectorError(
                    f"{self.name}: cannot read input file {file!r}: {exc.strerror or exc}"
                ) from None
            if self.check_file is not None:
                self.check_file(file)

    # --- reading by file among workers -----------------------------------------------------------
    def splits_by_file(self) -> bool:
        """Whether the workers of a sharded run may each read their own files: a static read
        without a primary key, whose rows never replace rows of another file."""
        return self.mode == "static" and not self.primary_key

    def read_part(self, worker: int, workers: int) -> tuple[pl.DataFrame | None, list[str]]:
        """The rows of the files worker ``worker`` of ``workers`` reads (``share_files``), and
        the reports of their bad rows. Touches no state of the source: the worker threads of
        one process call it on the same source at once."""
        files = share_files(list_files(self.path, self.object_pattern), worker, workers)
        logger.debug("%s: worker %d of %d reads %d file(s)", self.name, worker, workers,
                     len(files))
        batches: list[pl.DataFrame] = []
        errors: list[str] = []
        for file in files:
            try:
                stat = os.stat(file)
                data = Path(file).read_bytes()
            except OSError as exc:
                errors.append(f"{file}: cannot read ({exc.strerror})")
                continue
            try:
                parsed = self.parser(data, file)
            except ValueError as exc:
                parsed = Parsed(empty_rows(self.dtypes), [str(exc)])
            errors.extend(parsed.errors)
            batches.append(self._to_batch(parsed.frame, file, stat))
        return concat_batches(batches), errors

    # --- running -------------------------------------------------------------------------------
    def start(self, handle: SourceHandle) -> None:
        self._thread = threading.Thread(
            target=self._run, args=(handle,), name=f"reflow-{self.name}", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    def _run(self, handle: SourceHandle) -> None:
        try:
            if self.mode == "static":
                self._scan(handle)
            else:
                interval = self.poll_interval
                while not handle.stopping:
                    active = self._scan(handle)
                    # An idle path is scanned less and less often, down to once per
                    # IDLE_POLL_INTERVAL; any change brings the scans back to full speed.
                    interval = self.poll_interval if active else min(
                        interval * 2, max(self.poll_interval, IDLE_POLL_INTERVAL)
                    )
                    if handle.wait_stop(interval):
                        break
            handle.close()
        except Exception as exc:  # noqa: BLE001 - reported to the run loop, which re-raises
            handle.fail(exc)

    def _scan(self, handle: SourceHandle) -> bool:
        """Read what changed; returns whether anything did (or is still being written)."""
        seen = set()
        changes: list[pl.DataFrame] = []
        reported = False
        read_any = False
        for file in list_files(self.path, self.object_pattern):
            seen.add(file)
            try:
                stat = os.stat(file)
            except OSError:
                continue
            # The ctime changes with every write, even when the mtime is set back.
            signature = (
                stat.st_mtime_ns, stat.st_size, stat.st_ino, stat.st_mode, stat.st_ctime_ns
            )
            known = self._files.get(file)
            # Within the timestamp granularity of some file systems a write may leave the
            # signature unchanged: files changed lately are also compared by content.
            recent = time.time_ns() - stat.st_ctime_ns < _RECENT_NS
            if known is not None and known[0] == signature and not recent:
                if file not in self._waiting:
                    continue
            try:
                data = Path(file).read_bytes()
            except OSError as exc:
                handle.report_error(f"{file}: cannot read ({exc.strerror})")
                reported = True
                # Reported once per version of the file (a chmod makes a new version).
                self._files[file] = (signature, known[1] if known is not None else None)
                continue
            if os.stat(file).st_mtime_ns != stat.st_mtime_ns:
                continue  # still being written: read it at the next scan
            data = self._complete_part(file, data, signature)
            digest = hashlib.blake2b(data, digest_size=16).digest()
            if known is not None and self._digests.get(file) == digest:
                self._files[file] = (signature, known[1])
                continue
            self._digests[file] = digest
            read_any = True
            try:
                parsed = self.parser(data, file)
            except ValueError as exc:
                # The whole file is unusable (e.g. its header): it counts as having no rows.
                parsed = Parsed(empty_rows(self.dtypes), [str(exc)])
            for message in parsed.errors:
                handle.report_error(message)
                reported = True
            rows = self._to_batch(parsed.frame, file, stat)
            self.rows_read += rows.height
            changes.extend(self._replace(file, rows, signature))
        for file in [f for f in self._files if f not in seen]:
            changes.extend(self._replace(file, None, None))
            self._digests.pop(file, None)
            self._waiting.pop(file, None)
        for batch in changes:
            handle.push(batch)
        if changes or reported or self.mode == "static":
            handle.commit(offset=self._offset())
        return bool(changes or reported or self._waiting or read_any)

    def _complete_part(self, file: str, data: bytes, signature: tuple) -> bytes:
        """The part of a streamed file that is surely written: its complete lines. An
        unterminated last line waits until the file has stayed unchanged for a while (a
        writer that never ends its last line still gets it read)."""
        if self.mode == "static" or not self.line_based or not data or data.endswith(b"\n"):
            self._waiting.pop(file, None)
            return data
        since = self._waiting.get(file)
        now = time.monotonic()
        if since is not None and since[0] == signature:
            if now - since[1] >= SETTLE_SECONDS:
                del self._waiting[file]
                return data
        else:
            self._waiting[file] = (signature, now)
        return data[: data.rfind(b"\n") + 1]

    # --- persistence ---------------------------------------------------------------------------
    def _offset(self) -> dict:
        """Where a restart resumes: each file's signature and the rows it contributed (the
        frames are immutable, so a shallow copy is a consistent picture)."""
        return {
            "files": dict(self._files),
            "keyed": self._keyed,
            "digests": dict(self._digests),
            "version": self._version,
        }

    def resume(self, offset: object) -> None:
        """Continue after the commit that reported ``offset``: files whose signature is
        unchanged are not read again; changed or deleted ones emit only their difference."""
        self._files = dict(offset["files"])  # type: ignore[index]
        self._keyed = offset["keyed"]  # type: ignore[index]
        self._digests = dict(offset.get("digests", {}))  # type: ignore[attr-defined]
        self._version = offset.get("version", 0)  # type: ignore[attr-defined]

    def _to_batch(self, frame: pl.DataFrame, file: str, stat: os.stat_result) -> pl.DataFrame:
        if self.primary_key:
            ids = hash_columns(frame, self.primary_key)
        else:
            ids = position_ids(frame[ROW], file)
        columns = [frame[name] for name in self.dtypes if name != METADATA_COLUMN]
        if self.with_metadata:
            meta = Json(_metadata(file, stat))
            columns.append(pl.Series(METADATA_COLUMN, [meta] * frame.height, dtype=pl.Object))
        # A literal diff stays a scalar column: no memory for it until something needs it.
        batch = pl.DataFrame([ids.alias(ID), *columns]).with_columns(
            pl.lit(1, dtype=DIFF_DTYPE).alias(DIFF)
        )
        if self.primary_key and batch.height:
            batch = batch.unique(subset=[ID], keep="last", maintain_order=True)
        return batch

    def _replace(
        self, file: str, rows: pl.DataFrame | None, signature: tuple | None
    ) -> list[pl.DataFrame]:
        """The changes that replace what ``file`` contributed by ``rows`` (None: deleted)."""
        old = self._files.pop(file, None)
        if rows is not None:
            self._files[file] = (
                (signature, rows) if self.mode == "streaming"  # type: ignore[assignment]
                else (signature, rows[:0])
            )
        if self.mode == "static" and not self.primary_key:
            return [rows] if rows is not None and rows.height else []
        if self.primary_key:
            return self._upsert(file, rows)
        old_rows = old[1] if old is not None else None
        return _difference(old_rows, rows)

    def _upsert(self, file: str, rows: pl.DataFrame | None) -> list[pl.DataFrame]:
        """Apply a file's new rows to the per-key state; returns the changes to emit.

        Every file's rows are kept: a key present in several files shows the row of the file
        read last, and when that file loses the key (modified or deleted) the row of the file
        read before it comes back.
        """
        self._version += 1
        new = None
        if rows is not None:
            new = rows.with_columns(
                pl.lit(file, dtype=pl.String).alias(_FILE),
                pl.lit(self._version, dtype=pl.Int64).alias(_VERSION),
            )
        state = self._keyed
        if state is None:
            self._keyed = new
            return [rows] if rows is not None and rows.height else []
        mine = state.filter(pl.col(_FILE) == file)
        affected = pl.concat(
            [mine.select(ID), *([new.select(ID)] if new is not None else [])]
        ).unique()
        before = _visible(state.join(affected, on=ID, how="semi"))
        rest = state.filter(pl.col(_FILE) != file)
        self._keyed = pl.concat([rest, new], how="vertical_relaxed") if new is not None else rest
        after = _visible(self._keyed.join(affected, on=ID, how="semi"))
        return _difference(before, after)


_FILE = "\x00file"
_VERSION = "\x00version"


def _visible(rows: pl.DataFrame) -> pl.DataFrame:
    """Per key, the row of the file read last."""
    latest = rows.sort(_VERSION).unique(subset=[ID], keep="last", maintain_order=True)
    return latest.drop(_FILE, _VERSION)


def position_ids(positions: pl.Series, file: str) -> pl.Series:
    """Ids of rows known by their position in ``file``: stable across runs, distinct across
    files and positions (the high half identifies the file, the low half the position)."""
    digest = hashlib.blake2b(file.encode(), digest_size=16).digest()
    high = int.from_bytes(digest[:8], "little")
    seed = int.from_bytes(digest[8:12], "little")
    return pl.select(
        (
            pl.lit(high, dtype=ID_DTYPE) * pl.lit(2**64, dtype=ID_DTYPE)
            + pl.lit(positions).hash(seed).cast(ID_DTYPE)
        ).alias(ID)
    ).to_series()


def _difference(old: pl.DataFrame | None, new: pl.DataFrame | None) -> list[pl.DataFrame]:
    """Changes turning rows ``old`` into rows ``new``; rows present in both are left alone."""
    if old is None or old.height == 0:
        return [new] if new is not None and new.height else []
    if new is None or new.height == 0:
        return [negate(old)]
    columns = [c for c in new.columns if c != DIFF]
    if any(new.schema[c] == pl.Object for c in columns):
        return [concat_batches([negate(old), new])]  # type: ignore[list-item]
    removed = old.join(new, on=columns, how="anti", nulls_equal=True)
    added = new.join(old, on=columns, how="anti", nulls_equal=True)
    out = []
    if removed.height:
        out.append(negate(removed))
    if added.height:
        out.append(added)
    return out


def _metadata(file: str, stat: os.stat_result) -> dict:
    try:
        import pwd

        owner = pwd.getpwuid(stat.st_uid).pw_name
    except (ImportError, KeyError):
        owner = str(stat.st_uid)
    return {
        "path": os.path.abspath(file),
        "size": stat.st_size,
        "created_at": int(stat.st_ctime),
        "modified_at": int(stat.st_mtime),
        "owner": owner,
        "seen_at": int(time.time()),
    }

