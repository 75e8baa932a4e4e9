"""``pw.iterate``: run a function of tables to its fixed point, kept exact as inputs change.

The function is called once, on tables standing for its arguments; the tables it returns
become the next values of the arguments of the same names (the *iterated* tables). Arguments
it does not return are constants of the loop: their changes flow in as well. At every logical
time the results equal the fixed point computed from scratch on that time's inputs, also
after deletions (see ``reflow.engine.operators.iterate`` for how this stays incremental).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from reflow.api.table import Table
from reflow.plan.errors import BuildError, user_frame
from reflow.plan.iterate_node import (
    IterateNode,
    IterateOutputNode,
    LoopVariableNode,
    forget_body,
)
from reflow.plan.nodes import ColumnInfo, Universe


class IterateError(BuildError, ValueError):
    """The loop function returned something ``pw.iterate`` cannot iterate."""


class iterate_universe:
    """Marks an argument of ``pw.iterate`` whose set of row ids may change inside the loop
    (rows are added or removed by the loop function, e.g. with ``filter``).

    >>> import reflow as pw
    >>> t = pw.debug.table_from_markdown('''
    ... n
    ... 1
    ... 6
    ... 12
    ... ''')
    >>> def drop_big(t):
    ...     return t.filter(pw.this.n < 10).select(n=pw.this.n * 2)
    >>> pw.debug.compute_and_print(
    ...     pw.iterate(drop_big, t=pw.iterate_universe(t)), include_id=False)
    n
    """

    def __init__(self, table: Table) -> None:
        if not isinstance(table, Table):
            raise TypeError(f"pw.iterate_universe expects a Table, got {type(table).__name__}")
        self.table = table


class IterateResult(dict):
    """The tables returned by ``pw.iterate`` when the function returned a mapping: reachable
    by key and as attributes."""

    def __getattr__(self, name: str) -> Table:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def iterate(
    func: Callable[..., Any],
    iteration_limit: int | None = None,
    **kwargs: Table | iterate_universe,
) -> Any:
    """Apply ``func`` to the tables ``kwargs`` again and again until nothing changes.

    ``func`` returns a table (when there is one argument or one iterated table), a dict or a
    named tuple of tables named like arguments; those arguments are iterated, the others are
    constants of the loop. ``iteration_limit`` caps the number of steps. Every result is the
    fixed point for the inputs of the current time, revised exactly when they change.

    >>> import reflow as pw
    >>> edges = pw.debug.table_from_markdown('''
    ... u | v
    ... 1 | 2
    ... 2 | 3
    ... 7 | 8
    ... ''')
    >>> nodes = edges.select(n=pw.this.u).concat_reindex(edges.select(n=pw.this.v))
    >>> labels = nodes.groupby(pw.this.n).reduce(pw.this.n, label=pw.this.n)
    >>> def step(labels, edges):
    ...     both = edges.concat_reindex(edges.select(u=pw.this.v, v=pw.this.u))
    ...     offers = both.join(labels, pw.left.u == pw.right.n).select(
    ...         n=pw.left.v, label=pw.right.label)
    ...     best = offers.concat_reindex(labels).groupby(pw.this.n).reduce(
    ...         pw.this.n, label=pw.reducers.min(pw.this.label))
    ...     return dict(labels=labels.with_columns(label=best.ix_ref(labels.n).label))
    >>> result = pw.iterate(step, labels=labels, edges=edges)
    >>> pw.debug.compute_and_print(result.labels, include_id=False)
    n | label
    1 | 1
    2 | 1
    3 | 1
    7 | 7
    8 | 7
    """
    where = user_frame()
    if iteration_limit is not None and iteration_limit < 1:
        raise ValueError("iteration_limit must be a positive number of steps")
    tables: dict[str, Table] = {}
    new_universe: set[str] = set()
    for name, value in kwargs.items():
        if isinstance(value, iterate_universe):
            new_universe.add(name)
            value = value.table
        if not isinstance(value, Table):
            raise TypeError(f"pw.iterate: argument {name!r} is a {type(value).__name__}, "
                            f"not a Table")
        tables[name] = value

    fallible: dict[str, set[str]] = {name: set() for name in tables}
    while True:
        variables = {
            name: LoopVariableNode(
                {
                    c: ColumnInfo(info.dtype, info.fallible or c in fallible[name])
                    for c, info in table._node.columns.items()
                },
                Universe() if name in new_universe else table._node.universe,
                name,
                where,
            )
            for name, table in tables.items()
        }
        returned = func(**{name: Table(node) for name, node in variables.items()})
        results, shape = _named_results(returned, tables, where)
        grew = False
        for name, result in results.items():
            more = {c for c, i in result._node.columns.items() if i.fallible}
            more -= {c for c, i in variables[name].columns.items() if i.fallible}
            if more:
                fallible[name] |= more
                grew = True
        if not grew:
            break
        forget_body([r._node for r in results.values()], list(variables.values()))

    names = list(results)
    for name in names:
        _check_result(name, results[name], variables[name], name in new_universe, where)
    loop = IterateNode(
        initial=[tables[n]._node for n in names],
        constants=[tables[n]._node for n in tables if n not in results],
        variables=[variables[n] for n in names]
        + [variables[n] for n in tables if n not in results],
        results=[results[n]._node for n in names],
        iteration_limit=iteration_limit,
        where=where,
    )
    outputs = {}
    for index, name in enumerate(names):
        variable = variables[name]
        universe = Universe() if name in new_universe else tables[name]._node.universe
        outputs[name] = Table(IterateOutputNode(loop, index, dict(variable.columns), universe))
    if shape is Table:
        return outputs[names[0]]
    if shape is dict:
        return IterateResult(outputs)
    return shape(**outputs)


def _named_results(
    returned: Any, tables: Mapping[str, Table], where: str
) -> tuple[dict[str, Table], Any]:
    """The returned tables by argument name, and the shape to give back (Table, dict or the
    named tuple's type)."""
    if isinstance(returned, Table):
        if len(tables) != 1:
            raise IterateError(
                "the loop function returned a single table but pw.iterate got "
                f"{len(tables)} tables ({', '.join(tables)}): return a dict naming the iterated "
                "ones", where)
        return {next(iter(tables)): returned}, Table
    shape: Any
    if isinstance(returned, Mapping):
        results, shape = dict(returned), dict
    elif isinstance(returned, tuple) and hasattr(returned, "_asdict"):
        results, shape = dict(returned._asdict()), type(returned)
    else:
        raise IterateError(
            f"the loop function must return a Table, a dict or a named tuple of tables, not "
            f"{type(returned).__name__}", where)
    if not results:
        raise IterateError("the loop function returned no table to iterate", where)
    for name, value in results.items():
        if name not in tables:
            raise IterateError(
                f"the loop function returned a table named {name!r}, which is not an argument "
                f"of pw.iterate (arguments: {', '.join(tables)})", where)
        if not isinstance(value, Table):
            raise IterateError(
                f"the loop function returned a {type(value).__name__} for {name!r}, not a "
                f"Table", where)
    return results, shape


def _check_result(
    name: str, result: Table, variable: LoopVariableNode, new_universe: bool, where: str
) -> None:
    if not _reads_any_variable(result):
        raise IterateError(
            f"the loop function returned for {name!r} a table from outside the loop: return a "
            f"table computed from the function's arguments", where)
    expected = {c: i.dtype for c, i in variable.columns.items()}
    got = {c: i.dtype for c, i in result._node.columns.items()}
    if expected != got:
        raise IterateError(
            f"the loop function returned for {name!r} columns {_describe(got)}, which do not "
            f"match the iterated table's columns {_describe(expected)}", where)
    if not new_universe and not result._node.universe.is_equal_to(variable.universe):
        raise IterateError(
            f"the loop function changed the set of row ids of {name!r}: pass it as "
            f"pw.iterate_universe({name}) when rows may appear or disappear in the loop", where)


def _reads_any_variable(result: Table) -> bool:
    stack, seen = [result._node], set()
    while stack:
        node = stack.pop()
        if node.node_id in seen:
            continue
        seen.add(node.node_id)
        if isinstance(node, LoopVariableNode):
            return True
        stack.extend(node.inputs)
    return False


def _describe(columns: dict) -> str:
    return "{" + ", ".join(f"{c}: {d!r}" for c, d in columns.items()) + "}"
