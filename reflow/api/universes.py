"""Set and universe operations: ``concat``, ``update_rows``, ``update_cells``, ``restrict``...

A table's *universe* is the set of its row ids. reflow knows universes only through relations
(subset, equality, disjointness) that operations establish or that the user promises; the
operations below check at build time that the relation they need holds and raise a
``BuildError`` naming both tables otherwise. All of them keep row ids, except
``concat_reindex``, which gives every row a new one.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

from reflow.engine.values import Pointer
from reflow.plan import dtypes as dt
from reflow.plan.errors import BuildTypeError, BuildValueError, user_frame
from reflow.plan.nodes import ColumnInfo, ConcatNode, Universe
from reflow.plan.universe_nodes import (
    ConcatReindexNode,
    KeyedNode,
    KeyedRule,
    all_present_rule,
    equal_ids_rule,
    only_first_rule,
    overlay_rule,
    prefer_second_rule,
)

if TYPE_CHECKING:
    from reflow.api.table import Table

# Pairs of universe uids promised to be disjoint (subsets of disjoint universes are disjoint).
_disjoint: set[frozenset[int]] = set()


def _supersets(universe: Universe) -> set[int]:
    """Uids of every universe known to contain ``universe`` (itself included)."""
    seen: set[int] = set()
    stack = [universe]
    while stack:
        u = stack.pop()
        if u.uid in seen:
            continue
        seen.add(u.uid)
        stack.extend(u.supersets)
        stack.extend(u.equal_to)
    return seen


def are_disjoint(a: Universe, b: Universe) -> bool:
    """Whether ``a`` and ``b`` are known to share no id."""
    above_a, above_b = _supersets(a), _supersets(b)
    return any(frozenset((x, y)) in _disjoint for x in above_a for y in above_b if x != y)


def _describe(table: Table) -> str:
    names = ", ".join(table._node.columns) or "no columns"
    return f"<table with columns {names}>"


def _check_tables(operation: str, tables: tuple) -> str:
    """Check that ``tables`` are tables; returns the user's call site (for messages)."""
    from reflow.api.table import Table

    where = user_frame()
    for other in tables:
        if not isinstance(other, Table):
            raise BuildTypeError(f"{operation}() expects tables, got {other!r}", where)
    return where


def _same_columns(operation: str, tables: tuple[Table, ...], where: str) -> dict[str, ColumnInfo]:
    """The common columns of ``tables`` (types unified); an error if their names differ."""
    first = tables[0]
    names = list(first._node.columns)
    for other in tables[1:]:
        if set(other._node.columns) != set(names):
            raise BuildValueError(
                f"{operation}() needs tables with the same columns, but {_describe(first)} and "
                f"{_describe(other)} differ",
                where,
            )
    columns: dict[str, ColumnInfo] = {}
    for name in names:
        infos = [t._node.columns[name] for t in tables]
        dtype = _unify_column(operation, name, [(t, i.dtype) for t, i in zip(tables, infos,
                                                                             strict=True)], where)
        columns[name] = ColumnInfo(dtype, any(i.fallible for i in infos))
    return columns


def _unify_column(
    operation: str, name: str, typed: list[tuple[Table, dt.DType]], where: str
) -> dt.DType:
    """The common type of column ``name`` in several tables; an error if there is none."""
    dtype = typed[0][1]
    for _, other in typed[1:]:
        dtype = dt.unify(dtype, other)
    if dtype.strip_optional() == dt.ANY and all(
        t.strip_optional() != dt.ANY for _, t in typed
    ):
        described = ", ".join(f"{t!r} in {_describe(table)}" for table, t in typed)
        raise BuildTypeError(
            f"{operation}(): column {name!r} has incompatible types: {described}", where
        )
    return dtype


def _table(node) -> Table:
    from reflow.api.table import Table

    return Table(node)


