"""Plan nodes of the set and universe operations.

``KeyedNode`` lowers to an ``engine.keyed.KeyedOperator`` that combines, id by id, the rows its
inputs hold (``update_rows``, ``update_cells``, ``restrict``, ``difference``, ``intersect``,
``with_universe_of``, zipping). ``ConcatReindexNode`` gives every input row a fresh id before
taking the union. Plain ``concat`` uses the shared ``ConcatNode``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import polars as pl

from reflow.engine.batch import ID
from reflow.engine.ids import hash_columns
from reflow.engine.operator import Operator, RunContext
from reflow.engine.operators.keyed import (
    EqualIdsRule,
    KeyedOperator,
    KeyedRule,
    OverlayRule,
    PickRule,
    ZipRule,
)
from reflow.engine.operators.stateless import ConcatOperator, IdKernel, ReindexOperator
from reflow.plan.error_columns import error_column
from reflow.plan.nodes import ColumnInfo, Lowering, PlanNode, Universe, _align


def _polars_columns(
    columns: dict[str, ColumnInfo], names: Sequence[str] | None = None
) -> dict[str, pl.DataType]:
    out: dict[str, pl.DataType] = {}
    for name, info in columns.items():
        if names is not None and name not in names:
            continue
        out[name] = info.dtype.polars()
        if info.fallible:
            out[error_column(name)] = pl.Boolean()
    return out


# --- the rules of the operations: which input's row a KeyedNode emits for an id -------------
Orphan = Callable[[int], str]


def prefer_second_rule() -> KeyedRule:
    """``update_rows``: the second input's row where it has one, else the first's.

    >>> rule = prefer_second_rule()
    >>> rule.shape((True, True)), rule.shape((True, False)), rule.shape((False, False))
    (1, 0, None)
    """
    return PickRule(_prefer_second)


def all_present_rule(orphan: Orphan | None = None) -> KeyedRule:
    """``restrict``/``intersect``: the first input's row where every input has the id;
    ``orphan`` describes an id missing from the first input that was promised to be there."""
    return PickRule(_all_present, orphan)


def only_first_rule() -> KeyedRule:
    """``difference``: the first input's row where the second input lacks the id.

    >>> rule = only_first_rule()
    >>> rule.shape((True, True)), rule.shape((True, False))
    (None, 0)
    """
    return PickRule(_only_first)


def equal_ids_rule(describe: Callable[[int, bool], str]) -> KeyedRule:
    """``with_universe_of``: the first input's row; an id in one input only is an error."""
    return EqualIdsRule(describe)


def overlay_rule(
    columns: dict[str, ColumnInfo], replaced: Sequence[str], orphan: Orphan
) -> KeyedRule:
    """``update_cells``: the first input's row with the ``replaced`` cells of the second."""
    physical: list[str] = []
    for name in replaced:
        physical.append(name)
        if columns[name].fallible:
            physical.append(error_column(name))
    return OverlayRule(physical, orphan)


def _prefer_second(present: tuple[bool, ...]) -> int | None:
    if present[1]:
        return 1
    return 0 if present[0] else None


def _all_present(present: tuple[bool, ...]) -> int | None:
    return 0 if all(present) else None


def _only_first(present: tuple[bool, ...]) -> int | None:
    return 0 if present[0] and not present[1] else None


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

    def lower(self, sources: list[Operator], lowering: Lowering) -> Operator:
        aligned = []
        input_columns: list[Any] = []
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

    def lower(self, sources: list[Operator], lowering: Lowering) -> Operator:
        target = self.polars_columns()
        parts = []
        for position, (node, operator) in enumerate(zip(self.inputs, sources, strict=True)):
            aligned = _align(node, operator, target, lowering, self.name)
            parts.append(
                lowering.add(ReindexOperator(aligned, _reindex_kernel(position), self.name))
            )
        return lowering.add(ConcatOperator(parts, self.name))


def _reindex_kernel(position: int) -> IdKernel:
    def new_ids(frame: pl.DataFrame, ctx: RunContext) -> pl.Series:
        keyed = frame.select(ID, pl.lit(position, dtype=pl.Int64).alias("_position"))
        return hash_columns(keyed, [ID, "_position"], salt="concat_reindex")

    return new_ids
