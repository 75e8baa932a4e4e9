"""The docstring examples of the showcase's modules run (examples/ is outside the doctest
paths of the suite)."""

from __future__ import annotations

import doctest
import importlib

import pytest


@pytest.mark.parametrize("module", ["gazetteer", "generator", "pipeline"])
def test_docstring_examples(module):
    result = doctest.testmod(importlib.import_module(f"examples.trending.{module}"))
    assert result.attempted > 0 and result.failed == 0
