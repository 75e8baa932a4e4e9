"""``pw.sql``: SQL queries over tables, kept up to date like any other table."""

from __future__ import annotations

import pytest

import reflow as pw
from tests.utils import rows, updates


def orders() -> pw.Table:
    return pw.debug.table_from_markdown(
        """
          | customer | amount | city | __time__
        1 | alice    | 10     | x    | 2
        2 | bob      | 4      | y    | 2
        3 | alice    | 7      | x    | 2
        2 | bob      | 40     | y    | 4
        """
    )


def cities() -> pw.Table:
    return pw.debug.table_from_markdown(
        """
        city | name
        x    | Paris
        y    | Oslo
        """
    )


def test_select_where_with_expressions_and_aliases():
    result = pw.sql(
        "SELECT customer, amount * 2 AS double FROM o WHERE amount > 5 AND city = 'x'",
        o=orders(),
    )
    assert rows(result) == [("alice", 14), ("alice", 20)]


def test_group_by_with_aggregates_and_having_follows_updates():
    result = pw.sql(
        "SELECT customer, SUM(amount) AS total, COUNT(*) AS n, MAX(amount) AS top "
        "FROM o GROUP BY customer HAVING SUM(amount) > 5",
        o=orders(),
    )
    assert rows(result) == [("alice", 17, 2, 10), ("bob", 40, 1, 40)]
    assert ("bob", 40, 1, 40, 4, 1) in updates(result)


def test_join_on_equality_with_table_aliases():
    result = pw.sql(
        "SELECT o.customer, c.name FROM o JOIN c ON o.city = c.city WHERE o.amount < 20",
        o=orders(), c=cities(),
    )
    assert rows(result) == [("alice", "Paris"), ("alice", "Paris")]


def test_union_case_in_and_null_tests():
    t = pw.debug.table_from_markdown(
        """
        a | b
        1 |
        5 | 2
        """
    )
    result = pw.sql(
        "SELECT CASE WHEN a > 2 THEN 'big' ELSE 'small' END AS size FROM t WHERE b IS NULL "
        "UNION ALL SELECT 'listed' AS size FROM t WHERE a IN (5, 6)",
        t=t,
    )
    assert rows(result) == [("listed",), ("small",)]


def test_mistakes_are_reported_with_the_standard_types():
    with pytest.raises(KeyError, match="no table"):
        pw.sql("SELECT a FROM missing", t=orders())
    with pytest.raises(KeyError, match="no column"):
        pw.sql("SELECT nope FROM o", o=orders())
    with pytest.raises(ValueError, match="GROUP BY"):
        pw.sql("SELECT city, SUM(amount) AS s FROM o GROUP BY customer", o=orders())
    with pytest.raises(ValueError, match="parse"):
        pw.sql("SELEC a FRM", o=orders())


def test_unsupported_clauses_are_refused_not_ignored():
    for query in ("SELECT city FROM o ORDER BY city", "SELECT city FROM o LIMIT 1",
                  "SELECT DISTINCT city FROM o"):
        with pytest.raises(ValueError, match="not supported"):
            pw.sql(query, o=orders())
