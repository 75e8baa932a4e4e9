"""The public names the standard library builds with, from the layers below it (the stdlib
may not import the top-level ``reflow`` package, which imports everything)."""

from reflow.api import reducers
from reflow.api.functions import apply, apply_with_type, cast, if_else, make_tuple
from reflow.api.schema import Schema
from reflow.api.table import Table
from reflow.api.this import left, right, this
from reflow.engine.values import Pointer

__all__ = ["Pointer", "Schema", "Table", "apply", "apply_with_type", "cast", "if_else", "left",
           "make_tuple", "reducers", "right", "this"]
