"""``Table.groupby(...)`` and ``GroupedTable.reduce(...)``.

``reduce`` outputs one row per group. Its expressions may use the grouping columns (through
``pw.this`` or the grouped table) and reducers (``pw.reducers.*``), combined freely:
``pw.reducers.sum(pw.this.x) / pw.reducers.count()``. Any other column must be inside a reducer.
The row of a group has the id ``pw.pointer_from(*key values)``, so it can be looked up with
``t.pointer_from(...)``.

>>> import reflow as pw
>>> t = pw.debug.table_from_markdown('''
... k | x
... a | 1
... a | 3
... b | 5
... ''')
>>> r = t.groupby(pw.this.k).reduce(
...     pw.this.k, mean=pw.reducers.sum(pw.this.x) / pw.reducers.count()
... )
>>> pw.debug.compute_and_print(r, include_id=False)
k | mean
a | 2.0
b | 5.0
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from reflow.api.resolve import Scope, resolve
from reflow.plan import dtypes as dt
from reflow.plan import expr as ex
from reflow.plan.errors import BuildTypeError, BuildValueError, user_frame
from reflow.plan.nodes import SelectNode
from reflow.plan.reduce_node import ReduceNode, ReducerCall

if TYPE_CHECKING:
    from reflow.api.table import Table


def groupby(
    table: Table,
    *args: Any,
    id: Any = None,
    sort_by: Any = None,
    instance: Any = None,
    **kwargs: Any,
) -> GroupedTable:
    """Group the rows of ``table`` by the given columns; follow with ``.reduce(...)``.

    See ``Table.groupby`` for an example.
    """
    where = user_frame()
    unknown = [name for name in kwargs if not name.startswith("_")]
    if unknown:
        raise BuildValueError(f"groupby() got unexpected keyword arguments: {', '.join(unknown)}",
                         where)
    scope = Scope.single(table)
    keys: list[tuple[str, ex.ColumnExpression]] = []
    grouping = list(args) + ([instance] if instance is not None else [])
    for arg in grouping:
        if isinstance(arg, str):
            arg = table[arg]
        if not isinstance(arg, (ex.ColumnReference, ex.ThisReference)):
            raise BuildTypeError(
                f"groupby() takes column references such as pw.this.name, got {arg!r}", where
            )
        resolved = resolve(arg, scope)
        name = arg.name
        taken = {n for n, _ in keys}
        while name in taken:
            name = name + "_"
        keys.append((name, resolved))
    id_expr = None
    if id is not None:
        id_expr = resolve(ex.wrap_arg(id), scope)
        if id_expr.dtype.strip_optional() not in (dt.POINTER, dt.ANY):
            raise BuildTypeError(f"groupby(id=...) needs a Pointer column, got {id_expr.dtype!r}",
                             where)
        for name, key in keys:
            if not _same_column(key, id_expr):
                raise BuildValueError(
                    f"groupby(id=...) can only be combined with the id column itself; "
                    f"{name!r} is another column",
                    where,
                )
    sort_expr = resolve(ex.wrap_arg(sort_by), scope) if sort_by is not None else None
    return GroupedTable(table, keys, id_expr, sort_expr, where)


def _same_column(a: ex.ColumnExpression, b: ex.ColumnExpression) -> bool:
    return (
        isinstance(a, ex.InputColumn) and isinstance(b, ex.InputColumn)
        and a.source == b.source and a.name == b.name
    )


class GroupedTable:
    """A table whose rows are grouped; ``reduce`` turns each group into one row."""

    def __init__(
        self,
        table: Table,
        keys: list[tuple[str, ex.ColumnExpression]],
        id_expr: ex.ColumnExpression | None,
        sort_by: ex.ColumnExpression | None,
        where: str,
    ) -> None:
        self._table = table
        self._keys = keys
        self._id_expr = id_expr
        self._sort_by = sort_by
        self._where = where

    def reduce(self, *args: Any, **kwargs: Any) -> Table:
        """One row per group with the given columns: grouping columns and expressions over
        reducers.

        >>> import reflow as pw
        >>> t = pw.debug.table_from_markdown('''
        ... k | x
        ... a | 4
        ... b | 1
        ... b | 2
        ... ''')
        >>> r = t.groupby(pw.this.k).reduce(pw.this.k, n=pw.reducers.count())
        >>> pw.debug.compute_and_print(r, include_id=False)
        k | n
        a | 1
        b | 2
        """
        from reflow.api.table import Table

        where = user_frame()
        outputs = _named_outputs(args, kwargs, where)
        from reflow.api.ix import contains_ix

        if contains_ix(outputs.values()):
            return self._reduce_with_lookups(outputs, where)
        lifter = _Lifter(self._table, self._keys, where)
        lifted = {name: lifter.lift(expr) for name, expr in outputs.items()}
        reduce_names = [n for n, _ in self._keys]
        reducers = []
        # Name a reducer after its output column when the column is just that reducer.
        taken = set(reduce_names)
        direct: dict[int, str] = {}
        for name, expr in outputs.items():
            if isinstance(expr, ex.ReducerExpression) and name not in taken:
                direct[id(expr)] = name
                taken.add(name)
        for index, (expr, column) in enumerate(lifter.reducers):
            found = direct.get(id(expr))
            if found is not None:
                name = found
            else:
                name = f"_reducer{index}"
                while name in taken:
                    name = "_" + name
                taken.add(name)
            reducers.append(ReducerCall(name, column))
            lifter.placeholders[index].name = name
        node = ReduceNode(
            self._table._node, self._keys, reducers, self._where, self._id_expr, self._sort_by
        )
        for placeholder in lifter.placeholders:
            placeholder.fallible = node.columns[placeholder.name].fallible
        if list(lifted) == list(node.columns) and all(
            isinstance(e, ex.InputColumn) and e.name == n for n, e in lifted.items()
        ):
            return Table(node)
        return Table(SelectNode(node, lifted, where))


    def _reduce_with_lookups(self, outputs: dict[str, ex.ColumnExpression], where: str) -> Table:
        """``reduce`` whose reducers read ``t.ix(...)`` columns: the looked-up values are
        first added as columns of the grouped table (same ids), then reduced."""
        from reflow.api.ix import rebind_to, select_with_ix

        table = self._table
        extra: dict[str, ex.ColumnExpression] = {}

        def replace(expr: ex.ColumnExpression) -> ex.ColumnExpression:
            if isinstance(expr, ex.ReducerExpression):
                args = []
                for arg in expr.args:
                    name = f"_pw_reduced_arg{len(extra)}"
                    extra[name] = arg
                    args.append(ex.ThisReference("this", name))
                rebuilt = ex.ReducerExpression(expr.reducer, *args, **expr.kwargs)
                rebuilt._where = expr._where
                return rebuilt
            children = expr._children()
            if not children:
                return rebind_to(expr, table)
            return expr._rebuild([replace(child) for child in children])

        replaced = {name: replace(expr) for name, expr in outputs.items()}
        columns = {n: ex.ThisReference("this", n) for n in table._node.columns}
        extended = select_with_ix(table, {**columns, **extra}, where)
        grouped = GroupedTable(extended, self._keys, self._id_expr, self._sort_by, where)
        return grouped.reduce(**replaced)


def _named_outputs(args: tuple, kwargs: dict, where: str) -> dict[str, ex.ColumnExpression]:
    outputs: dict[str, ex.ColumnExpression] = {}
    for arg in args:
        name = arg._name() if isinstance(arg, ex.ColumnExpression) else None
        if name is None or isinstance(arg, ex.ReducerExpression):
            raise BuildValueError(
                f"reduce() positional arguments must be grouping columns, got {arg!r}; "
                "name computed columns with keyword arguments",
                where,
            )
        outputs[name] = arg
    for name, value in kwargs.items():
        outputs[name] = ex.wrap_arg(value)
    if "id" in outputs:
        raise BuildValueError("Can't use 'id' as a column name", where)
    return outputs


class _Lifter:
    """Rewrites a reduce output expression over the reduce node's columns: reducers become
    references to reducer columns, grouping columns references to key columns."""

    def __init__(self, table: Table, keys: list[tuple[str, ex.ColumnExpression]], where: str):
        self.table = table
        self.scope = Scope.single(table)
        self.keys = keys
        self.where = where
        self.reducers: list[tuple[ex.ReducerExpression, ex.ReducerExpression]] = []
        self.placeholders: list[ex.InputColumn] = []

    def lift(self, expr: ex.ColumnExpression) -> ex.ColumnExpression:
        if isinstance(expr, ex.ReducerExpression):
            resolved = resolve(expr, self.scope)
            assert isinstance(resolved, ex.ReducerExpression)
            for arg in resolved.args:
                _check_no_reducer(arg, self.where)
            placeholder = ex.InputColumn(0, "", resolved.dtype, False)
            self.reducers.append((expr, resolved))
            self.placeholders.append(placeholder)
            return placeholder
        if isinstance(expr, (ex.ThisReference, ex.ColumnReference, ex.InputColumn)):
            column = resolve(expr, self.scope)
            for name, key in self.keys:
                if _same_column(key, column):
                    return ex.InputColumn(0, name, key.dtype, False)
            shown = getattr(expr, "name", repr(expr))
            raise BuildValueError(
                f"column {shown!r} is used in reduce() but it is neither a grouping column "
                "nor inside a reducer; group by it or wrap it in a reducer such as "
                f"pw.reducers.any(pw.this.{shown})",
                expr._where or self.where,
            )
        children = [self.lift(child) for child in expr._children()]
        node = expr._rebuild(children) if children else copy.copy(expr)
        node.dtype = node._infer()
        return node


def _check_no_reducer(expr: ex.ColumnExpression, where: str) -> None:
    if isinstance(expr, ex.ReducerExpression):
        raise BuildValueError(
            f"reducer {expr.reducer.name} cannot be nested inside another reducer", where
        )
    for child in expr._children():
        _check_no_reducer(child, where)
