"""Joins: ``Table.join`` and its variants, and the ``JoinResult`` they return.

A join is built as one wide plan node (``plan.join_node.JoinNode``) holding the columns of both
inputs; ``JoinResult.select``, ``filter``, ``groupby`` and ``reduce`` rewrite the user's
references (``pw.left.a``, ``pw.right.b``, ``pw.this.c``, ``t1.d``) into columns of that wide
table and then use the ordinary ``Table`` operations on it.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

from reflow.api.resolve import Scope, Side, named_expressions, resolve
from reflow.api.table import Table
from reflow.plan import dtypes as dt
from reflow.plan import expr as ex
from reflow.plan.errors import (
    BuildError,
    BuildKeyError,
    BuildTypeError,
    BuildValueError,
    user_frame,
)
from reflow.plan.join_node import JoinNode, wide_name


class JoinMode(Enum):
    """Which rows without a partner a join keeps: none, the left ones, the right ones, all.

    >>> import reflow as pw
    >>> a = pw.debug.table_from_markdown('''
    ... k
    ... 1
    ... 2
    ... ''')
    >>> b = pw.debug.table_from_markdown('''
    ... k
    ... 2
    ... 3
    ... ''')
    >>> r = a.join(b, a.k == b.k, how=pw.JoinMode.OUTER).select(l=pw.left.k, r=pw.right.k)
    >>> pw.debug.compute_and_print(r, include_id=False)
    l | r
    1 |
    2 | 2
      | 3
    """

    INNER = "inner"
    LEFT = "left"
    RIGHT = "right"
    OUTER = "outer"


def join(
    left: Table,
    right: Table,
    *on: Any,
    id: Any = None,
    how: JoinMode | str | None = None,
    left_instance: Any = None,
    right_instance: Any = None,
    **kwargs: Any,
) -> JoinResult:
    """Join ``left`` and ``right`` on equalities ``left_column == right_column``.

    ``how`` is a ``JoinMode`` (inner by default). Rows of the kept side without a partner get
    ``None`` in the other side's columns. ``id=left.id`` (or ``right.id``) gives result rows the
    id of that side's row; otherwise the id is derived from the pair of input ids.

    >>> import reflow as pw
    >>> people = pw.debug.table_from_markdown('''
    ... name  | city
    ... Alice | 1
    ... Bob   | 2
    ... ''')
    >>> cities = pw.debug.table_from_markdown('''
    ... code | city_name
    ... 1    | Paris
    ... ''')
    >>> result = people.join_left(cities, people.city == cities.code).select(
    ...     pw.left.name, pw.right.city_name
    ... )
    >>> pw.debug.compute_and_print(result, include_id=False)
    name  | city_name
    Alice | Paris
    Bob   |
    """
    where = user_frame()
    unknown = set(kwargs) - {"behavior", "exactly_once", "left_exactly_once", "right_exactly_once"}
    if unknown:
        unexpected = ", ".join(sorted(unknown))
        raise BuildTypeError(f"join() got unexpected arguments: {unexpected}", where)
    mode = join_mode(how, where)
    if left._node is right._node:
        raise BuildValueError(
            "a table cannot be joined with itself directly; join it with a copy (t.copy())",
            where,
        )
    conditions = list(on)
    if (left_instance is None) != (right_instance is None):
        raise BuildTypeError("left_instance and right_instance must be given together", where)
    if left_instance is not None:
        conditions.append(ex.BinaryOp("==", left_instance, right_instance))
    left_keys: list[ex.ColumnExpression] = []
    right_keys: list[ex.ColumnExpression] = []
    same_name: set[str] = set()
    for condition in conditions:
        lkey, rkey = join_condition(condition, left, right, where)
        assert isinstance(condition, ex.BinaryOp)
        left_keys.append(lkey)
        right_keys.append(rkey)
        lname, rname = condition.left._name(), condition.right._name()
        if lname is not None and lname == rname:
            same_name.add(lname)
    id_from = _id_side(id, left, right, mode, where)
    node = JoinNode(
        left._node, right._node, left_keys, right_keys, mode.value, id_from, where
    )
    return JoinResult(Table(node), left, right, mode, same_name)


def join_mode(how: Any, where: str) -> JoinMode:
    if how is None:
        return JoinMode.INNER
    if isinstance(how, JoinMode):
        return how
    if isinstance(how, str):
        for mode in JoinMode:
            if mode.value == how.lower() or mode.name == how.upper():
                return mode
    raise BuildValueError(
        f"unknown join mode {how!r}; use pw.JoinMode.INNER/LEFT/RIGHT/OUTER", where
    )


def side_name(ref: Any, left: Table, right: Table) -> str | None:
    """``"left"``/``"right"`` for a plain column reference to one of the inputs."""
    if isinstance(ref, ex.ThisReference):
        return ref.side if ref.side in ("left", "right") else None
    if isinstance(ref, ex.ColumnReference):
        scope = Scope({"left": Side(0, left), "right": Side(1, right)})
        try:
            side = scope.side_of(ref.table, ref._where, ref.name)
        except BuildError:
            return None
        return "left" if side.source == 0 else "right"
    return None


def join_condition(
    condition: Any, left: Table, right: Table, where: str
) -> tuple[ex.ColumnExpression, ex.ColumnExpression]:
    """The resolved left and right keys of ``left.a == right.b`` (either order)."""
    shape = (
        "join conditions must have the form left_table.column == right_table.column "
        "(or pw.left.column == pw.right.column)"
    )
    if not (isinstance(condition, ex.BinaryOp) and condition.op == "=="):
        raise BuildTypeError(f"{shape}; got {condition!r}", where)
    a, b = condition.left, condition.right
    side_a, side_b = side_name(a, left, right), side_name(b, left, right)
    if side_a is None or side_b is None:
        raise BuildTypeError(f"{shape}; both sides must be columns of the joined tables", where)
    if side_a == "right" and side_b == "left":
        raise BuildValueError(
            f"{shape}; the left-hand side refers to the right table, swap the two sides", where
        )
    if side_a == side_b:
        raise BuildValueError(f"{shape}; both sides refer to the {side_a} table", where)
    lkey = resolve(a, _single_scope(left, "left"))
    rkey = resolve(b, _single_scope(right, "right"))
    ltype, rtype = lkey.dtype.strip_optional(), rkey.dtype.strip_optional()
    numeric = {dt.INT, dt.FLOAT}
    if ltype != rtype and dt.ANY not in (ltype, rtype):
        if {ltype, rtype} <= numeric:
            lkey, rkey = _as_float(lkey), _as_float(rkey)
        else:
            raise BuildTypeError(
                f"incompatible types in a join condition: {lkey._name()!r} is {lkey.dtype!r} "
                f"and {rkey._name()!r} is {rkey.dtype!r}",
                where,
            )
    return lkey, rkey


def _as_float(expr: ex.ColumnExpression) -> ex.ColumnExpression:
    if expr.dtype.strip_optional() == dt.FLOAT:
        return expr
    cast = ex.Cast(dt.FLOAT, expr)
    cast.dtype = cast._infer()
    return cast


def _single_scope(table: Table, side: str) -> Scope:
    return Scope({"this": Side(0, table), side: Side(0, table)})


def _id_side(id: Any, left: Table, right: Table, mode: JoinMode, where: str) -> str | None:
    if id is None:
        return None
    side = side_name(id, left, right)
    if side is None or getattr(id, "name", None) != "id":
        raise BuildTypeError("id= must be the id column of one side (left.id or right.id)", where)
    allowed = {"left": (JoinMode.INNER, JoinMode.LEFT), "right": (JoinMode.INNER, JoinMode.RIGHT)}
    if mode not in allowed[side]:
        raise BuildValueError(
            f"id={side}.id cannot be used in a {mode.value} join: rows without a {side} "
            "partner would have no id",
            where,
        )
    return side


class JoinResult:
    """The result of a join, before choosing its columns with ``select``.

    ``pw.left`` / ``pw.right`` (or the input tables themselves) name the columns of each side;
    ``pw.this.c`` names the column ``c`` of whichever side has it.

    >>> import reflow as pw
    >>> a = pw.debug.table_from_markdown('''
    ... k | x
    ... 1 | 10
    ... 2 | 20
    ... ''')
    >>> b = pw.debug.table_from_markdown('''
    ... k | y
    ... 1 | 5
    ... 2 | 50
    ... ''')
    >>> joined = a.join(b, a.k == b.k).filter(pw.this.x > pw.this.y)
    >>> pw.debug.compute_and_print(joined.select(pw.this.k, pw.this.x), include_id=False)
    k | x
    1 | 10
    """

    def __init__(
        self, wide: Table, left: Table, right: Table, mode: JoinMode, same_name: set[str]
    ) -> None:
        self._wide = wide
        self._left = left
        self._right = right
        self._mode = mode
        self._same_name = same_name

    # --- public operations ----------------------------------------------------------------------
    def select(self, *args: Any, **kwargs: Any) -> Table:
        """A table with one row per joined pair and the given columns.

        >>> import reflow as pw
        >>> a = pw.debug.table_from_markdown('''
        ... k | x
        ... 1 | 10
        ... ''')
        >>> b = pw.debug.table_from_markdown('''
        ... k | y
        ... 1 | 5
        ... ''')
        >>> r = a.join(b, pw.left.k == pw.right.k).select(pw.this.k, s=pw.left.x + pw.right.y)
        >>> pw.debug.compute_and_print(r, include_id=False)
        k | s
        1 | 15
        """
        where = user_frame()
        outputs = self._named(args, kwargs, where)
        return self._wide.select(**{name: self._rebind(e, where) for name, e in outputs.items()})

    def filter(self, condition: Any) -> JoinResult:
        """Keep the joined pairs for which ``condition`` holds.

        >>> import reflow as pw
        >>> a = pw.debug.table_from_markdown('''
        ... k | x
        ... 1 | 1
        ... 1 | 7
        ... ''')
        >>> b = pw.debug.table_from_markdown('''
        ... k | y
        ... 1 | 5
        ... ''')
        >>> r = a.join(b, a.k == b.k).filter(a.x > b.y).select(a.x)
        >>> pw.debug.compute_and_print(r, include_id=False)
        x
        7
        """
        where = user_frame()
        filtered = self._wide.filter(self._rebind(ex.wrap_arg(condition), where))
        return JoinResult(filtered, self._left, self._right, self._mode, self._same_name)

    def groupby(self, *args: Any, id: Any = None, sort_by: Any = None, instance: Any = None,
                **kwargs: Any) -> _GroupedJoinResult:
        """Group the joined pairs; follow with ``.reduce(...)``.

        >>> import reflow as pw
        >>> orders = pw.debug.table_from_markdown('''
        ... customer | amount
        ... 1        | 10
        ... 1        | 5
        ... 2        | 7
        ... ''')
        >>> customers = pw.debug.table_from_markdown('''
        ... cid | name
        ... 1   | Alice
        ... 2   | Bob
        ... ''')
        >>> totals = (
        ...     orders.join(customers, orders.customer == customers.cid)
        ...     .groupby(pw.right.name)
        ...     .reduce(pw.right.name, total=pw.reducers.sum(pw.left.amount))
        ... )
        >>> pw.debug.compute_and_print(totals, include_id=False)
        name  | total
        Alice | 15
        Bob   | 7
        """
        where = user_frame()
        keys = [self._rebind(ex.wrap_arg(a), where) for a in args]
        options: dict[str, Any] = dict(kwargs)
        for option, value in (("id", id), ("sort_by", sort_by), ("instance", instance)):
            if value is not None:
                options[option] = self._rebind(ex.wrap_arg(value), where)
        grouped = self._wide.groupby(*keys, **options)
        return _GroupedJoinResult(self, grouped)

    def reduce(self, *args: Any, **kwargs: Any) -> Table:
        """Reduce all joined pairs to one row.

        >>> import reflow as pw
        >>> a = pw.debug.table_from_markdown('''
        ... k | x
        ... 1 | 10
        ... 2 | 20
        ... ''')
        >>> b = pw.debug.table_from_markdown('''
        ... k
        ... 1
        ... 2
        ... ''')
        >>> r = a.join(b, a.k == b.k).reduce(total=pw.reducers.sum(pw.left.x))
        >>> pw.debug.compute_and_print(r, include_id=False)
        total
        30
        """
        return self.groupby().reduce(*args, **kwargs)

    # --- chained joins ---------------------------------------------------------------------------
    def join(self, other: Table, *on: Any, how: Any = None, **kwargs: Any) -> Any:
        """Join this join's pairs with ``other`` (see ``reflow.api.join_chain``)."""
        from reflow.api.join_chain import join_result_join

        return join_result_join(self, other, *on, how=how, **kwargs)

    def join_inner(self, other: Table, *on: Any, **kwargs: Any) -> Any:
        return self.join(other, *on, how=JoinMode.INNER, **kwargs)

    def join_left(self, other: Table, *on: Any, **kwargs: Any) -> Any:
        return self.join(other, *on, how=JoinMode.LEFT, **kwargs)

    def join_right(self, other: Table, *on: Any, **kwargs: Any) -> Any:
        return self.join(other, *on, how=JoinMode.RIGHT, **kwargs)

    def join_outer(self, other: Table, *on: Any, **kwargs: Any) -> Any:
        return self.join(other, *on, how=JoinMode.OUTER, **kwargs)

    # --- reference rewriting --------------------------------------------------------------------
    def _named(self, args: tuple, kwargs: dict, where: str) -> dict[str, ex.ColumnExpression]:
        return named_expressions(
            args, kwargs, where, lambda side: self._side_columns(side, where)
        )

    def _side_columns(self, side: str, where: str) -> list[str]:
        lcols = list(self._left._node.columns)
        rcols = list(self._right._node.columns)
        if side == "left":
            return lcols
        if side == "right":
            return rcols
        return lcols + [c for c in rcols if c not in lcols]

    def _rebind(self, expr: ex.ColumnExpression, where: str) -> ex.ColumnExpression:
        if isinstance(expr, ex.ThisReference):
            return self._this_column(expr.side, expr.name, expr._where or where)
        if isinstance(expr, ex.ColumnReference):
            if expr.table is self._wide or expr.table._node is self._wide._node:
                return ex.ThisReference("this", expr.name)
            side = side_name(expr, self._left, self._right)
            if side is None:
                raise BuildValueError(
                    f"column {expr.name!r} belongs to a table that is not an input of this join",
                    expr._where or where,
                )
            return self._this_column(side, expr.name, expr._where or where)
        children = expr._children()
        if not children:
            return expr
        return expr._rebuild([self._rebind(child, where) for child in children])

    def _this_column(self, side: str, name: str, where: str) -> ex.ColumnExpression:
        if side in ("left", "right"):
            table = self._left if side == "left" else self._right
            if name != "id" and name not in table._node.columns:
                known = ", ".join(repr(c) for c in table._node.columns) or "none"
                raise BuildKeyError(
                    f"no column {name!r} in the {side} table of the join (its columns are: "
                    f"{known})",
                    where,
                )
            return ex.ThisReference("this", wide_name(side, name))
        if side != "this":
            raise BuildValueError(f"pw.{side} cannot be used in a join", where)
        if name == "id":
            return ex.ThisReference("this", "id")
        in_left = name in self._left._node.columns
        in_right = name in self._right._node.columns
        if in_left and in_right:
            if name not in self._same_name:
                raise BuildValueError(
                    f"column {name!r} appears in both the left and the right table of the "
                    f"join; use pw.left.{name} or pw.right.{name}",
                    where,
                )
            left_ref = ex.ThisReference("this", wide_name("left", name))
            right_ref = ex.ThisReference("this", wide_name("right", name))
            if self._mode is JoinMode.RIGHT:
                return right_ref
            if self._mode is JoinMode.OUTER:
                return ex.Coalesce(left_ref, right_ref)
            return left_ref
        if in_left:
            return ex.ThisReference("this", wide_name("left", name))
        if in_right:
            return ex.ThisReference("this", wide_name("right", name))
        known = ", ".join(repr(c) for c in self._side_columns("this", where)) or "none"
        raise BuildKeyError(
            f"no column {name!r} in either table of the join (columns: {known})", where
        )


class _GroupedJoinResult:
    """``JoinResult.groupby(...)``: waits for ``reduce``, whose references it rewrites."""

    def __init__(self, result: JoinResult, grouped: Any) -> None:
        self._result = result
        self._grouped = grouped

    def reduce(self, *args: Any, **kwargs: Any) -> Table:
        """One row per group with the given columns (reducers over the joined pairs)."""
        where = user_frame()
        outputs = self._result._named(args, kwargs, where)
        return self._grouped.reduce(
            **{name: self._result._rebind(e, where) for name, e in outputs.items()}
        )