def concat(table: Table, *others: Table) -> Table:
    """The union of tables with the same columns whose ids are known to be disjoint.

    See ``Table.concat`` for an example.
    """
    where = _check_tables("concat", others)
    tables = (table, *others)
    columns = _same_columns("concat", tables, where)
    for i, a in enumerate(tables):
        for b in tables[i + 1:]:
            if not are_disjoint(a._node.universe, b._node.universe):
                raise BuildValueError(
                    f"concat() needs tables whose ids are disjoint, and that is not known for "
                    f"{_describe(a)} and {_describe(b)}; use concat_reindex() to give the rows "
                    "new ids, or promise_universes_are_disjoint() if the ids never collide",
                    where,
                )
    universe = Universe()
    for t in tables:
        t._node.universe.supersets.add(universe)
    return _table(ConcatNode([t._node for t in tables], columns, universe, where))


def concat_reindex(table: Table, *others: Table) -> Table:
    """The union of tables with the same columns; every row gets a new id.

    See ``Table.concat_reindex`` for an example.
    """
    where = _check_tables("concat_reindex", others)
    tables = (table, *others)
    columns = _same_columns("concat_reindex", tables, where)
    return _table(ConcatReindexNode([t._node for t in tables], columns, Universe(), where))


def update_rows(table: Table, other: Table) -> Table:
    """``table`` with the rows of ``other`` replacing rows with the same id and added otherwise.

    See ``Table.update_rows`` for an example.
    """
    where = _check_tables("update_rows", (other,))
    columns = _same_columns("update_rows", (table, other), where)
    if table._node.universe.is_subset_of(other._node.universe):
        warnings.warn(
            f"the ids of the updated table are a subset of the ids of the update, so "
            f"update_rows() gives the update's rows ({where})",
            UserWarning,
            stacklevel=3,
        )
    if other._node.universe.is_subset_of(table._node.universe):
        universe = table._node.universe
    else:
        universe = Universe()
        table._node.universe.supersets.add(universe)
        other._node.universe.supersets.add(universe)
    names = list(columns)
    rule = prefer_second_rule()
    return _table(
        KeyedNode([table._node, other._node], columns, universe, rule, [names, names], where,
                  label="update_rows")
    )


def _pick_rows(
    table: Table,
    others: tuple[Table, ...],
    universe: Universe,
    rule: KeyedRule,
    where: str,
    label: str,
) -> Table:
    """Rows of ``table`` (all its columns), kept or dropped by ``rule`` from whether their id
    is present in ``table`` and in each of ``others``."""
    return _table(
        KeyedNode([table._node, *(t._node for t in others)], dict(table._node.columns), universe,
                  rule, [list(table._node.columns), *([None] * len(others))], where, label=label)
    )


def _require_subset(operation: str, sub: Table, sup: Table, where: str) -> None:
    if not sub._node.universe.is_subset_of(sup._node.universe):
        raise BuildValueError(
            f"{operation}() needs the ids of {_describe(sub)} to be a subset of the ids of "
            f"{_describe(sup)}, and that is not known; use promise_universe_is_subset_of() "
            "if it holds",
            where,
        )


def _orphan(operation: str, sub: Table, sup: Table, where: str):
    """The run-time message for an id of ``sub`` missing from ``sup`` (a broken promise)."""
    small, big = _describe(sub), _describe(sup)

    def describe(row_id: int) -> str:
        return (f"{operation}(): row {Pointer(row_id)!r} of {small} has no row with the same id "
                f"in {big}, although its ids were to be a subset (at {where}); the row is "
                "ignored")

    return describe


