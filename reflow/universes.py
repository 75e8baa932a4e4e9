"""``pw.universes``: promises about the ids of tables, in function form."""

from __future__ import annotations

from reflow.api.table import Table


def promise_is_subset_of(subset: Table, superset: Table) -> None:
    """Declare that every id of ``subset`` is an id of ``superset``.

    >>> import reflow as pw
    >>> a = pw.debug.table_from_markdown('''
    ...   | x
    ... 1 | 10
    ... ''')
    >>> b = pw.debug.table_from_markdown('''
    ...   | y
    ... 1 | 11
    ... 2 | 20
    ... ''')
    >>> pw.universes.promise_is_subset_of(a, b)
    >>> pw.debug.compute_and_print(a.select(pw.this.x, y=b.restrict(a).y), include_id=False)
    x  | y
    10 | 11
    """
    subset.promise_universe_is_subset_of(superset)


def promise_are_equal(*tables: Table) -> None:
    """Declare that all ``tables`` have the same ids."""
    for table in tables[1:]:
        tables[0].promise_universe_is_equal_to(table)


def promise_are_pairwise_disjoint(*tables: Table) -> None:
    """Declare that no two of ``tables`` share an id."""
    for i, table in enumerate(tables):
        for other in tables[i + 1 :]:
            table.promise_universes_are_disjoint(other)
