"""The batch-format convention for error values.

A column that can hold errors travels with a hidden boolean companion column; an error cell
is null in the value column and true in the companion.

>>> from reflow.plan.error_columns import error_column, is_error_column
>>> is_error_column(error_column("price")), is_error_column("price")
(True, False)
"""

from __future__ import annotations

_ERROR_SUFFIX = "\x00error"


def error_column(name: str) -> str:
    """The hidden column that marks error cells of column ``name``."""
    return name + _ERROR_SUFFIX


def is_error_column(name: str) -> bool:
    """Whether ``name`` is the companion column of some column."""
    return name.endswith(_ERROR_SUFFIX)
