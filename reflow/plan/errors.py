"""Finding the user's line, so build-time errors can point at it."""

from __future__ import annotations

import os
import sys
import types

_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def user_frame() -> str:
    """``file:line`` of the innermost stack frame outside the reflow package."""
    frame: types.FrameType | None = sys._getframe(1)
    while frame is not None:
        filename = os.path.abspath(frame.f_code.co_filename)
        if not filename.startswith(_PACKAGE_DIR + os.sep):
            return f"{frame.f_code.co_filename}:{frame.f_lineno}"
        frame = frame.f_back
    return "<unknown>"


class BuildError(Exception):
    """A mistake in a pipeline found while it is being built (unknown column, wrong type)."""

    def __init__(self, message: str, where: str | None = None) -> None:
        self.where = where or user_frame()
        super().__init__(f"{message} (at {self.where})")
