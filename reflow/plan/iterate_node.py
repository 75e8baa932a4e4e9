"""Plan nodes of ``pw.iterate``: the loop, its outputs and the tables standing for the loop's
variables inside its body.

The body is a plan sub-graph between ``LoopVariableNode``s (one per argument of the loop
function) and the tables the function returned. Lowering an ``IterateNode`` gives the engine a
builder that lowers the body into a fresh set of operators for every unrolled iteration
(``reflow.engine.operators.iterate``). Tables of the program used inside the body without
being passed to the loop are found here and fed to the body as further constants.
"""

from __future__ import annotations

from collections.abc import Sequence

from reflow.engine.dataflow import Dataflow
from reflow.engine.operator import Operator, RunContext
from reflow.engine.operators.iterate import BodyInstance, IterateOperator, IterateOutputOperator
from reflow.engine.operators.stateless import InputOperator
from reflow.plan.nodes import ColumnInfo, Lowering, PlanNode, Universe, _align, _live_nodes


class LoopVariableNode(PlanNode):
    """A table of the loop function's arguments, as seen inside the body."""

    label = "loop variable"

    def __init__(self, columns: dict[str, ColumnInfo], universe: Universe, arg: str,
                 where: str) -> None:
        super().__init__([], columns, universe, where)
        self.arg = arg

    def lower(self, sources: list[Operator], lowering: Lowering) -> Operator:
        raise ValueError(
            f"table {self.arg!r} of the loop at {self.where} is used outside the loop's "
            f"function: use the tables pw.iterate returns instead"
        )


def depends_on(node: PlanNode, variables: Sequence[PlanNode], memo: dict[int, bool]) -> bool:
    """Whether ``node`` is computed from any of ``variables`` (memoized in ``memo``)."""
    targets = {v.node_id for v in variables}
    stack = [(node, False)]
    while stack:
        current, expanded = stack.pop()
        if current.node_id in memo:
            continue
        if current.node_id in targets:
            memo[current.node_id] = True
        elif not current.inputs:
            memo[current.node_id] = False
        elif expanded:
            memo[current.node_id] = any(memo[i.node_id] for i in current.inputs)
        else:
            stack.append((current, True))
            stack.extend((i, False) for i in current.inputs if i.node_id not in memo)
    return memo[node.node_id]


def body_externals(
    outputs: Sequence[PlanNode], variables: Sequence[PlanNode]
) -> tuple[list[PlanNode], list[PlanNode]]:
    """The tables from outside the loop the body reads (``externals``), and the body's own
    nodes; ``outputs`` must all be computed from ``variables``."""
    memo: dict[int, bool] = {}
    externals: dict[int, PlanNode] = {}
    internal: dict[int, PlanNode] = {}
    stack = list(outputs)
    while stack:
        node = stack.pop()
        if node.node_id in internal or node.node_id in externals:
            continue
        if depends_on(node, variables, memo):
            internal[node.node_id] = node
            stack.extend(node.inputs)
        else:
            externals[node.node_id] = node
    return list(externals.values()), list(internal.values())


def forget_body(results: Sequence[PlanNode], variables: Sequence[PlanNode]) -> None:
    """Take a loop body's nodes out of the program's tables: they run only inside the loop,
    never on their own (e.g. when the global error log runs every table)."""
    _, internal = body_externals(results, variables)
    for node in [*internal, *variables]:
        _live_nodes.pop(node.node_id, None)


class IterateNode(PlanNode):
    """The loop itself; its columns are empty, ``IterateOutputNode``s carry the results."""

    label = "iterate"

    def __init__(
        self,
        initial: Sequence[PlanNode],
        constants: Sequence[PlanNode],
        variables: Sequence[LoopVariableNode],
        results: Sequence[PlanNode],
        iteration_limit: int | None,
        where: str,
    ) -> None:
        externals, _ = body_externals(results, variables)
        super().__init__([*initial, *constants, *externals], {}, Universe(), where)
        self.width = len(initial)
        self.variables = list(variables)
        self.externals = externals
        self.results = list(results)
        self.iteration_limit = iteration_limit
        forget_body(results, variables)

    def lower(self, sources: list[Operator], lowering: Lowering) -> Operator:
        initial = [
            _align(node, operator, variable.polars_columns(), lowering, self.name)
            for node, operator, variable in zip(
                self.inputs[: self.width], sources[: self.width], self.variables, strict=False
            )
        ]
        return lowering.add(
            IterateOperator(
                initial, sources[self.width :], self._build_body, self.name, self.iteration_limit
            )
        )

    def _build_body(self, ctx: RunContext) -> BodyInstance:
        body = Lowering(Dataflow(ctx))
        feeds: list[InputOperator] = []
        for node in [*self.variables, *self.externals]:
            feed = InputOperator(node.name, node.polars_columns())
            body.operators[node.node_id] = body.add(feed)
            feeds.append(feed)
        outputs = [
            _align(result, body.lower(result), variable.polars_columns(), body, self.name)
            for result, variable in zip(self.results, self.variables, strict=False)
        ]
        return BodyInstance(body.dataflow.operators, feeds, outputs)


class IterateOutputNode(PlanNode):
    """The fixed point of one iterated table of a loop."""

    label = "iterate output"

    def __init__(self, loop: IterateNode, index: int, columns: dict[str, ColumnInfo],
                 universe: Universe) -> None:
        super().__init__([loop], columns, universe, loop.where)
        self.index = index

    def lower(self, sources: list[Operator], lowering: Lowering) -> Operator:
        loop = sources[0]
        assert isinstance(loop, IterateOperator)  # what IterateNode lowers to
        return lowering.add(IterateOutputOperator(loop, self.index, self.name))
