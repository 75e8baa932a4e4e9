"""Chained joins: ``t1.join(t2, ...).join(t3, ...)``.

The first join's pairs become a table (one column per column of either input); the second
join runs on it. References to the first join's inputs (``t1.a``, ``t2.b``) and ``pw.left``
(the first join's result) are rewritten to that table's columns, so conditions, ``select``,
``filter`` and ``reduce`` read as in Pathway.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from reflow.api.this import ThisWithout
from reflow.plan import expr as ex
from reflow.plan.errors import BuildKeyError, BuildTypeError, user_frame

if TYPE_CHECKING:
    from reflow.api.join import JoinResult
    from reflow.api.table import Table


def join_result_join(
    result: JoinResult, other: Table, *on: Any, how: Any = None, **kwargs: Any
) -> ChainedJoinResult:
    """``result.join(other, *on, how=...)``: see the module docstring.

    >>> import reflow as pw
    >>> a = pw.debug.table_from_markdown('''
    ... k | x
    ... 1 | 10
    ... ''')
    >>> b = pw.debug.table_from_markdown('''
    ... k | y
    ... 1 | 20
    ... ''')
    >>> c = pw.debug.table_from_markdown('''
    ... y  | z
    ... 20 | 30
    ... ''')
    >>> r = a.join(b, a.k == b.k).join(c, b.y == c.y).select(a.x, b.y, c.z)
    >>> pw.debug.compute_and_print(r, include_id=False)
    x  | y  | z
    10 | 20 | 30
    """
    where = user_frame()
    left, right = result._left, result._right
    mapping: dict[tuple[int, str], str] = {}
    visible: dict[str, str] = {}
    columns: dict[str, Any] = {}
    for side, table in (("left", left), ("right", right)):
        for name in table._node.columns:
            flat_name = f"_pw_{side}_{name}"
            columns[flat_name] = ex.ThisReference(side, name)
            mapping[(id(table._node), name)] = flat_name
            visible.setdefault(name, flat_name)
    flat = result.select(**columns)
    chained = _Rewriter(flat, left, right, mapping, visible, where)
    conditions = [chained.rewrite(condition) for condition in on]
    if "id" in kwargs and kwargs["id"] is not None:
        kwargs["id"] = chained.rewrite(kwargs["id"])
    base = flat.join(other, *conditions, how=how, **kwargs)
    return ChainedJoinResult(base, chained, other)


class _Rewriter:
    """Rewrites references to the first join's inputs into references to its flat table."""

    def __init__(
        self, flat: Table, left: Table, right: Table, mapping: dict, visible: dict, where: str
    ) -> None:
        self.flat = flat
        self.inputs = {id(left._node), id(right._node)}
        self.mapping = mapping
        self.visible = visible
        self.where = where

    def rewrite(self, expr: Any) -> Any:
        if not isinstance(expr, ex.ColumnExpression):
            return expr
        if isinstance(expr, ex.ColumnReference) and id(expr.table._node) in self.inputs:
            if expr.name == "id":
                raise BuildTypeError(
                    "the id of an input of an earlier join cannot be used in a chained join; "
                    "select it into a column first",
                    expr._where or self.where,
                )
            key = (id(expr.table._node), expr.name)
            if key not in self.mapping:
                raise BuildKeyError(f"no column {expr.name!r} in the joined tables", self.where)
            return ex.ColumnReference(self.flat, self.mapping[key])
        if isinstance(expr, ex.ThisReference) and expr.side == "left" and expr.name != "id":
            if expr.name not in self.visible:
                raise BuildKeyError(
                    f"no column {expr.name!r} in the left side of the join", self.where
                )
            return ex.ColumnReference(self.flat, self.visible[expr.name])
        children = expr._children()
        if not children:
            return expr
        return expr._rebuild([self.rewrite(child) for child in children])


class ChainedJoinResult:
    """A join whose left side is an earlier join's result."""

    def __init__(self, base: JoinResult, rewriter: _Rewriter, right: Table) -> None:
        self._base = base
        self._rewriter = rewriter
        self._right = right

    def _outputs(self, args: tuple, kwargs: dict) -> dict[str, Any]:
        outputs: dict[str, Any] = {}
        for arg in args:
            if isinstance(arg, ThisWithout):
                outputs.update(self._expand(arg))
                continue
            name = arg._name() if isinstance(arg, ex.ColumnExpression) else None
            if name is None:
                raise BuildTypeError(
                    f"positional arguments must be column references, got {arg!r}",
                    self._rewriter.where,
                )
            outputs[name] = self._rewriter.rewrite(arg)
        for name, value in kwargs.items():
            outputs[name] = self._rewriter.rewrite(ex.wrap_arg(value))
        return outputs

    def _expand(self, spread: ThisWithout) -> dict[str, Any]:
        names: list[tuple[str, Any]] = []
        if spread.side in ("left", "this"):
            names += [(n, ex.ColumnReference(self._rewriter.flat, flat))
                      for n, flat in self._rewriter.visible.items()]
        if spread.side in ("right", "this"):
            names += [(n, ex.ThisReference("right", n)) for n in self._right._node.columns
                      if spread.side == "right" or n not in self._rewriter.visible]
        return {n: ref for n, ref in names if n not in spread.names}

    def select(self, *args: Any, **kwargs: Any) -> Table:
        """The joined rows' chosen columns (see ``JoinResult.select``)."""
        return self._base.select(**self._outputs(args, kwargs))

    def filter(self, condition: Any) -> ChainedJoinResult:
        return ChainedJoinResult(
            self._base.filter(self._rewriter.rewrite(ex.wrap_arg(condition))), self._rewriter,
            self._right,
        )

    def reduce(self, *args: Any, **kwargs: Any) -> Table:
        return self._base.reduce(**self._outputs(args, kwargs))

    def groupby(self, *args: Any, **kwargs: Any) -> Any:
        keys = [self._rewriter.rewrite(ex.wrap_arg(a)) for a in args]
        options = {k: self._rewriter.rewrite(v) for k, v in kwargs.items()}
        return _ChainedGrouped(self._base.groupby(*keys, **options), self)



class _ChainedGrouped:
    def __init__(self, grouped: Any, result: ChainedJoinResult) -> None:
        self._grouped = grouped
        self._result = result

    def reduce(self, *args: Any, **kwargs: Any) -> Table:
        return self._grouped.reduce(**self._result._outputs(args, kwargs))
