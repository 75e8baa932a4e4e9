"""The ``.str`` namespace: string functions of a column, each naming a plan operation
(``reflow.plan.string_ops``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from reflow.plan import expr as ex
from reflow.plan.string_ops import FALSE_VALUES, TRUE_VALUES, StringOps


class StringNamespace:
    """String operations on a column: ``pw.this.name.str.upper()``.

    >>> import reflow as pw
    >>> t = pw.debug.table_from_markdown('''
    ... name
    ... Alice
    ... ''')
    >>> pw.debug.compute_and_print(t.select(u=pw.this.name.str.upper()), include_id=False)
    u
    ALICE
    """

    def __init__(self, expr: ex.ColumnExpression) -> None:
        self._ops = StringOps(expr)

    def lower(self) -> ex.ColumnExpression:
        """Lowercase.

        >>> import reflow as pw
        >>> t = pw.debug.table_from_markdown('''
        ... name
        ... AliCe
        ... ''')
        >>> pw.debug.compute_and_print(t.select(x=pw.this.name.str.lower()), include_id=False)
        x
        alice
        """
        return self._ops.lower()

    def upper(self) -> ex.ColumnExpression:
        """Uppercase.

        >>> import reflow as pw
        >>> t = pw.debug.table_from_markdown('''
        ... name
        ... AliCe
        ... ''')
        >>> pw.debug.compute_and_print(t.select(x=pw.this.name.str.upper()), include_id=False)
        x
        ALICE
        """
        return self._ops.upper()

    def swapcase(self) -> ex.ColumnExpression:
        """Lowercase letters become uppercase and the other way round.

        >>> import reflow as pw
        >>> t = pw.debug.table_from_markdown('''
        ... name
        ... AliCe
        ... ''')
        >>> pw.debug.compute_and_print(t.select(x=pw.this.name.str.swapcase()), include_id=False)
        x
        aLIcE
        """
        return self._ops.swapcase()

    def title(self) -> ex.ColumnExpression:
        """Each word starts with an uppercase letter, the rest is lowercase.

        >>> import reflow as pw
        >>> t = pw.debug.table_from_rows(pw.schema_from_types(s=str), [("hello wORLD",)])
        >>> pw.debug.compute_and_print(t.select(x=pw.this.s.str.title()), include_id=False)
        x
        Hello World
        """
        return self._ops.title()

    def reversed(self) -> ex.ColumnExpression:
        """The string reversed.

        >>> import reflow as pw
        >>> t = pw.debug.table_from_markdown('''
        ... name
        ... Alice
        ... ''')
        >>> pw.debug.compute_and_print(t.select(x=pw.this.name.str.reversed()), include_id=False)
        x
        ecilA
        """
        return self._ops.reversed()

    def len(self) -> ex.ColumnExpression:
        """Number of characters.

        >>> import reflow as pw
        >>> t = pw.debug.table_from_markdown('''
        ... name
        ... Alice
        ... ''')
        >>> pw.debug.compute_and_print(t.select(n=pw.this.name.str.len()), include_id=False)
        n
        5
        """
        return self._ops.len()

    def find(self, sub: Any, start: Any = None, end: Any = None) -> ex.ColumnExpression:
        """Index of the first occurrence of ``sub`` in ``s[start:end]``, or -1 (as ``str.find``).

        >>> import reflow as pw
        >>> t = pw.debug.table_from_markdown('''
        ... s
        ... abcabc
        ... ''')
        >>> pw.debug.compute_and_print(
        ...     t.select(a=pw.this.s.str.find("c"), b=pw.this.s.str.find("c", 3),
        ...              c=pw.this.s.str.find("x")),
        ...     include_id=False)
        a | b | c
        2 | 5 | -1
        """
        return self._ops.find(sub, start, end)

    def rfind(self, sub: Any, start: Any = None, end: Any = None) -> ex.ColumnExpression:
        """Index of the last occurrence of ``sub`` in ``s[start:end]``, or -1 (as ``str.rfind``).

        >>> import reflow as pw
        >>> t = pw.debug.table_from_markdown('''
        ... s
        ... abcabc
        ... ''')
        >>> pw.debug.compute_and_print(
        ...     t.select(a=pw.this.s.str.rfind("c"), b=pw.this.s.str.rfind("c", 0, 4)),
        ...     include_id=False)
        a | b
        5 | 2
        """
        return self._ops.rfind(sub, start, end)

    def count(self, sub: Any, start: Any = None, end: Any = None) -> ex.ColumnExpression:
        """Number of non-overlapping occurrences of ``sub`` in ``s[start:end]``.

        >>> import reflow as pw
        >>> t = pw.debug.table_from_markdown('''
        ... s
        ... abcabc
        ... ''')
        >>> pw.debug.compute_and_print(
        ...     t.select(a=pw.this.s.str.count("bc"), b=pw.this.s.str.count("bc", 2)),
        ...     include_id=False)
        a | b
        2 | 1
        """
        return self._ops.count(sub, start, end)

    def startswith(self, prefix: Any) -> ex.ColumnExpression:
        """Whether the string starts with ``prefix``.

        >>> import reflow as pw
        >>> t = pw.debug.table_from_markdown('''
        ... s
        ... abc
        ... xbc
        ... ''')
        >>> pw.debug.compute_and_print(
        ...     t.select(pw.this.s, p=pw.this.s.str.startswith("ab")), include_id=False)
        s   | p
        abc | True
        xbc | False
        """
        return self._ops.startswith(prefix)

    def endswith(self, suffix: Any) -> ex.ColumnExpression:
        """Whether the string ends with ``suffix``.

        >>> import reflow as pw
        >>> t = pw.debug.table_from_markdown('''
        ... s
        ... abc
        ... abx
        ... ''')
        >>> pw.debug.compute_and_print(
        ...     t.select(pw.this.s, p=pw.this.s.str.endswith("bc")), include_id=False)
        s   | p
        abc | True
        abx | False
        """
        return self._ops.endswith(suffix)

    def replace(self, old_value: Any, new_value: Any, count: int = -1) -> ex.ColumnExpression:
        """Replace occurrences of ``old_value`` by ``new_value``; at most ``count`` if >= 0.

        >>> import reflow as pw
        >>> t = pw.debug.table_from_markdown('''
        ... s
        ... a-b-c
        ... ''')
        >>> pw.debug.compute_and_print(
        ...     t.select(a=pw.this.s.str.replace("-", "+"), b=pw.this.s.str.replace("-", "", 1)),
        ...     include_id=False)
        a     | b
        a+b+c | ab-c
        """
        return self._ops.replace(old_value, new_value, count)

    def strip(self, chars: str | None = None) -> ex.ColumnExpression:
        """Remove leading and trailing ``chars`` (whitespace by default).

        >>> import reflow as pw
        >>> t = pw.debug.table_from_rows(pw.schema_from_types(s=str), [("  hi  ",)])
        >>> pw.debug.compute_and_print(t.select(x=pw.this.s.str.strip() + "|"), include_id=False)
        x
        hi|
        """
        return self._ops.strip(chars)

    def lstrip(self, chars: str | None = None) -> ex.ColumnExpression:
        """Remove leading ``chars`` (whitespace by default).

        >>> import reflow as pw
        >>> t = pw.debug.table_from_rows(pw.schema_from_types(s=str), [("xxhixx",)])
        >>> pw.debug.compute_and_print(t.select(x=pw.this.s.str.lstrip("x")), include_id=False)
        x
        hixx
        """
        return self._ops.lstrip(chars)

    def rstrip(self, chars: str | None = None) -> ex.ColumnExpression:
        """Remove trailing ``chars`` (whitespace by default).

        >>> import reflow as pw
        >>> t = pw.debug.table_from_rows(pw.schema_from_types(s=str), [("xxhixx",)])
        >>> pw.debug.compute_and_print(t.select(x=pw.this.s.str.rstrip("x")), include_id=False)
        x
        xxhi
        """
        return self._ops.rstrip(chars)

    def slice(self, start: Any, end: Any) -> ex.ColumnExpression:
        """The substring ``s[start:end]`` (negative indices count from the end; ``None`` leaves
        that side open).

        >>> import reflow as pw
        >>> t = pw.debug.table_from_markdown('''
        ... s
        ... abcdef
        ... ''')
        >>> pw.debug.compute_and_print(
        ...     t.select(a=pw.this.s.str.slice(1, 3), b=pw.this.s.str.slice(-2, 100)),
        ...     include_id=False)
        a  | b
        bc | ef
        """
        return self._ops.slice(start, end)

    def removeprefix(self, prefix: Any) -> ex.ColumnExpression:
        """The string without ``prefix`` if it starts with it.

        >>> import reflow as pw
        >>> t = pw.debug.table_from_markdown('''
        ... s
        ... abc
        ... xbc
        ... ''')
        >>> pw.debug.compute_and_print(
        ...     t.select(x=pw.this.s.str.removeprefix("ab")), include_id=False)
        x
        c
        xbc
        """
        return self._ops.removeprefix(prefix)

    def removesuffix(self, suffix: Any) -> ex.ColumnExpression:
        """The string without ``suffix`` if it ends with it.

        >>> import reflow as pw
        >>> t = pw.debug.table_from_markdown('''
        ... s
        ... abc
        ... abx
        ... ''')
        >>> pw.debug.compute_and_print(
        ...     t.select(x=pw.this.s.str.removesuffix("bc")), include_id=False)
        x
        a
        abx
        """
        return self._ops.removesuffix(suffix)

    def split(self, sep: Any = None, maxsplit: Any = -1) -> ex.ColumnExpression:
        """The words of the string, as ``str.split``: a tuple of str.

        >>> import reflow as pw
        >>> t = pw.debug.table_from_rows(pw.schema_from_types(s=str), [("a,b,c",)])
        >>> pw.debug.compute_and_print(
        ...     t.select(a=pw.this.s.str.split(","), b=pw.this.s.str.split(",", maxsplit=1)),
        ...     include_id=False)
        a               | b
        ('a', 'b', 'c') | ('a', 'b,c')
        """
        return self._ops.split(sep, maxsplit)

    def parse_int(self, optional: bool = False) -> ex.ColumnExpression:
        """Parse the string as an int; a string that is not an int is an error value.

        With ``optional=True`` such strings give ``None`` instead.

        >>> import reflow as pw
        >>> t = pw.debug.table_from_markdown('''
        ... s
        ... 42
        ... -7
        ... x
        ... ''')
        >>> pw.debug.compute_and_print(
        ...     t.select(n=pw.this.s.str.parse_int(optional=True)), include_id=False)
        n
        <BLANKLINE>
        -7
        42
        """
        return self._ops.parse_int(optional)

    def parse_float(self, optional: bool = False) -> ex.ColumnExpression:
        """Parse the string as a float; a string that is not a number is an error value.

        With ``optional=True`` such strings give ``None`` instead.

        >>> import reflow as pw
        >>> t = pw.debug.table_from_rows(pw.schema_from_types(s=str), [("2.5",), ("1e3",)])
        >>> pw.debug.compute_and_print(t.select(n=pw.this.s.str.parse_float()), include_id=False)
        n
        2.5
        1000.0
        """
        return self._ops.parse_float(optional)

    def parse_bool(
        self,
        true_values: Sequence[str] = TRUE_VALUES,
        false_values: Sequence[str] = FALSE_VALUES,
        optional: bool = False,
    ) -> ex.ColumnExpression:
        """Parse the string as a bool (case-insensitively) using ``true_values``/``false_values``.

        A string in neither list is an error value, or ``None`` with ``optional=True``.

        >>> import reflow as pw
        >>> t = pw.debug.table_from_markdown('''
        ... s
        ... Yes
        ... off
        ... ''')
        >>> pw.debug.compute_and_print(t.select(b=pw.this.s.str.parse_bool()), include_id=False)
        b
        False
        True
        """
        return self._ops.parse_bool(true_values, false_values, optional)
