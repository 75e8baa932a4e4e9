"""Settings Pathway programs make before they run; reflow needs none of them."""

from __future__ import annotations

import os


def set_license_key(key: str | None) -> None:
    """Accepted and ignored: reflow needs no licence key for any feature.

    >>> import reflow as pw
    >>> pw.set_license_key("any-key")
    """
    del key


def set_monitoring_config(
    *, server_endpoint: str | None = None, detailed_metrics_dir: str | os.PathLike | None = None
) -> None:
    """Accepted and ignored: reflow sends no telemetry. Metrics are served by
    ``pw.run(with_http_server=True)``.

    >>> import reflow as pw
    >>> pw.set_monitoring_config(server_endpoint="https://example.invalid")
    """
    del server_endpoint, detailed_metrics_dir
