"""``Table``: the user-facing handle on a node of the logical plan.

Every method builds a new plan node and returns a new ``Table``; nothing runs until
``pw.run()`` or a ``pw.debug`` helper executes the plan.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from reflow.api.resolve import Scope, named_expressions, resolve
from reflow.api.schema import Schema, schema_from_dtypes
from reflow.api.this import this
from reflow.api.zip_columns import tables_to_zip, zip_with
from reflow.plan import dtypes as dt
from reflow.plan import expr as ex
from reflow.plan.errors import (
    BuildKeyError,
    BuildTypeError,
    BuildValueError,
    user_frame,
)
from reflow.plan.nodes import FilterNode, PlanNode, ReindexNode, SelectNode
from reflow.plan.tables import register_table_class

if TYPE_CHECKING:
    from reflow.api.groupby import GroupedTable

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

    def __class_getitem__(cls, schema: Any) -> type[Table]:
        """``pw.Table[Schema]`` as a type annotation: the class itself."""
        return cls

    def __add__(self, other: Table) -> Table:
        """The columns of both tables, which must have the same ids (``t += t.select(...)``
        adds columns).

        >>> import reflow as pw
        >>> t = pw.debug.table_from_markdown('''
        ... a
        ... 2
        ... ''')
        >>> t += t.select(b=pw.this.a * 10)
        >>> pw.debug.compute_and_print(t, include_id=False)
        a | b
        2 | 20
        """
        if not isinstance(other, Table):
            return NotImplemented
        return self.with_columns(*other)

    def update_id_type(self, id_type: Any, *, id_append_only: bool | None = None) -> Table:
        """The same table: reflow's ids carry no type (``pw.Pointer[Schema]`` is ``Pointer``).

        >>> import reflow as pw
        >>> t = pw.debug.table_from_markdown('''
        ... a
        ... 1
        ... ''')
        >>> t.update_id_type(pw.Pointer) is t
        True
        """
        return self

    @property
    def slice(self) -> Any:
        """All columns as a ``TableSlice``, to select, drop and rename them together.

        >>> import reflow as pw
        >>> t = pw.debug.table_from_markdown('''
        ... a | b
        ... 1 | 2
        ... ''')
        >>> pw.debug.compute_and_print(t.select(*t.slice.without("b")), include_id=False)
        a
        1
        """
        from reflow.api.table_slice import TableSlice

        return TableSlice({n: ex.ColumnReference(self, n) for n in self._node.columns}, self)

    @property
    def is_append_only(self) -> bool:
        """True when rows of the table are never removed or changed, as far as the plan shows
        (literal data without retractions, and row-by-row operations over such tables).

        >>> import reflow as pw
        >>> t = pw.debug.table_from_markdown('''
        ... a
        ... 1
        ... ''')
        >>> t.select(b=pw.this.a + 1).is_append_only, t.reduce(n=pw.reducers.count()).is_append_only
        (True, False)
        """
        from reflow.api.table_info import is_append_only

        return is_append_only(self._node)

    @property
    def C(self) -> Any:
        """The columns by name, also those named like a method: ``t.C.select``.

        >>> import reflow as pw
        >>> t = pw.debug.table_from_markdown('''
        ... select | n
        ... x      | 1
        ... ''')
        >>> pw.debug.compute_and_print(t.select(t.C.select), include_id=False)
        select
        x
        """
        from reflow.api.table_info import ColumnNamespace

        return ColumnNamespace(self)

    def eval_type(self, expression: Any) -> Any:
        """The Python type of ``expression`` over this table's rows.

        >>> import reflow as pw
        >>> t = pw.debug.table_from_markdown('''
        ... a
        ... 1
        ... ''')
        >>> t.eval_type(t.a / 2)
        <class 'float'>
        """
        from reflow.api.table_info import eval_type

        return eval_type(self, expression)

    def filter_out_results_of_forgetting(self) -> Table:
        """The table itself: reflow's forgetting (``keep_results=False``) retracts the results
        of closed windows just as Pathway 0.33 shows them after this call.

        >>> import reflow as pw
        >>> t = pw.debug.table_from_markdown('''
        ... a
        ... 1
        ... ''')
        >>> t.filter_out_results_of_forgetting() is t
        True
        """
        return self

    def to_stream(self, upsert_column_name: str = "is_upsert") -> Table:
        """The changes of this table as a stream of events: for every row id and time that
        changed, the row's new values with ``is_upsert`` true, or, when the row was removed,
        its last values with ``is_upsert`` false. An update is one upsert.

        Events keep the ids of their rows. In reflow an id holds one event at a time, so a
        newer event of an id retracts the older one (see docs/pathway-differences.md).

        >>> import reflow as pw
        >>> t = pw.debug.table_from_markdown('''
        ...   | a | __time__ | __diff__
        ... 1 | 2 |    2     |     1
        ... 1 | 2 |    4     |    -1
        ... 1 | 5 |    4     |     1
        ... 1 | 5 |    6     |    -1
        ... ''')
        >>> pw.debug.compute_and_print_update_stream(t.to_stream(), include_id=False)
        a | is_upsert | __time__ | __diff__
        2 | True      | 2        | 1
        2 | True      | 4        | -1
        5 | True      | 4        | 1
        5 | True      | 6        | -1
        5 | False     | 6        | 1
        """
        from reflow.api.streams import to_stream

        return to_stream(self, upsert_column_name)

    def stream_to_table(self, is_upsert: Any) -> Table:
        """The table a stream of events builds: every row of this table is an event for its
        id; where ``is_upsert`` is true it sets the row with that id (all columns kept),
        otherwise it deletes it. Later events of an id replace earlier ones; a deletion of an
        absent id does nothing.

        >>> import reflow as pw
        >>> events = pw.debug.table_from_markdown('''
        ...   | a | is_upsert | __time__
        ... 1 | 1 | True      | 2
        ... 2 | 5 | True      | 2
        ... 1 | 4 | True      | 4
        ... 2 | 0 | False     | 6
        ... ''')
        >>> pw.debug.compute_and_print_update_stream(
        ...     events.stream_to_table(pw.this.is_upsert), include_id=False)
        a | is_upsert | __time__ | __diff__
        1 | True      | 2        | 1
        5 | True      | 2        | 1
        1 | True      | 4        | -1
        4 | True      | 4        | 1
        5 | True      | 6        | -1
        """
        from reflow.api.streams import stream_to_table

        return stream_to_table(self, is_upsert)

    def from_streams(self, deletion_stream: Table) -> Table:
        """The table built from this stream of upserts and a stream of deletions: each row of
        this table sets the row with its id, each row of ``deletion_stream`` deletes the row
        with its id (an upsert and a deletion of one id at one time leave the upsert).

        >>> import reflow as pw
        >>> upserts = pw.debug.table_from_markdown('''
        ...   | a | __time__
        ... 1 | 1 | 2
        ... 1 | 4 | 4
        ... ''')
        >>> deletions = pw.debug.table_from_markdown('''
        ...   | a | __time__
        ... 1 | 0 | 6
        ... ''')
        >>> pw.debug.compute_and_print_update_stream(
        ...     upserts.from_streams(deletions), include_id=False)
        a | __time__ | __diff__
        1 | 2        | 1
        1 | 4        | -1
        4 | 4        | 1
        4 | 6        | -1
        """
        from reflow.api.streams import from_streams

        return from_streams(self, deletion_stream)

    def remove_errors(self) -> Table:
        """The rows without an error value in any column (same ids).

        >>> import reflow as pw
        >>> t = pw.debug.table_from_markdown('''
        ... a | b
        ... 1 | 0
        ... 4 | 2
        ... ''')
        >>> q = t.select(q=pw.this.a // pw.this.b).remove_errors()
        >>> pw.debug.compute_and_print(q, include_id=False, terminate_on_error=False)
        q
        2
        """
        from reflow.api.functions import fill_error

        fallible = [name for name, info in self._node.columns.items() if info.fallible]
        if not fallible:
            return self
        condition: Any = None
        for name in fallible:
            column = ex.ColumnReference(self, name)
            ok = fill_error(column.is_none() | column.is_not_none(), False)
            condition = ok if condition is None else condition & ok
        return self.filter(condition)

    @staticmethod
    def from_columns(*args: Any, **kwargs: Any) -> Table:
        """A table of the given columns, all of tables with the same ids.

        >>> import reflow as pw
        >>> t = pw.debug.table_from_markdown('''
        ... a | b
        ... 1 | 2
        ... ''')
        >>> pw.Table.from_columns(t.b, c=t.a).column_names()
        ['b', 'c']
        """
        columns = [*args, *kwargs.values()]
        if not columns or not all(isinstance(c, ex.ColumnReference) for c in columns):
            raise BuildValueError("from_columns() needs column references such as t.a")
        return columns[0].table.select(*args, **kwargs)

    # --- columns -----------------------------------------------------------------------------
    def __getattr__(self, name: str) -> ex.ColumnReference:
        if name.startswith("_"):
            raise AttributeError(name)
        if name == "id" or name in self._node.columns:
            return ex.ColumnReference(self, name)
        raise AttributeError(
            f"table has no column {name!r} (its columns are: "
            f"{', '.join(map(repr, self._node.columns)) or 'none'}) (at {user_frame()})"
        )

    def __getitem__(self, name: str | list[str] | ex.ColumnReference) -> Any:
        if isinstance(name, list):
            return self.select(*(self[n] for n in name))
        if isinstance(name, (ex.ColumnReference, ex.ThisReference)):
            name = name.name
        if name != "id" and name not in self._node.columns:
            raise BuildKeyError(
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
        from reflow.api.ix import bind_this_ix, contains_ix, select_with_ix

        outputs = {name: bind_this_ix(expr, self) for name, expr in outputs.items()}
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
            raise BuildTypeError(
                f"filter condition ({ex.describe(condition)}) must be bool, "
                f"got {resolved.dtype!r}"
            )
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
            raise BuildKeyError(f"no column {name or column!r} in the table")
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
            raise BuildTypeError(f"with_id needs a Pointer, got {resolved.dtype!r}", where)
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
    def groupby(self, *args: Any, id: Any = None, sort_by: Any = None, instance: Any = None,
                **kwargs: Any) -> GroupedTable:
        """Group the rows of ``self`` by the given columns; follow with ``.reduce(...)``.

        ``id=`` (a Pointer column) makes the group ids those pointers, ``instance=`` adds a
        grouping column, and ``sort_by=`` orders the rows seen by order-sensitive reducers
        (``tuple``, ``ndarray``, ``udf_reducer``).

        >>> import reflow as pw
        >>> t = pw.debug.table_from_markdown('''
        ... k | x
        ... a | 1
        ... a | 2
        ... ''')
        >>> r = t.groupby(t.k).reduce(t.k, total=pw.reducers.sum(t.x))
        >>> pw.debug.compute_and_print(r, include_id=False)
        k | total
        a | 3
        """
        from reflow.api.groupby import groupby

        return groupby(self, *args, id=id, sort_by=sort_by, instance=instance, **kwargs)

    def deduplicate(self, *, value: Any, instance: Any = None, acceptor: Any, name: Any = None,
                    persistent_id: Any = None) -> Table:
        """One row per ``instance``: the row whose ``value`` was accepted last.

        Rows are considered in arrival order (by logical time; within one time, in input order).
        The first row of an instance is kept; a later row replaces the kept one when
        ``acceptor(new_value, kept_value)`` returns true. The output row of an instance has the
        columns of ``self`` and the id ``pw.pointer_from(instance)`` (``pw.pointer_from()``
        without an instance).

        The result depends on the order rows arrive in, not only on the current contents of
        ``self``: a retraction (or the retraction half of an update) of an input row is ignored,
        and an accepted row stays the output of its instance even if it is later deleted from
        ``self``, until a newer row is accepted.

        >>> import reflow as pw
        >>> t = pw.debug.table_from_markdown('''
        ... val | __time__
        ... 1   | 2
        ... 2   | 4
        ... 3   | 6
        ... 4   | 8
        ... ''')
        >>> result = t.deduplicate(value=pw.this.val, acceptor=lambda new, old: new >= old + 2)
        >>> pw.debug.compute_and_print_update_stream(result, include_id=False)
        val | __time__ | __diff__
        1   | 2        | 1
        1   | 6        | -1
        3   | 6        | 1
        """
        from reflow.api.deduplicate import deduplicate

        return deduplicate(self, value=value, instance=instance, acceptor=acceptor)

    def concat(self, *others: Table) -> Table:
        """The union of tables with the same columns whose ids are known to be disjoint.

        Use ``promise_universes_are_disjoint`` to declare that the ids never collide, or
        ``concat_reindex`` to give the rows new ids.

        >>> import reflow as pw
        >>> a = pw.debug.table_from_markdown('''
        ...   | x
        ... 1 | 10
        ... ''')
        >>> b = pw.debug.table_from_markdown('''
        ...   | x
        ... 2 | 20
        ... ''')
        >>> both = a.promise_universes_are_disjoint(b).concat(b)
        >>> pw.debug.compute_and_print(both, include_id=False)
        x
        10
        20
        """
        from reflow.api.universes import concat

        return concat(self, *others)

    def concat_reindex(self, *others: Table) -> Table:
        """The union of tables with the same columns; every row gets a new id.

        >>> import reflow as pw
        >>> a = pw.debug.table_from_markdown('''
        ... x
        ... 1
        ... ''')
        >>> pw.debug.compute_and_print(a.concat_reindex(a), include_id=False)
        x
        1
        1
        """
        from reflow.api.universes import concat_reindex

        return concat_reindex(self, *others)

    def update_rows(self, other: Table) -> Table:
        """``self`` with the rows of ``other`` replacing rows with the same id and added otherwise.

        >>> import reflow as pw
        >>> t = pw.debug.table_from_markdown('''
        ...   | x
        ... 1 | 10
        ... 2 | 20
        ... ''')
        >>> u = pw.debug.table_from_markdown('''
        ...   | x
        ... 2 | 25
        ... 3 | 30
        ... ''')
        >>> pw.debug.compute_and_print(t.update_rows(u), include_id=False)
        x
        10
        25
        30
        """
        from reflow.api.universes import update_rows

        return update_rows(self, other)

    def update_cells(self, other: Table, **kwargs: Any) -> Table:
        """``self`` with the cells of ``other``'s columns replaced where ``other`` has the row.

        ``other``'s columns must be columns of ``self`` and its ids a subset of ``self``'s.
        ``table << other`` is the same.

        >>> import reflow as pw
        >>> t = pw.debug.table_from_markdown('''
        ...   | x  | y
        ... 1 | 10 | a
        ... 2 | 20 | b
        ... ''')
        >>> fix = pw.debug.table_from_markdown('''
        ...   | x
        ... 2 | 25
        ... ''').promise_universe_is_subset_of(t)
        >>> pw.debug.compute_and_print(t << fix, include_id=False)
        x  | y
        10 | a
        25 | b
        """
        from reflow.api.universes import update_cells

        return update_cells(self, other, **kwargs)

    def restrict(self, other: Table) -> Table:
        """The rows of ``self`` whose ids are in ``other`` (a subset of ``self``'s ids).

        >>> import reflow as pw
        >>> t = pw.debug.table_from_markdown('''
        ...   | x
        ... 1 | 10
        ... 2 | 20
        ... ''')
        >>> keep = t.filter(pw.this.x > 15).select()
        >>> pw.debug.compute_and_print(t.restrict(keep), include_id=False)
        x
        20
        """
        from reflow.api.universes import restrict

        return restrict(self, other)

    def difference(self, other: Table) -> Table:
        """The rows of ``self`` whose ids are not in ``other``.

        >>> import reflow as pw
        >>> t = pw.debug.table_from_markdown('''
        ...   | x
        ... 1 | 10
        ... 2 | 20
        ... ''')
        >>> drop = pw.debug.table_from_markdown('''
        ...   | y
        ... 2 | 0
        ... ''')
        >>> pw.debug.compute_and_print(t.difference(drop), include_id=False)
        x
        10
        """
        from reflow.api.universes import difference

        return difference(self, other)

    def intersect(self, *tables: Table) -> Table:
        """The rows of ``self`` whose ids are in every one of ``tables``.

        >>> import reflow as pw
        >>> t = pw.debug.table_from_markdown('''
        ...   | x
        ... 1 | 10
        ... 2 | 20
        ... ''')
        >>> other = pw.debug.table_from_markdown('''
        ...   | y
        ... 2 | 0
        ... 3 | 0
        ... ''')
        >>> pw.debug.compute_and_print(t.intersect(other), include_id=False)
        x
        20
        """
        from reflow.api.universes import intersect

        return intersect(self, *tables)

    def with_universe_of(self, other: Table) -> Table:
        """``self`` declared to have exactly the ids of ``other``.

        The equality is checked while the pipeline runs: an id present in only one of the two
        tables is reported as an error (``pw.global_error_log()``) and its row is left out.

        >>> import reflow as pw
        >>> a = pw.debug.table_from_markdown('''
        ...   | x
        ... 1 | 10
        ... ''')
        >>> b = pw.debug.table_from_markdown('''
        ...   | y
        ... 1 | 20
        ... ''')
        >>> a2 = a.with_universe_of(b)
        >>> pw.debug.compute_and_print(a2 << b.select(x=pw.this.y), include_id=False)
        x
        20
        """
        from reflow.api.universes import with_universe_of

        return with_universe_of(self, other)

    def promise_universe_is_subset_of(self, other: Table) -> Table:
        """Declare that every id of ``self`` is an id of ``other``; returns ``self``.

        >>> import reflow as pw
        >>> a = pw.debug.table_from_markdown('''
        ...   | x
        ... 1 | 10
        ... ''')
        >>> b = pw.debug.table_from_markdown('''
        ...   | x
        ... 1 | 11
        ... 2 | 20
        ... ''')
        >>> pw.debug.compute_and_print(b.restrict(a.promise_universe_is_subset_of(b)),
        ...                            include_id=False)
        x
        11
        """
        from reflow.api.universes import promise_universe_is_subset_of

        return promise_universe_is_subset_of(self, other)

    def promise_universe_is_equal_to(self, other: Table) -> Table:
        """Declare that ``self`` and ``other`` have the same ids; returns ``self``.

        >>> import reflow as pw
        >>> a = pw.debug.table_from_markdown('''
        ...   | x
        ... 1 | 10
        ... ''')
        >>> b = pw.debug.table_from_markdown('''
        ...   | x
        ... 1 | 11
        ... ''')
        >>> pw.debug.compute_and_print(a.promise_universe_is_equal_to(b) << b, include_id=False)
        x
        11
        """
        from reflow.api.universes import promise_universe_is_equal_to

        return promise_universe_is_equal_to(self, other)

    def promise_universes_are_disjoint(self, other: Table) -> Table:
        """Declare that this table and ``other`` share no id (as ``concat`` needs); returns
        this table.

        >>> import reflow as pw
        >>> a = pw.debug.table_from_markdown('''
        ...   | x
        ... 1 | 10
        ... ''')
        >>> b = pw.debug.table_from_markdown('''
        ...   | x
        ... 2 | 20
        ... ''')
        >>> pw.debug.compute_and_print(a.promise_universes_are_disjoint(b).concat(b),
        ...                            include_id=False)
        x
        10
        20
        """
        from reflow.api.universes import promise_universes_are_disjoint

        return promise_universes_are_disjoint(self, other)

    def sort(self, key: Any, instance: Any = None) -> Table:
        """Columns ``prev`` and ``next``: the ids of each row's neighbours in ``key`` order.

        The result has the ids of ``self``. Rows are ordered within each value of ``instance``
        (rows with equal keys by id); the first row has ``prev`` None and the last ``next`` None.
        An insertion or deletion changes only the pointers of its neighbours.

        >>> import reflow as pw
        >>> t = pw.debug.table_from_markdown('''
        ... name  | age
        ... Alice | 25
        ... Bob   | 20
        ... Carol | 30
        ... ''').with_id_from(pw.this.name)
        >>> s = t.sort(key=pw.this.age)
        >>> order = pw.debug.table_to_dicts(s)[1]
        >>> order["next"][pw.pointer_from("Bob")] == pw.pointer_from("Alice")
        True
        >>> order["prev"][pw.pointer_from("Bob")] is None
        True
        """
        from reflow.api.sort import sort

        return sort(self, key, instance=instance)

    def diff(self, timestamp: Any, *values: Any, instance: Any = None) -> Table:
        """For each row, ``value`` minus the previous row's ``value`` in ``timestamp`` order.

        The result has the ids of ``self`` and one column ``diff_<name>`` per value column; the
        first row of each instance gets None.

        >>> import reflow as pw
        >>> t = pw.debug.table_from_markdown('''
        ... t | v
        ... 1 | 1
        ... 2 | 4
        ... 3 | 9
        ... ''')
        >>> d = t.diff(pw.this.t, pw.this.v)
        >>> sorted(pw.debug.table_to_dicts(d)[1]["diff_v"].values(), key=lambda v: v or 0)
        [None, 3, 5]
        """
        from reflow.api.sort import diff

        return diff(self, timestamp, *values, instance=instance)

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
        Bob   |
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
              | Rome
        Alice | Paris
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
              | Rome
        Alice | Paris
        Bob   |
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


register_table_class(Table)  # connectors below the API wrap their plan nodes in it
