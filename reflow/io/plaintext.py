"""``pw.io.plaintext``: read text files, one row (column ``data``) per line."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from reflow.api.table import Table


def read(
    path: str | os.PathLike,
    *,
    mode: Literal["streaming", "static"] = "streaming",
    autocommit_duration_ms: int | None = 1500,
    with_metadata: bool = False,
    name: str | None = None,
    **kwargs: Any,
) -> Table:
    """A table with a ``data`` column holding every line of the text file(s) at ``path``.

    >>> import pathlib, tempfile, reflow as pw
    >>> file = pathlib.Path(tempfile.mkdtemp()) / "notes.txt"
    >>> _ = file.write_text("one\\ntwo\\n")
    >>> pw.debug.compute_and_print(pw.io.plaintext.read(file, mode="static"), include_id=False)
    data
    one
    two
    """
    from reflow.io.fs import read as fs_read

    return fs_read(
        path,
        "plaintext",
        mode=mode,
        autocommit_duration_ms=autocommit_duration_ms,
        with_metadata=with_metadata,
        name=name,
    )


__all__ = ["read"]
