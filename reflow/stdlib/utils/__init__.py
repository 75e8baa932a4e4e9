"""Small table utilities (``pw.stdlib.utils``): ``col`` and ``filtering``."""

from reflow.stdlib.utils import col, filtering

__all__ = ["col", "filtering"]
