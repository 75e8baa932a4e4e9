"""``--oracle-thorough`` selects the thorough hypothesis profile of the correctness oracle
(as does the environment variable ``REFLOW_ORACLE_PROFILE=thorough``)."""

from __future__ import annotations

import os

from . import profiles


def pytest_addoption(parser) -> None:
    parser.addoption(
        "--oracle-thorough",
        action="store_true",
        default=False,
        help="run the correctness oracle with thousands of generated cases per test",
    )


def pytest_configure(config) -> None:
    thorough = False
    try:
        thorough = bool(config.getoption("--oracle-thorough"))
    except ValueError:  # option not registered: this conftest was not an initial one
        pass
    env = os.environ.get("REFLOW_ORACLE_PROFILE")
    profiles.select("thorough" if thorough else (env or "fast"))
