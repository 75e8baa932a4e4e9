"""The plan node of an equi-join and its lowering to ``engine.join.JoinOperator``.

The node's table is *wide*: every column of the left input as ``left.<name>``, every column of
the right input as ``right.<name>``, and the ids of both inputs as ``left.id`` / ``right.id``.
``JoinResult.select`` and friends read from it; columns of a side that outer joins may leave
without a partner are typed ``Optional``.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from reflow.engine.batch import ID_DTYPE
from reflow.engine.ids import hash_columns
from reflow.engine.operator import Operator, RunContext
from reflow.engine.operators.join import KeyKernel
from reflow.plan import dtypes as dt
from reflow.plan import expr as ex
from reflow.plan.compile import ExpressionCompiler
from reflow.plan.nodes import ColumnInfo, Lowering, PlanNode, Universe, _single_source_name

SIDES = ("left", "right")


def wide_name(side: str, name: str) -> str:
    """The name column ``name`` of input ``side`` has in the join's wide table."""
    return f"{side}.{name}"


class JoinNode(PlanNode):
    """``left ⋈ right`` on ``left_keys[i] == right_keys[i]``; ``how`` is a ``JoinMode`` value.

    ``left_keys``/``right_keys`` are expressions resolved against their own input (source 0).
    ``id_from`` is ``None`` (ids hash the pair of input ids), ``"left"`` or ``"right"``.
    """

    label = "join"

    def __init__(
        self,
        left: PlanNode,
        right: PlanNode,
        left_keys: Sequence[ex.ColumnExpression],
        right_keys: Sequence[ex.ColumnExpression],
        how: str,
        id_from: str | None,
        where: str,
    ) -> None:
        self.how = how
        self.id_from = id_from
        self.left_keys = list(left_keys)
        self.right_keys = list(right_keys)
        missing = {"left": how in ("right", "outer"), "right": how in ("left", "outer")}
        columns: dict[str, ColumnInfo] = {}
        for side, node in zip(SIDES, (left, right), strict=True):
            columns[wide_name(side, "id")] = ColumnInfo(_maybe(dt.POINTER, missing[side]))
            for name, info in node.columns.items():
                columns[wide_name(side, name)] = ColumnInfo(
                    _maybe(info.dtype, missing[side]), info.fallible
                )
        super().__init__([left, right], columns, _universe(left, right, how, id_from), where)

    def lower(self, sources: list[Operator], lowering: Lowering) -> Operator:
        # The engine's join loads with the first join run, not with ``import reflow``.
        from reflow.engine.operators.join import JoinOperator, JoinSide

        sides = []
        for side, node, keys in zip(
            SIDES, self.inputs, (self.left_keys, self.right_keys), strict=True
        ):
            renamed = {
                column: wide_name(side, column[: -len(suffix)] if suffix else column) + suffix
                for column in node.polars_columns()
                for suffix in [_error_suffix(column)]
            }
            dtypes: dict[str, pl.DataType] = {wide_name(side, "id"): ID_DTYPE()}
            for column, dtype in node.polars_columns().items():
                dtypes[renamed[column]] = dtype
            outer = (side == "left" and self.how in ("left", "outer")) or (
                side == "right" and self.how in ("right", "outer")
            )
            sides.append(
                JoinSide(
                    _key_kernel(keys, f"{self.name} ({side} key)"),
                    renamed,
                    wide_name(side, "id"),
                    dtypes,
                    outer,
                    key_column=_plain_key(keys),
                    flag_columns=frozenset(
                        out for src, out in renamed.items() if _error_suffix(src)
                    ),
                )
            )
        operator = JoinOperator(
            sources[0], sources[1], sides[0], sides[1], self.name, id_from=self.id_from
        )
        return lowering.add(operator)


def _error_suffix(column: str) -> str:
    from reflow.plan.error_columns import is_error_column

    return column[column.index("\x00"):] if is_error_column(column) else ""


def _maybe(dtype: dt.DType, optional: bool) -> dt.DType:
    if not optional or dtype.is_optional or dtype in (dt.ANY, dt.NONE):
        return dtype
    return dt.Optional(dtype)


def _universe(left: PlanNode, right: PlanNode, how: str, id_from: str | None) -> Universe:
    if id_from is None:
        return Universe()
    base = left.universe if id_from == "left" else right.universe
    universe = Universe([base])
    if how == id_from:
        # Every row of that side appears once (a second match is a run-time error).
        universe.equal_to.add(base)
        base.equal_to.add(universe)
    return universe


def _plain_key(keys: Sequence[ex.ColumnExpression]) -> str | None:
    """The input column that is the whole key, when the key is one plain column. A fallible
    column qualifies too: the key kernel reads its values the same way (its error flags are
    not part of the key)."""
    if len(keys) != 1 or not isinstance(keys[0], ex.InputColumn):
        return None
    if keys[0].dtype.polars() == pl.Object:
        return None
    return _single_source_name(0, keys[0].name)


def _key_kernel(keys: Sequence[ex.ColumnExpression], name: str) -> KeyKernel:
    """A kernel giving one join key per row: the column itself, or a hash of several."""
    if not keys:
        return lambda frame, ctx: pl.Series("_key", [0] * frame.height, dtype=pl.Int64)
    compiler = ExpressionCompiler(name, _single_source_name)
    kernel = compiler.projection_kernel({f"k{i}": k for i, k in enumerate(keys)}, keep=())
    names = [f"k{i}" for i in range(len(keys))]
    single = len(keys) == 1 and keys[0].dtype.polars() != pl.Object

    def key(frame: pl.DataFrame, ctx: RunContext) -> pl.Series:
        computed = kernel(frame, ctx)
        if single:
            return computed["k0"]
        return hash_columns(computed, names, "join-key")

    return key
