"""``Table``: the user-facing handle on a node of the logical plan.

Every method builds a new plan node and returns a new ``Table``; nothing runs until
``pw.run()`` or a ``pw.debug`` helper executes the plan.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from reflow.api import deduplicate as deduplicate_module
from reflow.api import groupby as groupby_module
from reflow.api import sort as sort_module
from reflow.api import universes
from reflow.api.resolve import Scope, named_expressions, resolve
from reflow.api.schema import Schema, schema_from_dtypes
from reflow.api.this import this
from reflow.api.zip_columns import tables_to_zip, zip_with
from reflow.plan import dtypes as dt
from reflow.plan import expr as ex
from reflow.plan.errors import BuildError, user_frame
from reflow.plan.nodes import FilterNode, PlanNode, ReindexNode, SelectNode


class Table:
    """A collection of rows with named, typed columns that is kept up to date as inputs change.

    >>> import reflow as pw
    >>> t = pw.debug.table_from_markdown('''
    ... name  | age
    ... Alice | 30
    ... Bob   | 17
    ... ''')
    >>> adults = t.filter(pw.this.age >= 18).select(pw.this.name)
    >>> pw.debug.compute_and_print(adults, include_id=False)
    name
    Alice
    """

    _node: PlanNode

    def __init__(self, node: PlanNode) -> None:
        object.__setattr__(self, "_node", node)

    # --- columns -----------------------------------------------------------------------------
    def __getattr__(self, name: str) -> ex.ColumnReference:
        if name.startswith("_"):
            raise AttributeError(name)
        if name == "id" or name in self._node.columns:
            return ex.ColumnReference(self, name)
        raise AttributeError(
            f"table has no column {name!r} (its columns are: "
            f"{', '.join(map(repr, self._node.columns)) or 'none'})"
        )

    def __getitem__(self, name: str | list[str] | ex.ColumnReference) -> Any:
        if isinstance(name, list):
            return self.select(*(self[n] for n in name))
        if isinstance(name, (ex.ColumnReference, ex.ThisReference)):
            name = name.name
        if name != "id" and name not in self._node.columns:
            raise BuildError(
                f"table has no column {name!r} (its columns are: "
                f"{', '.join(map(repr, self._node.columns)) or 'none'})"
            )
        return ex.ColumnReference(self, name)

    def __iter__(self) -> Iterator[ex.ColumnReference]:
        return iter([ex.ColumnReference(self, name) for name in self._node.columns])

    @property
    def id(self) -> ex.ColumnReference:
        """The row ids, as a column of type ``Pointer``.

        >>> import reflow as pw
        >>> t = pw.debug.table_from_markdown('''
        ... name  | age
        ... Alice | 30
        ... Bob   | 17
        ... ''')
        >>> keys, columns = pw.debug.table_to_dicts(t.select(me=t.id))
        >>> all(columns['me'][key] == key for key in keys)
        True
        """
        return ex.ColumnReference(self, "id")

    @property
    def schema(self) -> type[Schema]:
        """The table's schema (column names and types).

        >>> import reflow as pw
        >>> t = pw.debug.table_from_markdown('''
        ... name  | age
        ... Alice | 30
        ... Bob   | 17
        ... ''')
        >>> t.schema
        <reflow.Schema types={name: STR, age: INT}>
        """
        return schema_from_dtypes({n: c.dtype for n, c in self._node.columns.items()})

    def column_names(self) -> list[str]:
        """Names of the columns, in order.

        >>> import reflow as pw
        >>> t = pw.debug.table_from_markdown('''
        ... name  | age
        ... Alice | 30
        ... Bob   | 17
        ... ''')
        >>> t.column_names()
        ['name', 'age']
        """
        return list(self._node.columns)

    def keys(self) -> list[str]:
        """Names of the columns, in order (as ``column_names``).

        >>> import reflow as pw
        >>> t = pw.debug.table_from_markdown('''
        ... name  | age
        ... Alice | 30
        ... Bob   | 17
        ... ''')
        >>> t.keys()
        ['name', 'age']
        """
        return self.column_names()

    def typehints(self) -> dict[str, Any]:
        """Python type hints of the columns.

        >>> import reflow as pw
        >>> t = pw.debug.table_from_markdown('''
        ... name  | age
        ... Alice | 30
        ... Bob   | 17
        ... ''')
        >>> t.typehints()
        {'name': <class 'str'>, 'age': <class 'int'>}
        """
        return {n: c.dtype.typehint() for n, c in self._node.columns.items()}

    def _dtypes(self) -> dict[str, dt.DType]:
        return {n: c.dtype for n, c in self._node.columns.items()}

    def __repr__(self) -> str:
        inner = ", ".join(f"{n}: {c.dtype!r}" for n, c in self._node.columns.items())
        return f"<reflow.Table schema={{{inner}}}>"

    # --- row-wise operations -------------------------------------------------------------------
    def select(self, *args: Any, **kwargs: Any) -> Table:
        """A table with the same ids and the given columns.

        >>> import reflow as pw
        >>> t = pw.debug.table_from_markdown('''
        ... a | b
        ... 1 | 10
        ... ''')
        >>> pw.debug.compute_and_print(t.select(pw.this.a, total=t.a + t.b), include_id=False)
        a | total
        1 | 11
        """
        where = user_frame()
        outputs = self._named_expressions(args, kwargs, where)
        from reflow.api.ix import contains_ix, select_with_ix

        if contains_ix(outputs.values()):
            # Columns of t.ix(...) are lookups: the select becomes a join (see api/ix.py).
            return select_with_ix(self, outputs, where)
        others = tables_to_zip(self, outputs.values())
        if others:
            zipped, zip_scope = zip_with(self, others, outputs.values(), where)
            resolved = {name: resolve(expr, zip_scope) for name, expr in outputs.items()}
            return Table(SelectNode(zipped._node, resolved, where))
        scope = Scope.single(self)
        resolved = {name: resolve(expr, scope) for name, expr in outputs.items()}
        return Table(SelectNode(self._node, resolved, where))

    def _named_expressions(
        self, args: tuple, kwargs: dict, where: str
    ) -> dict[str, ex.ColumnExpression]:
        return named_expressions(args, kwargs, where, lambda side: self._node.columns)

    def filter(self, condition: Any) -> Table:
        """The rows for which ``condition`` is true.

        >>> import reflow as pw
        >>> t = pw.debug.table_from_markdown('''
        ... x
        ... 1
        ... 5
        ... ''')
        >>> pw.debug.compute_and_print(t.filter(pw.this.x > 2), include_id=False)
        x
        5
        """
        where = user_frame()
        condition = ex.wrap_arg(condition)
        others = tables_to_zip(self, [condition])
        if others:
            zipped, scope = zip_with(self, others, [condition], where)
            kept = Table(FilterNode(zipped._node, self._checked_condition(condition, scope),
                                    where))
            return kept.select(*(ex.ThisReference("this", n) for n in self._node.columns))
        return Table(
            FilterNode(self._node, self._checked_condition(condition, Scope.single(self)), where)
        )

    def _checked_condition(self, condition: ex.ColumnExpression, scope: Scope):
        resolved = resolve(condition, scope)
        if resolved.dtype.strip_optional() not in (dt.BOOL, dt.ANY):
            raise BuildError(f"filter condition must be bool, got {resolved.dtype!r}")
        return resolved

    def split(self, condition: Any) -> tuple[Table, Table]:
        """Rows where ``condition`` holds, and the others.

        >>> import reflow as pw
        >>> t = pw.debug.table_from_markdown('''
        ... x
        ... 1
        ... 5
        ... ''')
        >>> big, small = t.split(pw.this.x > 2)
        >>> pw.debug.compute_and_print(small, include_id=False)
        x
        1
        """
        condition = ex.wrap_arg(condition)
        return self.filter(condition), self.filter(~condition)

    def with_columns(self, *args: Any, **kwargs: Any) -> Table:
        """All columns, plus or replaced by the given ones.

        >>> import reflow as pw
        >>> t = pw.debug.table_from_markdown('''
        ... a
        ... 2
        ... ''')
        >>> pw.debug.compute_and_print(t.with_columns(b=pw.this.a * 2), include_id=False)
        a | b
        2 | 4
        """
        where = user_frame()
        new = self._named_expressions(args, kwargs, where)
        outputs: dict[str, ex.ColumnExpression] = {
            name: ex.ThisReference("this", name) for name in self._node.columns
        }
        outputs.update(new)
        return self.select(**outputs)

    def without(self, *columns: Any) -> Table:
        """All columns but the given ones.

        >>> import reflow as pw
        >>> t = pw.debug.table_from_markdown('''
        ... a | b
        ... 1 | 2
        ... ''')
        >>> t.without(pw.this.b).column_names()
        ['a']
        """
        names = [self._column_name(c) for c in columns]
        return self.select(
            **{n: ex.ThisReference("this", n) for n in self._node.columns if n not in names}
        )

    def _column_name(self, column: Any) -> str:
        name = column if isinstance(column, str) else getattr(column, "name", None)
        if name is None or (name not in self._node.columns):
            raise BuildError(f"no column {name or column!r} in the table")
        return name

    def rename_columns(self, **kwargs: Any) -> Table:
        """Rename columns: ``new_name=pw.this.old_name``.

        >>> import reflow as pw
        >>> t = pw.debug.table_from_markdown('''
        ... a
        ... 1
        ... ''')
        >>> t.rename_columns(b=pw.this.a).column_names()
        ['b']
        """
        mapping = {self._column_name(old): new for new, old in kwargs.items()}
        return self.rename_by_dict(mapping)

    def rename_by_dict(self, names_mapping: dict[Any, str]) -> Table:
        """Rename columns with a ``{old: new}`` dict.

        >>> import reflow as pw
        >>> t = pw.debug.table_from_markdown('''
        ... a
        ... 1
        ... ''')
        >>> t.rename_by_dict({"a": "b"}).column_names()
        ['b']
        """
        mapping = {self._column_name(old): new for old, new in names_mapping.items()}
        outputs: dict[str, ex.ColumnExpression] = {}
        for name in self._node.columns:
            outputs[mapping.get(name, name)] = ex.ThisReference("this", name)
        return self.select(**outputs)

    def rename(self, names_mapping: dict[Any, str] | None = None, **kwargs: Any) -> Table:
        """``rename_by_dict`` with a dict, ``rename_columns`` with keyword arguments.

        >>> import reflow as pw
        >>> t = pw.debug.table_from_markdown('''
        ... name  | age
        ... Alice | 30
        ... Bob   | 17
        ... ''')
        >>> t.rename({'age': 'years'}).column_names()
        ['name', 'years']
        >>> t.rename(years=pw.this.age).column_names()
        ['name', 'years']
        """
        if names_mapping is not None:
            return self.rename_by_dict(names_mapping)
        return self.rename_columns(**kwargs)

    def with_prefix(self, prefix: str) -> Table:
        """Every column renamed to ``prefix + name``.

        >>> import reflow as pw
        >>> t = pw.debug.table_from_markdown('''
        ... name  | age
        ... Alice | 30
        ... Bob   | 17
        ... ''')
        >>> t.with_prefix('user_').column_names()
        ['user_name', 'user_age']
        """
        return self.rename_by_dict({n: prefix + n for n in self._node.columns})

    def with_suffix(self, suffix: str) -> Table:
        """Every column renamed to ``name + suffix``.

        >>> import reflow as pw
        >>> t = pw.debug.table_from_markdown('''
        ... name  | age
        ... Alice | 30
        ... Bob   | 17
        ... ''')
        >>> t.with_suffix('_2').column_names()
        ['name_2', 'age_2']
        """
        return self.rename_by_dict({n: n + suffix for n in self._node.columns})

    def copy(self) -> Table:
        """The same rows in a new table object.

        >>> import reflow as pw
        >>> t = pw.debug.table_from_markdown('''
        ... name  | age
        ... Alice | 30
        ... Bob   | 17
        ... ''')
        >>> pw.debug.compute_and_print(t.copy(), include_id=False)
        name  | age
        Alice | 30
        Bob   | 17
        """
        return self.select(*this)

    def cast_to_types(self, **types: Any) -> Table:
        """Convert columns to other types (``int``/``float``/``bool``/``str``).

        >>> import reflow as pw
        >>> t = pw.debug.table_from_markdown('''
        ... a
        ... 1
        ... ''')
        >>> t.cast_to_types(a=float).typehints()["a"]
        <class 'float'>
        """
        for name in types:
            self._column_name(name)
        return self.with_columns(
            **{n: ex.Cast(dt.wrap(t), ex.ThisReference("this", n)) for n, t in types.items()}
        )

    def update_types(self, **types: Any) -> Table:
        """Declare column types without converting values.

        >>> import reflow as pw
        >>> t = pw.debug.table_from_markdown('''
        ... name  | age
        ... Alice | 30
        ... Bob   | 17
        ... ''')
        >>> t.update_types(age=float).typehints()['age']
        <class 'float'>
        """
        for name in types:
            self._column_name(name)
        return self.with_columns(
            **{n: ex.DeclareType(dt.wrap(t), ex.ThisReference("this", n))
               for n, t in types.items()}
        )

    # --- ids ------------------------------------------------------------------------------------
    def pointer_from(self, *args: Any, optional: bool = False, instance: Any = None) -> Any:
        """The id this table's ``with_id_from``/``groupby`` gives a row with key ``args``.

        >>> import reflow as pw
        >>> t = pw.debug.table_from_markdown('''
        ... name  | age
        ... Alice | 30
        ... Bob   | 17
        ... ''')
        >>> r = t.with_id_from(pw.this.name)
        >>> keys, columns = pw.debug.table_to_dicts(r.select(p=r.pointer_from(pw.this.name)))
        >>> all(columns['p'][key] == key for key in keys)
        True
        """
        if instance is not None:
            args = (*args, instance)
        return ex.PointerFrom(*args, optional=optional)

    def with_id(self, new_id: Any) -> Table:
        """The same rows with ids taken from a ``Pointer`` column.

        >>> import reflow as pw
        >>> t = pw.debug.table_from_markdown('''
        ... name  | age
        ... Alice | 30
        ... Bob   | 17
        ... ''')
        >>> r = t.with_id(t.pointer_from(pw.this.name))
        >>> set(pw.debug.table_to_dicts(r)[0]) == {pw.pointer_from('Alice'), pw.pointer_from('Bob')}
        True
        """
        where = user_frame()
        resolved = resolve(ex.wrap_arg(new_id), Scope.single(self))
        if resolved.dtype.strip_optional() not in (dt.POINTER, dt.ANY):
            raise BuildError(f"with_id needs a Pointer, got {resolved.dtype!r}", where)
        return Table(ReindexNode(self._node, resolved, where))

    def with_id_from(self, *args: Any, instance: Any = None) -> Table:
        """The same rows with ids computed from the given columns.

        >>> import reflow as pw
        >>> t = pw.debug.table_from_markdown('''
        ... k | v
        ... 7 | a
        ... ''')
        >>> r = t.with_id_from(pw.this.k)
        >>> keys, _ = pw.debug.table_to_dicts(r)
        >>> keys == [pw.pointer_from(7)]
        True
        """
        where = user_frame()
        resolved = resolve(self.pointer_from(*args, instance=instance), Scope.single(self))
        return Table(ReindexNode(self._node, resolved, where))

    # --- flatten ----------------------------------------------------------------------------------
    def flatten(self, to_flatten: Any, *, origin_id: str | None = None) -> Table:
        """One row per element of a tuple, list or Json-array column.

        >>> import reflow as pw
        >>> t = pw.debug.table_from_rows(pw.schema_from_types(w=list[str]), [(("a", "b"),)])
        >>> pw.debug.compute_and_print(t.flatten(pw.this.w), include_id=False)
        w
        a
        b
        """
        from reflow.api.flatten import flatten

        return flatten(self, to_flatten, origin_id=origin_id, where=user_frame())

    # --- stateful operations (see their modules) -----------------------------------------------
    # Operations written as functions of the table in their own modules (docstrings there).
    groupby = groupby_module.groupby
    deduplicate = deduplicate_module.deduplicate
    concat = universes.concat
    concat_reindex = universes.concat_reindex
    update_rows = universes.update_rows
    update_cells = universes.update_cells
    restrict = universes.restrict
    difference = universes.difference
    intersect = universes.intersect
    with_universe_of = universes.with_universe_of
    promise_universe_is_subset_of = universes.promise_universe_is_subset_of
    promise_universe_is_equal_to = universes.promise_universe_is_equal_to
    promise_universes_are_disjoint = universes.promise_universes_are_disjoint
    sort = sort_module.sort
    diff = sort_module.diff

    def reduce(self, *args: Any, **kwargs: Any) -> Table:
        """Reduce the whole table to one row.

        >>> import reflow as pw
        >>> t = pw.debug.table_from_markdown('''
        ... name  | age
        ... Alice | 30
        ... Bob   | 17
        ... ''')
        >>> r = t.reduce(n=pw.reducers.count(), oldest=pw.reducers.max(pw.this.age))
        >>> pw.debug.compute_and_print(r, include_id=False)
        n | oldest
        2 | 30
        """
        return self.groupby().reduce(*args, **kwargs)

    def join(self, other: Table, *on: Any, id: Any = None, how: Any = None,
             left_instance: Any = None, right_instance: Any = None, **kwargs: Any) -> Any:
        """Join with ``other`` on equalities ``self.column == other.column`` (see
        ``reflow.api.join.join``); ``how`` is a ``pw.JoinMode``, inner by default.

        >>> import reflow as pw
        >>> people = pw.debug.table_from_markdown('''
        ... name  | city
        ... Alice | 1
        ... Bob   | 2
        ... ''')
        >>> cities = pw.debug.table_from_markdown('''
        ... code | city_name
        ... 1    | Paris
        ... 3    | Rome
        ... ''')
        >>> r = people.join(cities, people.city == cities.code).select(
        ...     pw.left.name, pw.right.city_name
        ... )
        >>> pw.debug.compute_and_print(r, include_id=False)
        name  | city_name
        Alice | Paris
        """
        from reflow.api.join import join

        return join(self, other, *on, id=id, how=how, left_instance=left_instance,
                    right_instance=right_instance, **kwargs)

    def join_inner(self, other: Table, *on: Any, **kwargs: Any) -> Any:
        """``join`` keeping only the pairs of matching rows.

        >>> import reflow as pw
        >>> people = pw.debug.table_from_markdown('''
        ... name  | city
        ... Alice | 1
        ... Bob   | 2
        ... ''')
        >>> cities = pw.debug.table_from_markdown('''
        ... code | city_name
        ... 1    | Paris
        ... 3    | Rome
        ... ''')
        >>> r = people.join_inner(cities, people.city == cities.code).select(
        ...     pw.left.name, pw.right.city_name
        ... )
        >>> pw.debug.compute_and_print(r, include_id=False)
        name  | city_name
        Alice | Paris
        """
        from reflow.api.join import JoinMode, join

        return join(self, other, *on, how=JoinMode.INNER, **kwargs)

    def join_left(self, other: Table, *on: Any, **kwargs: Any) -> Any:
        """``join`` keeping every row of ``self`` (``None`` where ``other`` has no match).

        >>> import reflow as pw
        >>> people = pw.debug.table_from_markdown('''
        ... name  | city
        ... Alice | 1
        ... Bob   | 2
        ... ''')
        >>> cities = pw.debug.table_from_markdown('''
        ... code | city_name
        ... 1    | Paris
        ... 3    | Rome
        ... ''')
        >>> r = people.join_left(cities, people.city == cities.code).select(
        ...     pw.left.name, pw.right.city_name
        ... )
        >>> pw.debug.compute_and_print(r, include_id=False)
        name  | city_name
        Alice | Paris
        Bob   | None
        """
        from reflow.api.join import JoinMode, join

        return join(self, other, *on, how=JoinMode.LEFT, **kwargs)

    def join_right(self, other: Table, *on: Any, **kwargs: Any) -> Any:
        """``join`` keeping every row of ``other`` (``None`` where ``self`` has no match).

        >>> import reflow as pw
        >>> people = pw.debug.table_from_markdown('''
        ... name  | city
        ... Alice | 1
        ... Bob   | 2
        ... ''')
        >>> cities = pw.debug.table_from_markdown('''
        ... code | city_name
        ... 1    | Paris
        ... 3    | Rome
        ... ''')
        >>> r = people.join_right(cities, people.city == cities.code).select(
        ...     pw.left.name, pw.right.city_name
        ... )
        >>> pw.debug.compute_and_print(r, include_id=False)
        name  | city_name
        Alice | Paris
        None  | Rome
        """
        from reflow.api.join import JoinMode, join

        return join(self, other, *on, how=JoinMode.RIGHT, **kwargs)

    def join_outer(self, other: Table, *on: Any, **kwargs: Any) -> Any:
        """``join`` keeping every row of both tables.

        >>> import reflow as pw
        >>> people = pw.debug.table_from_markdown('''
        ... name  | city
        ... Alice | 1
        ... Bob   | 2
        ... ''')
        >>> cities = pw.debug.table_from_markdown('''
        ... code | city_name
        ... 1    | Paris
        ... 3    | Rome
        ... ''')
        >>> r = people.join_outer(cities, people.city == cities.code).select(
        ...     pw.left.name, pw.right.city_name
        ... )
        >>> pw.debug.compute_and_print(r, include_id=False)
        name  | city_name
        Alice | Paris
        Bob   | None
        None  | Rome
        """
        from reflow.api.join import JoinMode, join

        return join(self, other, *on, how=JoinMode.OUTER, **kwargs)

    def __lshift__(self, other: Table) -> Table:
        return self.update_cells(other)

    def having(self, *indexers: Any) -> Table:
        """The rows of the indexers' table whose pointers all point to rows of this table.

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
        >>> r = users.having(posts.author).select(pw.this.text)
        >>> pw.debug.compute_and_print(r, include_id=False)
        text
        hello
        """
        from reflow.api.ix import having

        return having(self, *indexers)

    def ix(self, expression: Any, *, optional: bool = False, allow_misses: bool = False,
           context: Any = None) -> Any:
        """The rows of this table whose ids are the pointers ``expression`` (see
        ``reflow.api.ix.ix``); use their columns in ``select``.

        >>> import reflow as pw
        >>> owners = pw.debug.table_from_markdown('''
        ... key | name
        ... 1   | Alice
        ... 2   | Bob
        ... ''').with_id_from(pw.this.key)
        >>> pets = pw.debug.table_from_markdown('''
        ... pet | owner
        ... dog | 1
        ... ''').select(pw.this.pet, owner=owners.pointer_from(pw.this.owner))
        >>> r = pets.select(pw.this.pet, owner_name=owners.ix(pets.owner).name)
        >>> pw.debug.compute_and_print(r, include_id=False)
        pet | owner_name
        dog | Alice
        """
        from reflow.api.ix import ix

        return ix(self, expression, optional=optional, allow_misses=allow_misses)

    def ix_ref(self, *args: Any, optional: bool = False, allow_misses: bool = False,
               instance: Any = None, context: Any = None) -> Any:
        """The rows of this table whose ids are ``pointer_from(*args)``: a primary-key lookup.

        >>> import reflow as pw
        >>> prices = pw.debug.table_from_markdown('''
        ... item  | price
        ... apple | 3
        ... ''').with_id_from(pw.this.item)
        >>> orders = pw.debug.table_from_markdown('''
        ... item  | qty
        ... apple | 2
        ... ''')
        >>> r = orders.select(cost=pw.this.qty * prices.ix_ref(pw.this.item).price)
        >>> pw.debug.compute_and_print(r, include_id=False)
        cost
        6
        """
        from reflow.api.ix import ix_ref

        return ix_ref(self, *args, optional=optional, allow_misses=allow_misses,
                      instance=instance)
