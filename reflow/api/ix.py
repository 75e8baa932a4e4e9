"""Row lookups by id: ``Table.ix``, ``Table.ix_ref`` and ``Table.having``.

``t.ix(pointers)`` stands for "the row of ``t`` each pointer points to". Its columns are
``IxColumn`` expressions; a ``select`` that uses them is built as a chain of left joins of the
selecting table with ``t`` on ``pointer == t.id`` (keeping the selecting table's ids), so the
result is revised whenever either table changes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from reflow.api.table import Table
from reflow.plan import dtypes as dt
from reflow.plan import expr as ex
from reflow.plan.errors import (
    BuildKeyError,
    BuildTypeError,
    BuildValueError,
    user_frame,
)


class IxColumn(ex.ColumnExpression):
    """Column ``name`` of the row of ``lookup.indexed`` that ``lookup.pointer`` points to."""

    def __init__(self, lookup: Lookup, name: str, pointer: ex.ColumnExpression) -> None:
        super().__init__()
        self.lookup = lookup
        self.name = name
        self.pointer = pointer

    def _children(self) -> Sequence[ex.ColumnExpression]:
        return (self.pointer,)

    def _rebuild(self, children: list[ex.ColumnExpression]) -> ex.ColumnExpression:
        new = IxColumn(self.lookup, self.name, children[0])
        new._where = self._where
        return new

    def _infer(self) -> dt.DType:
        return self.lookup.dtype(self.name)

    def _name(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return f"<ix {self.name}>"


class Lookup:
    """One ``ix`` call: the table looked up, the pointer expression and the miss policy."""

    def __init__(
        self, indexed: Table, pointer: ex.ColumnExpression, optional: bool, allow_misses: bool,
        where: str,
    ) -> None:
        self.indexed = indexed
        self.pointer = pointer
        self.optional = optional
        self.allow_misses = allow_misses
        self.where = where

    @property
    def may_be_none(self) -> bool:
        return self.optional or self.allow_misses

    def dtype(self, name: str) -> dt.DType:
        if name == "id":
            base: dt.DType = dt.POINTER
        else:
            info = self.indexed._node.columns.get(name)
            if info is None:
                known = ", ".join(repr(c) for c in self.indexed._node.columns) or "none"
                raise BuildKeyError(
                    f"no column {name!r} in the table indexed with ix (its columns are: {known})",
                    self.where,
                )
            base = info.dtype
        if self.may_be_none and not base.is_optional and base not in (dt.ANY, dt.NONE):
            return dt.Optional(base)
        return base

    def column(self, name: str) -> IxColumn:
        self.dtype(name)
        return IxColumn(self, name, self.pointer)

    def value(self, name: str) -> ex.ColumnExpression:
        """The expression giving column ``name`` in the join of the context with the table."""
        right = ex.ThisReference("right", name)
        if self.may_be_none or self.dtype(name).is_optional or self.dtype(name) == dt.ANY:
            return right
        # A pointer to a row that does not exist is an error in that cell.
        return ex.Unwrap(right)


class IxRow:
    """What ``t.ix(...)`` returns when the pointer names no table (``pw.this``-based).

    Its columns can only be used inside ``select`` of the table the pointer refers to.
    """

    _lookup: Lookup

    def __init__(self, lookup: Lookup) -> None:
        object.__setattr__(self, "_lookup", lookup)

    def __getattr__(self, name: str) -> IxColumn:
        if name.startswith("_"):
            raise AttributeError(name)
        return self._lookup.column(name)

    def __getitem__(self, name: str) -> IxColumn:
        return self._lookup.column(name)


class IxTable(Table):
    """``t.ix(other.pointer)``: a table with ``other``'s ids holding the rows pointed to.

    Its columns, read as attributes, are lookups usable in ``other.select(...)``.
    """

    def __init__(self, node: Any, lookup: Lookup) -> None:
        super().__init__(node)
        object.__setattr__(self, "_lookup", lookup)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return self._lookup.column(name)

    def __getitem__(self, name: Any) -> Any:
        if isinstance(name, str):
            return self._lookup.column(name)
        return super().__getitem__(name)


def ix(
    table: Table, expression: Any, *, optional: bool = False, allow_misses: bool = False
) -> IxTable | IxRow:
    """The rows of ``table`` whose ids are the values of the pointer ``expression``.

    Use its columns inside ``select`` of the table the pointers belong to. A pointer to a
    missing row gives an error value (or ``None`` with ``allow_misses=True``); a ``None``
    pointer gives ``None`` with ``optional=True``.

    >>> import reflow as pw
    >>> owners = pw.debug.table_from_markdown('''
    ... key | name
    ... 1   | Alice
    ... 2   | Bob
    ... ''').with_id_from(pw.this.key)
    >>> pets = pw.debug.table_from_markdown('''
    ... pet | owner
    ... dog | 1
    ... cat | 2
    ... ''').select(pw.this.pet, owner=owners.pointer_from(pw.this.owner))
    >>> result = pets.select(pw.this.pet, owner_name=owners.ix(pets.owner).name)
    >>> pw.debug.compute_and_print(result, include_id=False)
    pet | owner_name
    cat | Bob
    dog | Alice
    """
    where = user_frame()
    pointer = ex.wrap_arg(expression)
    lookup = Lookup(table, pointer, optional, allow_misses, where)
    context = _context_table(pointer)
    if context is None:
        return IxRow(lookup)
    materialized = select_with_ix(
        context, {name: lookup.column(name) for name in table._node.columns}, where
    )
    return IxTable(materialized._node, lookup)


def ix_ref(
    table: Table, *args: Any, optional: bool = False, allow_misses: bool = False,
    instance: Any = None,
) -> IxTable | IxRow:
    """The rows of ``table`` whose ids are ``pointer_from(*args)`` (its primary-key lookup).

    >>> import reflow as pw
    >>> prices = pw.debug.table_from_markdown('''
    ... item  | price
    ... apple | 3
    ... pear  | 5
    ... ''').with_id_from(pw.this.item)
    >>> orders = pw.debug.table_from_markdown('''
    ... item  | qty
    ... apple | 2
    ... pear  | 1
    ... ''')
    >>> cost = orders.select(pw.this.item, cost=pw.this.qty * prices.ix_ref(pw.this.item).price)
    >>> pw.debug.compute_and_print(cost, include_id=False)
    item  | cost
    apple | 6
    pear  | 5
    """
    pointer = table.pointer_from(*args, optional=optional, instance=instance)
    return ix(table, pointer, optional=optional, allow_misses=allow_misses)


def having(table: Table, *indexers: Any) -> Table:
    """The rows of the indexers' table whose pointers all point to rows of ``table``.

    >>> import reflow as pw
    >>> users = pw.debug.table_from_markdown('''
    ... uid | name
    ... 1   | Alice
    ... ''').with_id_from(pw.this.uid)
    >>> posts = pw.debug.table_from_markdown('''
    ... text  | uid
    ... hello | 1
    ... spam  | 9
    ... ''').select(pw.this.text, author=users.pointer_from(pw.this.uid))
    >>> pw.debug.compute_and_print(users.having(posts.author).select(pw.this.text),
    ...                            include_id=False)
    text
    hello
    """
    where = user_frame()
    if not indexers:
        raise BuildValueError("having() needs at least one pointer column", where)
    context = None
    for indexer in indexers:
        if not isinstance(indexer, ex.ColumnReference):
            raise BuildTypeError(
                f"having() takes pointer columns such as other.ptr, got {indexer!r}", where
            )
        if context is not None and indexer.table._node is not context._node:
            raise BuildTypeError(
                "all pointer columns given to having() must be of one table", where
            )
        context = indexer.table
    assert context is not None
    result = context
    names = list(context._node.columns)
    for indexer in indexers:
        ptr = result[indexer.name]
        other = table if table._node is not result._node else table.copy()
        result = result.join(other, ptr == other.id, id=ptr.table.id).select(
            **{name: ex.ThisReference("left", name) for name in names}
        )
    return result


# --- select with lookups ---------------------------------------------------------------------
def bind_this_ix(expr: Any, table: Table) -> Any:
    """``expr`` with the columns of ``pw.this.ix(...)`` bound to ``table.ix(...)``."""
    from reflow.api.this import ThisIxColumn

    if isinstance(expr, ThisIxColumn):
        return expr.bind(table)
    if not isinstance(expr, ex.ColumnExpression):
        return expr
    children = expr._children()
    if not children or not _has_this_ix(expr):
        return expr
    return expr._rebuild([bind_this_ix(child, table) for child in children])


def _has_this_ix(expr: Any) -> bool:
    from reflow.api.this import ThisIxColumn

    return ex.any_node([expr], lambda node: isinstance(node, ThisIxColumn))


def contains_ix(expressions: Any) -> bool:
    """Whether any of ``expressions`` uses a column of ``t.ix(...)``."""
    return ex.any_node(expressions, lambda node: isinstance(node, IxColumn))


def select_with_ix(table: Table, outputs: dict[str, ex.ColumnExpression], where: str) -> Table:
    """``table.select(**outputs)`` where ``outputs`` use ``IxColumn`` lookups."""
    lookups: dict[int, tuple[int, Lookup, set[str]]] = {}
    for expr in outputs.values():
        _collect(expr, lookups)
    names = list(table._node.columns)
    current = table
    for position, (_, lookup, used) in enumerate(lookups.values()):
        pointer_name = f"\x00ix{position}"
        keyed = current.select(
            **{name: ex.ThisReference("this", name) for name in names},
            **{pointer_name: rebind_to(lookup.pointer, table)},
        )
        if keyed._node.columns[pointer_name].dtype.strip_optional() not in (dt.POINTER, dt.ANY):
            raise BuildTypeError(
                f"ix() needs a Pointer, got {keyed._node.columns[pointer_name].dtype!r}",
                lookup.where,
            )
        indexed = lookup.indexed
        if lookup.optional is False and keyed._node.columns[pointer_name].dtype.is_optional:
            raise BuildTypeError(
                "ix() got an Optional pointer; pass optional=True to get None for None pointers",
                lookup.where,
            )
        joined = keyed.join(
            indexed, keyed[pointer_name] == indexed.id, id=keyed.id, how="left"
        )
        joined._wide._node.lookup = True  # see is_append_only
        columns: dict[str, ex.ColumnExpression] = {
            name: ex.ThisReference("left", name) for name in names
        }
        for name in sorted(used):
            columns[_ix_name(position, name)] = lookup.value(name)
        current = joined.select(**columns)
        names = list(current._node.columns)
    index = {key: position for position, key in enumerate(lookups)}
    rewritten = {name: _rewrite(expr, table, index) for name, expr in outputs.items()}
    return current.select(**rewritten)


def _ix_name(position: int, name: str) -> str:
    return f"\x00ix{position}.{name}"


def _collect(expr: Any, lookups: dict) -> None:
    if isinstance(expr, IxColumn):
        entry = lookups.setdefault(id(expr.lookup), (len(lookups), expr.lookup, set()))
        entry[2].add(expr.name)
    if isinstance(expr, ex.ColumnExpression):
        for child in expr._children():
            if not isinstance(expr, IxColumn):
                _collect(child, lookups)


def rebind_to(expr: ex.ColumnExpression, old: Table) -> ex.ColumnExpression:
    """``expr`` with references to ``old`` turned into ``pw.this`` references.

    The tables the lookups build keep ``old``'s ids and column names, so ``pw.this`` means
    the same there.
    """
    if isinstance(expr, ex.ColumnReference) and (
        expr.table is old or expr.table._node is old._node
    ):
        return ex.ThisReference("this", expr.name)
    children = expr._children()
    if not children:
        return expr
    return expr._rebuild([rebind_to(c, old) for c in children])


def _rewrite(expr: ex.ColumnExpression, old: Table, index: dict) -> Any:
    """``rebind_to`` that also replaces lookups by the columns the joins added."""
    if isinstance(expr, IxColumn):
        return ex.ThisReference("this", _ix_name(index[id(expr.lookup)], expr.name))
    if isinstance(expr, ex.ColumnReference):
        return rebind_to(expr, old)
    children = expr._children()
    if not children:
        return expr
    return expr._rebuild([_rewrite(c, old, index) for c in children])


def _context_table(expr: ex.ColumnExpression) -> Table | None:
    """The one table the pointer expression's column references name, if any."""
    found: Table | None = None
    stack = [expr]
    while stack:
        node = stack.pop()
        if isinstance(node, ex.ThisReference):
            return None
        if isinstance(node, ex.ColumnReference):
            if found is not None and found._node is not node.table._node:
                return None
            found = node.table
        stack.extend(node._children())
    return found