def update_cells(table: Table, other: Table, **kwargs: object) -> Table:
    """``table`` with the cells of ``other``'s columns replaced where ``other`` has the row.

    See ``Table.update_cells`` for an example.
    """
    where = _check_tables("update_cells", (other,))
    extra = [c for c in other._node.columns if c not in table._node.columns]
    if extra:
        raise BuildValueError(
            f"update_cells(): columns {', '.join(map(repr, extra))} of {_describe(other)} are "
            f"not columns of {_describe(table)}",
            where,
        )
    _require_subset("update_cells", other, table, where)
    columns: dict[str, ColumnInfo] = {}
    for name, info in table._node.columns.items():
        if name in other._node.columns:
            theirs = other._node.columns[name]
            dtype = _unify_column("update_cells", name,
                                  [(table, info.dtype), (other, theirs.dtype)], where)
            info = ColumnInfo(dtype, info.fallible or theirs.fallible)
        columns[name] = info
    replaced = list(other._node.columns)
    rule = overlay_rule(columns, replaced, _orphan("update_cells", other, table, where))
    return _table(
        KeyedNode([table._node, other._node], columns, table._node.universe, rule,
                  [list(columns), replaced], where, label="update_cells")
    )


def restrict(table: Table, other: Table) -> Table:
    """The rows of ``table`` whose ids are in ``other`` (a subset of ``table``'s ids).

    See ``Table.restrict`` for an example.
    """
    where = _check_tables("restrict", (other,))
    _require_subset("restrict", other, table, where)
    rule = all_present_rule(_orphan("restrict", other, table, where))
    return _pick_rows(table, (other,), other._node.universe, rule, where, "restrict")


def difference(table: Table, other: Table) -> Table:
    """The rows of ``table`` whose ids are not in ``other``.

    See ``Table.difference`` for an example.
    """
    where = _check_tables("difference", (other,))
    universe = Universe([table._node.universe])
    return _pick_rows(table, (other,), universe, only_first_rule(), where, "difference")


def intersect(table: Table, *tables: Table) -> Table:
    """The rows of ``table`` whose ids are in every one of ``tables``.

    See ``Table.intersect`` for an example.
    """
    where = _check_tables("intersect", tables)
    if not tables:
        return table
    universes = [table._node.universe, *(t._node.universe for t in tables)]
    if all(table._node.universe.is_subset_of(u) for u in universes[1:]):
        universe = table._node.universe
    else:
        universe = Universe(universes)
    return _pick_rows(table, tables, universe, all_present_rule(), where, "intersect")


def with_universe_of(table: Table, other: Table) -> Table:
    """``table`` declared to have exactly the ids of ``other``.

    See ``Table.with_universe_of`` for an example.
    """
    where = _check_tables("with_universe_of", (other,))
    if table._node.universe.is_equal_to(other._node.universe):
        return table.copy()
    mine, theirs = _describe(table), _describe(other)

    def describe(row_id: int, in_table: bool) -> str:
        here, there = (mine, theirs) if in_table else (theirs, mine)
        return (f"with_universe_of(): row {Pointer(row_id)!r} of {here} has no row with the "
                f"same id in {there} (declared at {where})")

    return _pick_rows(table, (other,), other._node.universe, equal_ids_rule(describe), where,
                      "with_universe_of")


def promise_universe_is_subset_of(table: Table, other: Table) -> Table:
    """Declare that every id of ``table`` is an id of ``other``; returns ``table``.

    See ``Table.promise_universe_is_subset_of`` for an example.
    """
    _check_tables("promise_universe_is_subset_of", (other,))
    table._node.universe.supersets.add(other._node.universe)
    return table


def promise_universe_is_equal_to(table: Table, other: Table) -> Table:
    """Declare that ``table`` and ``other`` have the same ids; returns ``table``.

    See ``Table.promise_universe_is_equal_to`` for an example.
    """
    _check_tables("promise_universe_is_equal_to", (other,))
    mine, theirs = table._node.universe, other._node.universe
    if mine is not theirs:
        mine.equal_to.add(theirs)
        theirs.equal_to.add(mine)
    return table


def promise_universes_are_disjoint(table: Table, other: Table) -> Table:
    """Declare that ``table`` and ``other`` share no id (as ``concat`` needs); returns ``table``.

    See ``Table.promise_universes_are_disjoint`` for an example.
    """
    _check_tables("promise_universes_are_disjoint", (other,))
    _disjoint.add(frozenset((table._node.universe.uid, other._node.universe.uid)))
    return table
