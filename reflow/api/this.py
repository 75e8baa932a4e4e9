"""``pw.this``, ``pw.left`` and ``pw.right``: references to columns by name, bound later."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from reflow.plan.expr import ColumnExpression, PointerFrom, ThisReference


class ThisSide:
    """``pw.this``, ``pw.left`` and ``pw.right``: column references by name, bound later.

    >>> import reflow as pw
    >>> pw.this.price
    pw.this.price
    """

    _side: str

    def __init__(self, side: str) -> None:
        object.__setattr__(self, "_side", side)

    def __getattr__(self, name: str) -> ThisReference:
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return ThisReference(self._side, name)

    def __getitem__(self, name: str | list[str]) -> Any:
        if isinstance(name, list):
            return [ThisReference(self._side, n) for n in name]
        return ThisReference(self._side, name)

    def without(self, *columns: Any) -> ThisWithout:
        """All columns of the table but ``columns`` (in ``select``)."""
        names = [c if isinstance(c, str) else c.name for c in columns]
        return ThisWithout(self._side, names)

    def with_prefix(self, prefix: str) -> ThisWithout:
        """All columns of the table, named with ``prefix`` for a following ``without``; as in
        Pathway, unpacked into a ``select`` they keep their own names.

        >>> import reflow as pw
        >>> t = pw.debug.table_from_markdown('''
        ... a | b
        ... 1 | 2
        ... ''')
        >>> t.select(*pw.this.with_prefix("p_").without("p_a")).column_names()
        ['b']
        """
        return ThisWithout(self._side, [], prefix=prefix)

    def with_suffix(self, suffix: str) -> ThisWithout:
        """All columns of the table, named with ``suffix`` (see ``with_prefix``)."""
        return ThisWithout(self._side, [], suffix=suffix)

    def pointer_from(self, *args: Any, optional: bool = False, instance: Any = None) -> Any:
        """The id ``with_id_from``/``groupby`` gives a row with key ``args`` (as
        ``table.pointer_from``)."""
        if instance is not None:
            args = (*args, instance)
        return PointerFrom(*args, optional=optional)

    def ix(self, expression: Any, *, optional: bool = False, allow_misses: bool = False) -> Any:
        """Rows of the table this refers to, looked up by the pointers of ``expression``
        (as ``table.ix`` in ``table.select``).

        >>> import reflow as pw
        >>> t = pw.debug.table_from_markdown('''
        ... a
        ... 7
        ... ''')
        >>> t = t.select(pw.this.a, p=pw.this.id)
        >>> pw.debug.compute_and_print(t.select(x=pw.this.ix(pw.this.p).a), include_id=False)
        x
        7
        """
        return ThisIx(self._side, expression, optional, allow_misses)

    def __iter__(self) -> Iterator[ThisWithout]:
        return iter([ThisWithout(self._side, [])])

    def __repr__(self) -> str:
        return f"pw.{self._side}"


class ThisWithout:
    """``pw.this.without("a")``: every column of the table except some."""

    def __init__(self, side: str, names: list[str], prefix: str = "", suffix: str = "") -> None:
        self.side = side
        self.names = names
        self.prefix = prefix
        self.suffix = suffix

    def without(self, *columns: Any) -> ThisWithout:
        names = [c if isinstance(c, str) else c.name for c in columns]
        return ThisWithout(self.side, [*self.names, *names], self.prefix, self.suffix)

    def with_prefix(self, prefix: str) -> ThisWithout:
        return ThisWithout(self.side, self.names, prefix + self.prefix, self.suffix)

    def with_suffix(self, suffix: str) -> ThisWithout:
        return ThisWithout(self.side, self.names, self.prefix, self.suffix + suffix)

    def __iter__(self) -> Iterator[ThisWithout]:
        return iter([self])


class ThisIx:
    """``pw.this.ix(pointer)``: its attributes are columns of the looked-up rows."""

    def __init__(self, side: str, pointer: Any, optional: bool, allow_misses: bool) -> None:
        self.side, self.pointer = side, pointer
        self.optional, self.allow_misses = optional, allow_misses

    def __getattr__(self, name: str) -> ThisIxColumn:
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return ThisIxColumn(self, name)

    def __getitem__(self, name: str) -> ThisIxColumn:
        return ThisIxColumn(self, name)


class ThisIxColumn(ColumnExpression):
    """Column ``name`` of ``pw.this.ix(...)``; ``select`` binds it to its table's ``ix``."""

    def __init__(self, lookup: ThisIx, name: str) -> None:
        super().__init__()
        self.lookup = lookup
        self.name = name

    def _name(self) -> str:
        return self.name

    def bind(self, table: Any) -> ColumnExpression:
        found = table.ix(
            self.lookup.pointer, optional=self.lookup.optional,
            allow_misses=self.lookup.allow_misses,
        )
        return found[self.name]


this = ThisSide("this")
left = ThisSide("left")
right = ThisSide("right")
