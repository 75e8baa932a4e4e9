"""Test isolation: every test starts a new program (no leftover outputs or tables)."""

import pytest

from reflow.plan.nodes import forget_live_nodes
from reflow.runtime.runner import clear_outputs


@pytest.fixture(autouse=True)
def fresh_program():
    clear_outputs()
    forget_live_nodes()
    yield
    clear_outputs()
