"""Small helpers built from the public Table API (``pw.utils``)."""

from reflow.stdlib.utils import filtering

__all__ = ["filtering"]
