"""``pw.table_transformer``: mark a function that takes and returns tables."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any


def table_transformer(
    func: Callable[..., Any] | None = None,
    *,
    allow_superset: bool | Mapping[str, bool] = True,
    ignore_primary_keys: bool | Mapping[str, bool] = True,
    allow_subtype: bool | Mapping[str, bool] = True,
    locals: dict[str, Any] | None = None,
) -> Any:
    """Decorate a function from tables to tables. reflow checks column types when the
    tables are built, so the decorator returns the function unchanged in behaviour.

    >>> import reflow as pw
    >>> @pw.table_transformer
    ... def doubled(t: pw.Table) -> pw.Table:
    ...     return t.select(x=pw.this.x * 2)
    >>> t = pw.debug.table_from_markdown('''
    ... x
    ... 4
    ... ''')
    >>> pw.debug.compute_and_print(doubled(t), include_id=False)
    x
    8
    """

    def decorate(function: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            return function(*args, **kwargs)

        return wrapper

    return decorate if func is None else decorate(func)
