"""``pw.sql``: a SQL ``SELECT`` over tables, translated into Table operations (sqlglot parses).

Supported: ``SELECT`` lists with ``*``, columns, expressions and aliases; ``FROM`` a table or a
subquery, with ``[INNER|LEFT|RIGHT|FULL] JOIN ... ON`` equalities; ``WHERE``; ``GROUP BY``
with ``SUM``, ``COUNT``, ``AVG``, ``MIN``, ``MAX`` and ``HAVING``; ``UNION [ALL]``; arithmetic,
comparisons, ``AND``/``OR``/``NOT``, ``IS [NOT] NULL``, ``CASE WHEN``, ``COALESCE``, ``IN``.
The result is a table like any other: it is revised when its inputs change.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from reflow.api import reducers
from reflow.api.functions import coalesce, if_else
from reflow.api.table import Table
from reflow.plan import expr as ex
from reflow.plan.errors import BuildKeyError, BuildValueError, user_frame


def sql(query: str, **kwargs: Table) -> Table:
    """The result of the SQL ``query`` over the tables given as keyword arguments.

    >>> import reflow as pw
    >>> orders = pw.debug.table_from_markdown('''
    ... customer | amount
    ... alice    | 10
    ... bob      | 5
    ... alice    | 7
    ... ''')
    >>> totals = pw.sql(
    ...     "SELECT customer, SUM(amount) AS total FROM orders GROUP BY customer", orders=orders)
    >>> pw.debug.compute_and_print(totals, include_id=False)
    customer | total
    alice    | 17
    bob      | 5
    """
    import sqlglot
    from sqlglot import exp

    where = user_frame()
    try:
        tree = sqlglot.parse_one(query)
    except sqlglot.errors.ParseError as error:
        raise BuildValueError(f"pw.sql: cannot parse the query: {error}", where) from None
    return _Translator(kwargs, where, exp).query(tree)


class _Scope:
    """The columns a query can name: ``(table alias, column) -> reference``."""

    def __init__(self) -> None:
        self.columns: dict[tuple[str, str], ex.ColumnExpression] = {}
        self.order: list[tuple[str, str]] = []

    def add(self, alias: str, name: str, ref: ex.ColumnExpression) -> None:
        if (alias, name) not in self.columns:
            self.order.append((alias, name))
        self.columns[(alias, name)] = ref

    def find(self, name: str, alias: str | None, where: str) -> ex.ColumnExpression:
        if alias is not None:
            if (alias, name) not in self.columns:
                raise BuildKeyError(f"pw.sql: no column {alias}.{name}", where)
            return self.columns[(alias, name)]
        found = [key for key in self.order if key[1] == name]
        if not found:
            raise BuildKeyError(f"pw.sql: no column {name!r}", where)
        if len(found) > 1:
            raise BuildValueError(
                f"pw.sql: column {name!r} is ambiguous; write table.{name}", where
            )
        return self.columns[found[0]]


class _Translator:
    def __init__(self, tables: dict[str, Table], where: str, exp: Any) -> None:
        self.tables = tables
        self.where = where
        self.exp = exp

    def fail(self, message: str) -> BuildValueError:
        return BuildValueError(f"pw.sql: {message}", self.where)

    # --- queries -------------------------------------------------------------------------------
    def query(self, node: Any) -> Table:
        exp = self.exp
        if isinstance(node, exp.Union):
            left, right = self.query(node.this), self.query(node.expression)
            if left.column_names() != right.column_names():
                right = right.rename_by_dict(dict(zip(right.column_names(), left.column_names(),
                                                      strict=False)))
            combined = left.concat_reindex(right)
            if node.args.get("distinct"):
                names = combined.column_names()
                combined = combined.groupby(*(combined[n] for n in names)).reduce(
                    *(combined[n] for n in names)
                )
            return combined
        if isinstance(node, exp.Subquery):
            return self.query(node.this)
        if not isinstance(node, exp.Select):
            raise self.fail(f"only SELECT queries are supported, got {node.key.upper()}")
        return self.select(node)

    def source(self, node: Any) -> tuple[Table, str]:
        exp = self.exp
        alias = node.alias_or_name
        if isinstance(node, exp.Table):
            name = node.name
            if name not in self.tables:
                raise BuildKeyError(f"pw.sql: no table {name!r} was given", self.where)
            return self.tables[name], alias or name
        if isinstance(node, exp.Subquery):
            return self.query(node.this), alias
        raise self.fail(f"cannot read from {node.sql()}")

    def select(self, node: Any) -> Table:
        for clause in ("order", "limit", "offset", "windows", "qualify", "distinct"):
            if node.args.get(clause):
                raise self.fail(f"{clause.upper()} is not supported (in {node.sql()})")
        from_ = node.args.get("from_") or node.args.get("from")
        if from_ is None:
            raise self.fail("a SELECT needs FROM")
        table, alias = self.source(from_.this)
        scope = _Scope()
        for name in table.column_names():
            scope.add(alias, name, table[name])
        for join in node.args.get("joins") or []:
            table, scope = self.join(table, scope, join)
        condition = node.args.get("where")
        if condition is not None:
            table = table.filter(self.expression(condition.this, scope))
            scope = _rebound(scope, table)
        group = node.args.get("group")
        outputs = self.outputs(node.expressions, scope)
        has_aggregates = any(self._has_aggregate(e) for e in node.expressions)
        if group is None and not has_aggregates:
            return table.select(**{name: build(scope) for name, build in outputs})
        return self.grouped(table, scope, group, outputs, node.args.get("having"))

    def join(self, table: Table, scope: _Scope, join: Any) -> tuple[Table, _Scope]:
        exp = self.exp
        other, alias = self.source(join.this)
        other_scope = _Scope()
        for name in other.column_names():
            other_scope.add(alias, name, other[name])
        on = join.args.get("on")
        if on is None:
            raise self.fail("a JOIN needs ON")
        conditions = []
        for equality in _conjuncts(on, exp):
            if not isinstance(equality, exp.EQ):
                raise self.fail(f"JOIN ... ON supports equalities joined by AND, got {on.sql()}")
            a, b = equality.this, equality.expression
            try:
                left, right = self.expression(a, scope), self.expression(b, other_scope)
            except (BuildKeyError, BuildValueError):
                left, right = self.expression(b, scope), self.expression(a, other_scope)
            conditions.append(left == right)
        side = (join.side or "").upper()
        how = {"": "inner", "LEFT": "left", "RIGHT": "right", "FULL": "outer"}[side]
        joined = table.join(other, *conditions, how=how)
        named: dict[str, ex.ColumnExpression] = {}
        merged = _Scope()
        for position, key in enumerate([*scope.order, *other_scope.order]):
            name = f"_pw_sql_{position}"
            source = scope if position < len(scope.order) else other_scope
            named[name] = source.columns[key]
            merged.add(key[0], key[1], ex.ThisReference("this", name))
        result = joined.select(**named)
        return result, _rebound(merged, result)

    # --- select lists --------------------------------------------------------------------------
    def outputs(self, items: list, scope: _Scope) -> list[tuple[str, Callable[[Any], Any]]]:
        exp = self.exp
        out: list[tuple[str, Callable[[Any], Any]]] = []
        for position, item in enumerate(items):
            if isinstance(item, exp.Star):
                for alias, name in scope.order:
                    out.append((name, _fixed(scope.columns[(alias, name)])))
                continue
            if isinstance(item, exp.Alias):
                name, body = item.alias, item.this
            elif isinstance(item, exp.Column) and not isinstance(item.this, exp.Star):
                name, body = item.name, item
            else:
                name, body = f"_col_{position}", item
            out.append((name, self._later(body)))
        return out

    def _later(self, body: Any) -> Callable[[Any], Any]:
        return lambda context: self.expression(body, context)

    def grouped(self, table: Table, scope: _Scope, group: Any, outputs: list,
                having: Any) -> Table:
        keys = [self.expression(key, scope) for key in group.expressions] if group else []
        grouped = table.groupby(*keys) if keys else table
        reduce_scope = _ReduceScope(scope, keys)
        columns = {name: build(reduce_scope) for name, build in outputs}
        if having is not None:
            columns["_pw_sql_having"] = self.expression(having.this, reduce_scope)
        result = grouped.reduce(**columns)
        if having is not None:
            result = result.filter(result["_pw_sql_having"]).without(result["_pw_sql_having"])
        return result

    def _has_aggregate(self, node: Any) -> bool:
        exp = self.exp
        return any(isinstance(n, exp.AggFunc) for n in node.walk())

    # --- expressions ---------------------------------------------------------------------------
    def expression(self, node: Any, scope: Any) -> Any:
        exp = self.exp
        if isinstance(node, exp.Paren):
            return self.expression(node.this, scope)
        if isinstance(node, exp.Column):
            return scope.find(node.name, node.table or None, self.where)
        if isinstance(node, exp.Literal):
            if node.is_string:
                return node.this
            text = node.this
            return float(text) if any(c in text for c in ".eE") else int(text)
        if isinstance(node, exp.Null):
            return None
        if isinstance(node, exp.Boolean):
            return bool(node.this)
        if isinstance(node, exp.AggFunc):
            return self.aggregate(node, scope)
        binary = _BINARY.get(type(node).__name__)
        if binary is not None:
            return binary(self.expression(node.this, scope),
                          self.expression(node.expression, scope))
        if isinstance(node, exp.Not):
            return ~ex.wrap_arg(self.expression(node.this, scope))
        if isinstance(node, exp.Neg):
            return -ex.wrap_arg(self.expression(node.this, scope))
        if isinstance(node, exp.Is):
            value = ex.wrap_arg(self.expression(node.this, scope))
            if not isinstance(node.expression, exp.Null):
                raise self.fail(f"IS supports NULL only, got {node.sql()}")
            return value.is_none()
        if isinstance(node, exp.Coalesce):
            args = [node.this, *node.expressions]
            return coalesce(*(self.expression(a, scope) for a in args))
        if isinstance(node, exp.In):
            value = ex.wrap_arg(self.expression(node.this, scope))
            result: Any = None
            for option in node.expressions:
                test = value == self.expression(option, scope)
                result = test if result is None else (result | test)
            return result
        if isinstance(node, exp.Case):
            otherwise = node.args.get("default")
            result = self.expression(otherwise, scope) if otherwise is not None else None
            for branch in reversed(node.args.get("ifs") or []):
                result = if_else(self.expression(branch.this, scope),
                                 self.expression(branch.args["true"], scope), result)
            return result
        raise self.fail(f"unsupported expression {node.sql()}")

    def aggregate(self, node: Any, scope: Any) -> Any:
        exp = self.exp
        if not isinstance(scope, _ReduceScope):
            raise self.fail(f"aggregate {node.sql()} outside a grouped SELECT")
        inner = scope.inner
        if isinstance(node, exp.Count):
            if isinstance(node.this, exp.Star) or node.this is None:
                return reducers.count()
            value = ex.wrap_arg(self.expression(node.this, inner))
            return reducers.sum(if_else(value.is_none(), 0, 1))
        kinds = {"Sum": reducers.sum, "Avg": reducers.avg, "Min": reducers.min,
                 "Max": reducers.max}
        reducer = kinds.get(type(node).__name__)
        if reducer is None:
            raise self.fail(f"unsupported aggregate {node.sql()}")
        return reducer(self.expression(node.this, inner))


class _ReduceScope:
    """Inside a grouped SELECT: grouping columns by name, other columns only in aggregates."""

    def __init__(self, inner: _Scope, keys: list) -> None:
        self.inner = inner
        self.keys = keys

    def find(self, name: str, alias: str | None, where: str) -> ex.ColumnExpression:
        column = self.inner.find(name, alias, where)
        if not any(column is key for key in self.keys):
            raise BuildValueError(
                f"pw.sql: column {name!r} is neither in GROUP BY nor inside an aggregate", where
            )
        return column


def _rebound(scope: _Scope, table: Table) -> _Scope:
    """The scope with references to the columns of ``table`` (same names, new table)."""
    out = _Scope()
    for key in scope.order:
        ref = scope.columns[key]
        name = ref.name if isinstance(ref, ex.ColumnReference | ex.ThisReference) else None
        out.add(key[0], key[1], table[name] if name in table.column_names() else ref)
    return out


def _fixed(value: Any) -> Callable[[Any], Any]:
    return lambda _context: value


def _conjuncts(node: Any, exp: Any) -> list:
    if isinstance(node, exp.And):
        return [*_conjuncts(node.this, exp), *_conjuncts(node.expression, exp)]
    if isinstance(node, exp.Paren):
        return _conjuncts(node.this, exp)
    return [node]


def _wrap(function: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    return lambda a, b: function(ex.wrap_arg(a), ex.wrap_arg(b))


_BINARY: dict[str, Callable[[Any, Any], Any]] = {
    "Add": _wrap(lambda a, b: a + b),
    "Sub": _wrap(lambda a, b: a - b),
    "Mul": _wrap(lambda a, b: a * b),
    "Div": _wrap(lambda a, b: a / b),
    "Mod": _wrap(lambda a, b: a % b),
    "EQ": _wrap(lambda a, b: a == b),
    "NEQ": _wrap(lambda a, b: a != b),
    "GT": _wrap(lambda a, b: a > b),
    "GTE": _wrap(lambda a, b: a >= b),
    "LT": _wrap(lambda a, b: a < b),
    "LTE": _wrap(lambda a, b: a <= b),
    "And": _wrap(lambda a, b: a & b),
    "Or": _wrap(lambda a, b: a | b),
}
