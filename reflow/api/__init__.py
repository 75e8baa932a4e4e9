"""reflow.api: the builders users touch (``Table``, ``pw.this``, reducers, namespaces)."""

from reflow.api import namespaces as _namespaces  # noqa: F401 - attaches .str/.dt/.num
