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
    """A mistake in a pipeline found while it is being built (unknown column, wrong type).

    Each kind of mistake is raised as a subclass that is also the standard exception Python
    code (and Pathway) raises for it, so ``except TypeError`` catches a type mismatch:

    >>> import reflow as pw
    >>> t = pw.debug.table_from_markdown('''
    ... a | s
    ... 1 | x
    ... ''')
    >>> try:
    ...     t.select(q=t.a + t.s)
    ... except TypeError as exc:
    ...     print(isinstance(exc, pw.BuildError), str(exc).split(" (at ")[0])
    True operator + is not defined for column 'a' of type INT and column 's' of type STR
    """

    def __init__(self, message: str, where: str | None = None) -> None:
        self.where = where or user_frame()
        self.message = f"{message} (at {self.where})"
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message


class BuildTypeError(BuildError, TypeError):
    """An operation applied to columns of types it does not accept."""


class BuildValueError(BuildError, ValueError):
    """An argument of the right type but a wrong value (mismatched tables, bad options)."""


class BuildKeyError(BuildError, KeyError, AttributeError):
    """A column that the table does not have (a ``KeyError`` as for ``t["x"]``, and an
    ``AttributeError`` as for ``t.x``)."""


class BuildAttributeError(BuildError, AttributeError):
    """A method that does not exist for the column's type (``.str`` on an int column)."""


class BuildIndexError(BuildError, IndexError):
    """An index out of the range of a tuple."""


class BuildRuntimeError(BuildError, RuntimeError):
    """A column expression used where Python needs a plain value (``if``, ``and``)."""
