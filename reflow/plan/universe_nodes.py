"""Plan nodes of the set and universe operations.

``KeyedNode`` lowers to an ``engine.keyed.KeyedOperator`` that combines, id by id, the rows its
inputs hold (``update_rows``, ``update_cells``, ``restrict``, ``difference``, ``intersect``,
``with_universe_of``, zipping). ``ConcatReindexNode`` gives every input row a fresh id before
taking the union. Plain ``concat`` uses the shared ``ConcatNode``.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from reflow.engine.batch import ID
from reflow.engine.ids import hash_columns
from reflow.engine.operators.keyed import KeyedOperator, KeyedRule, ZipRule
from reflow.engine.operators.stateless import ConcatOperator, ReindexOperator
from reflow.plan.compile import error_column
from reflow.plan.nodes import ColumnInfo, PlanNode, Universe, _align


def _polars_columns(columns: dict[str, ColumnInfo], names: Sequence[str] | None = None):
    out: dict[str, pl.DataType] = {}
    for name, info in columns.items():
        if names is not None and name not in names:
            continue
        out[name] = info.dtype.polars()
        if info.fallible:
            out[error_column(name)] = pl.Boolean()
    return out


class KeyedNode(PlanNode):
    """Rows combined id by id from several inputs according to a ``KeyedRule``.

    ``value_columns[i]`` names the columns of input ``i`` the output is made of (``None``: the
    input only contributes the presence of its ids). Those columns are converted to the output
    column types before they reach the operator.
    """

    label = "keyed"

    def __init__(
        self,
        inputs: Sequence[PlanNode],
        columns: dict[str, ColumnInfo],
        universe: Universe,
        rule: KeyedRule,
        value_columns: Sequence[Sequence[str] | None],
        where: str,
        label: str = "keyed",
    ) -> None:
        super().__init__(inputs, columns, universe, where)
        self.rule = rule
        self.value_columns = [None if v is None else list(v) for v in value_columns]
        self.label = label

    def lower(self, sources, lowering):
        aligned = []
        input_columns = []
        for node, operator, names in zip(self.inputs, sources, self.value_columns, strict=True):
            if names is None:
                aligned.append(operator)
                input_columns.append({})
                continue
            target = _polars_columns(self.columns, names)
            aligned.append(_align(node, operator, target, lowering, self.name))
            input_columns.append(target)
        return lowering.add(
            KeyedOperator(
                aligned,
                self.name,
                self.polars_columns(),
                self.rule,
                [names is not None for names in self.value_columns],
                input_columns,
            )
        )


class ZipNode(KeyedNode):
    """The columns of several tables with the same ids, side by side (names must differ).

    Rows appear for the ids present in every input; the universe is the first input's.
    """

    def __init__(self, inputs: Sequence[PlanNode], where: str) -> None:
        columns: dict[str, ColumnInfo] = {}
        for node in inputs:
            for name, info in node.columns.items():
                if name in columns:
                    raise ValueError(f"column {name!r} appears in more than one zipped table")
                columns[name] = info
        super().__init__(
            inputs, columns, inputs[0].universe, ZipRule(len(inputs)),
            [list(node.columns) for node in inputs], where, label="zip",
        )


class ConcatReindexNode(PlanNode):
    """The union of the inputs, each row re-identified by hashing (its id, its input's position)."""

    label = "concat_reindex"

    def lower(self, sources, lowering):
        target = self.polars_columns()
        parts = []
        for position, (node, operator) in enumerate(zip(self.inputs, sources, strict=True)):
            aligned = _align(node, operator, target, lowering, self.name)
            parts.append(
                lowering.add(ReindexOperator(aligned, _reindex_kernel(position), self.name))
            )
        return lowering.add(ConcatOperator(parts, self.name))


def _reindex_kernel(position: int):
    def new_ids(frame: pl.DataFrame, ctx) -> pl.Series:
        keyed = frame.select(ID, pl.lit(position, dtype=pl.Int64).alias("_position"))
        return hash_columns(keyed, [ID, "_position"], salt="concat_reindex")

    return new_ids
