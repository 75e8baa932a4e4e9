"""Plan nodes between tables and streams of upsert/delete events (``Table.to_stream``,
``Table.stream_to_table``, ``Table.from_streams``)."""

from __future__ import annotations

from reflow.engine.batch import DIFF, ID
from reflow.engine.operator import Operator
from reflow.engine.operators.stateless import MapOperator
from reflow.engine.operators.streams import StreamToTableOperator, ToStreamOperator
from reflow.plan import dtypes as dt
from reflow.plan import expr as ex
from reflow.plan.compile import ExpressionCompiler
from reflow.plan.nodes import ColumnInfo, Lowering, PlanNode, Universe, _single_source_name

FLAG = "\x00is_upsert"


class ToStreamNode(PlanNode):
    """Each change of ``source`` as an event row with a boolean ``flag_name`` column."""

    label = "to_stream"

    def __init__(self, source: PlanNode, flag_name: str, where: str) -> None:
        columns = {**source.columns, flag_name: ColumnInfo(dt.BOOL)}
        super().__init__([source], columns, Universe(), where)
        self.flag_name = flag_name

    def lower(self, sources: list[Operator], lowering: Lowering) -> Operator:
        columns = self.inputs[0].polars_columns()
        return lowering.add(ToStreamOperator(sources[0], self.name, columns, self.flag_name))


class StreamToTableNode(PlanNode):
    """The table the events of ``sources`` build: per source, an upsert flag (a boolean
    expression over it, or a constant); the columns are those of source ``columns_of``."""

    label = "stream_to_table"

    def __init__(
        self,
        sources: list[PlanNode],
        flags: list[ex.ColumnExpression | bool],
        where: str,
        columns_of: int = 0,
    ) -> None:
        super().__init__(sources, dict(sources[columns_of].columns), Universe(), where)
        self.flags = flags

    def lower(self, sources: list[Operator], lowering: Lowering) -> Operator:
        inputs: list[Operator] = []
        flags: list[str | bool] = []
        for source, flag in zip(sources, self.flags, strict=True):
            if isinstance(flag, bool):
                inputs.append(source)
                flags.append(flag)
                continue
            compiler = ExpressionCompiler(self.name, _single_source_name)
            keep = (ID, *self.polars_columns(), DIFF)
            kernel = compiler.projection_kernel({FLAG: flag}, keep=keep)
            inputs.append(lowering.add(MapOperator(source, kernel, self.name + " (flag)")))
            flags.append(FLAG)
        return lowering.add(
            StreamToTableOperator(inputs, self.name, self.polars_columns(), flags)
        )
