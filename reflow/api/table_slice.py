"""``Table.slice``: a set of a table's columns under names of the user's choice."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from reflow.plan import expr as ex
from reflow.plan.errors import BuildKeyError


class TableSlice:
    """Named column references of one table; unpack it into ``select`` with ``**``.

    >>> import reflow as pw
    >>> t = pw.debug.table_from_markdown('''
    ... a | b
    ... 1 | 2
    ... ''')
    >>> pw.debug.compute_and_print(t.select(**t.slice.without("a").with_prefix("p_")),
    ...                            include_id=False)
    p_b
    2
    """

    def __init__(self, mapping: dict[str, ex.ColumnReference], table: Any) -> None:
        self._mapping = dict(mapping)
        self._table = table

    def keys(self) -> list[str]:
        return list(self._mapping)

    def __iter__(self) -> Iterator[ex.ColumnReference]:
        return iter(self._mapping.values())

    def __len__(self) -> int:
        return len(self._mapping)

    def __getitem__(self, name: str | list[str]) -> Any:
        if isinstance(name, list):
            return TableSlice({n: self[n] for n in name}, self._table)
        if name not in self._mapping:
            raise BuildKeyError(f"no column {name!r} in {self!r}")
        return self._mapping[name]

    def __getattr__(self, name: str) -> ex.ColumnReference:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self._mapping[name]
        except KeyError:
            raise AttributeError(f"no column {name!r} in {self!r}") from None

    def _names(self, columns: tuple) -> list[str]:
        names = [c if isinstance(c, str) else c.name for c in columns]
        missing = [n for n in names if n not in self._mapping]
        if missing:
            raise BuildKeyError(f"no columns {missing} in {self!r}")
        return names

    def without(self, *columns: Any) -> TableSlice:
        """The slice without some columns."""
        dropped = set(self._names(columns))
        return TableSlice(
            {n: c for n, c in self._mapping.items() if n not in dropped}, self._table
        )

    def rename(self, mapping: dict[Any, str]) -> TableSlice:
        """The slice with some columns renamed (``{old: new}``)."""
        renames = dict(zip(self._names(tuple(mapping)), mapping.values(), strict=True))
        return TableSlice(
            {renames.get(n, n): c for n, c in self._mapping.items()}, self._table
        )

    def with_prefix(self, prefix: str) -> TableSlice:
        return TableSlice({prefix + n: c for n, c in self._mapping.items()}, self._table)

    def with_suffix(self, suffix: str) -> TableSlice:
        return TableSlice({n + suffix: c for n, c in self._mapping.items()}, self._table)

    def __repr__(self) -> str:
        return f"TableSlice({', '.join(self._mapping)})"
