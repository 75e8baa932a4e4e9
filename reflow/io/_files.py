"""A live source reading a file, a directory or a glob, once or while watching it.

In ``static`` mode every file is read once, all rows enter at one logical time and the source
closes. In ``streaming`` mode the path is polled: a new file adds its rows, a modified file
retracts the rows it had and adds its new ones, a deleted file retracts its rows.

Rows get ids from their primary key when the schema has one (then a row with a key that is
already present replaces it), else from the file and the row's position in it, so that a
modified file retracts exactly the rows it produced.
"""

from __future__ import annotations

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

Parser = Callable[[bytes, str], Parsed]


def _is_glob(path: str) -> bool:
    return any(c in path for c in "*?[")


def list_files(path: str) -> list[str]:
    """The regular files a path stands for (a file, every file under a directory, a glob)."""
    if _is_glob(path):
        found = glob.glob(path, recursive=True)
    elif os.path.isdir(path):
        found = [str(p) for p in Path(path).rglob("*")]
    else:
        return [path] if os.path.isfile(path) else []
    # Hidden files in a listing are skipped (editors and atomic writers use them).
    return sorted(
        p for p in found if os.path.isfile(p) and not os.path.basename(p).startswith(".")
    )


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
    ) -> None:
        if mode not in ("static", "streaming"):
            raise ConnectorError(f"mode must be 'static' or 'streaming', got {mode!r}")
        self.path = os.fspath(path)
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

    # --- start-up checks -----------------------------------------------------------------------
    def check(self) -> None:
        if not _is_glob(self.path) and not os.path.exists(self.path):
            raise InputPathNotFound(f"{self.name}: input path {self.path!r} does not exist")
        for file in list_files(self.path):
            try:
                with open(file, "rb") as handle:
                    handle.read(1)
            except OSError as exc:
                raise ConnectorError(
                    f"{self.name}: cannot read input file {file!r}: {exc.strerror or exc}"
                ) from None
            if self.check_file is not None:
                self.check_file(file)

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
                while not handle.stopping:
                    self._scan(handle)
                    if handle.wait_stop(self.poll_interval):
                        break
            handle.close()
        except Exception as exc:  # noqa: BLE001 - reported to the run loop, which re-raises
            handle.fail(exc)

    def _scan(self, handle: SourceHandle) -> None:
        seen = set()
        changes: list[pl.DataFrame] = []
        reported = False
        for file in list_files(self.path):
            seen.add(file)
            try:
                stat = os.stat(file)
            except OSError:
                continue
            signature = (stat.st_mtime_ns, stat.st_size, stat.st_ino, stat.st_mode)
            known = self._files.get(file)
            if known is not None and known[0] == signature:
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
        for batch in changes:
            handle.push(batch)
        if changes or reported or self.mode == "static":
            handle.commit()

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
                else ((), rows[:0])
            )
        if self.mode == "static" and not self.primary_key:
            return [rows] if rows is not None and rows.height else []
        if self.primary_key:
            return self._upsert(file, rows)
        old_rows = old[1] if old is not None else None
        return _difference(old_rows, rows)

    def _upsert(self, file: str, rows: pl.DataFrame | None) -> list[pl.DataFrame]:
        """Apply a file's new rows to the per-key state; returns the changes to emit."""
        owner = pl.lit(file, dtype=pl.String).alias("_file")
        state = self._keyed
        new = rows.with_columns(owner) if rows is not None else None
        if state is None:
            self._keyed = new
            return [rows] if rows is not None and rows.height else []
        gone = state.filter(pl.col("_file") == file)
        if new is not None:
            gone = gone.join(new.select(ID), on=ID, how="anti")
            replaced = state.join(new.select(ID), on=ID, how="semi")
        else:
            replaced = state.clear()
        retract = pl.concat([gone, replaced], how="vertical_relaxed").drop("_file")
        keep = state.join(retract.select(ID), on=ID, how="anti")
        self._keyed = pl.concat([keep, new], how="vertical_relaxed") if new is not None else keep
        return _difference(retract, rows)


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

