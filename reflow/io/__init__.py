"""Connectors: reading from and writing to external systems (``pw.io``)."""

from reflow.io.subscribe import subscribe

__all__ = ["subscribe"]
