"""The seam through which a layer below the API hands out ``Table``s: connectors (``io``)
build a plan node and give the user a ``Table`` over it without importing the API.

``reflow.api.table`` registers its class here when it loads, which is always before a
connector runs (``import reflow.io...`` imports ``reflow``, which loads the API).

>>> import reflow as pw
>>> from reflow.plan.nodes import ColumnInfo, InputNode, Universe
>>> from reflow.plan import dtypes as dt
>>> from reflow.runtime.sources import StaticSource
>>> t = table_over(InputNode({"a": ColumnInfo(dt.INT)}, Universe(), StaticSource([]), "here"))
>>> isinstance(t, pw.Table)
True
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from reflow.plan.nodes import PlanNode

_table_class: Callable[[PlanNode], Any] | None = None


def register_table_class(table_class: Callable[[PlanNode], Any]) -> None:
    """Make ``table_class`` (the API's ``Table``) the wrapper ``table_over`` builds."""
    global _table_class
    _table_class = table_class


def table_over(node: PlanNode) -> Any:
    """The user's ``Table`` wrapping ``node``."""
    if _table_class is None:
        raise RuntimeError("reflow.api is not loaded: import reflow before building tables")
    return _table_class(node)
