"""Lowering of selects and filters that call non-deterministic functions.

A user-defined function declared non-deterministic (the default for ``pw.udf``) must never be
called again to retract a row: the value it returned the first time may differ from what it
would return now. Such selects and filters are lowered to ``MemoMapOperator``, which remembers
each output row and retracts exactly that row.
"""

from __future__ import annotations

from collections.abc import Iterable

import polars as pl

from reflow.engine.operator import Operator, RunContext
from reflow.engine.operators.memo_map import MemoMapOperator
from reflow.engine.operators.stateless import FrameKernel, MaskKernel
from reflow.plan import expr as ex


def calls_nondeterministic(expressions: Iterable[ex.ColumnExpression]) -> bool:
    """Whether any of ``expressions`` contains a call marked ``deterministic=False``.

    >>> import reflow as pw
    >>> a = pw.this.x + 1
    >>> calls_nondeterministic([a]), calls_nondeterministic([pw.udf(lambda x: x)(a)])
    (False, True)
    """
    return ex.any_node(expressions, lambda node: getattr(node, "deterministic", True) is False)


def memo_select(source: Operator, kernel: FrameKernel, name: str) -> MemoMapOperator:
    """A select whose output rows are remembered for their retraction."""
    return MemoMapOperator(source, kernel, name + " (remembers results)")


def memo_filter(source: Operator, mask: MaskKernel, name: str) -> MemoMapOperator:
    """A filter that remembers which rows it let through, so a retraction does not re-ask."""

    def kernel(frame: pl.DataFrame, ctx: RunContext) -> pl.DataFrame:
        return frame.filter(mask(frame, ctx))

    return MemoMapOperator(source, kernel, name + " (remembers results)")
