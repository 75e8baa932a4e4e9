"""Stateless Table operations, including retractions flowing through them."""

import pytest

import reflow as pw
from tests.utils import T, assert_rows, rows, rows_by_id, updates


def people():
    return T(
        """
          | name  | age | city
        1 | Alice | 30  | Paris
        2 | Bob   | 17  | Oslo
        3 | Carol | 45  | Paris
        """
    )


def test_select_with_this_table_and_keywords():
    t = people()
    r = t.select(pw.this.name, t.age, older=pw.this.age + 1, label=t.name + "@" + t.city)
    assert r.column_names() == ["name", "age", "older", "label"]
    assert_rows(r, [("Alice", 30, 31, "Alice@Paris"), ("Bob", 17, 18, "Bob@Oslo"),
                    ("Carol", 45, 46, "Carol@Paris")])


def test_select_keeps_ids():
    t = people()
    assert set(rows_by_id(t.select(pw.this.name))) == set(rows_by_id(t))


def test_select_star_and_without():
    t = people()
    assert t.select(*pw.this).column_names() == ["name", "age", "city"]
    assert t.select(*t).column_names() == ["name", "age", "city"]
    assert t.select(*pw.this.without(pw.this.age)).column_names() == ["name", "city"]
    assert t.without("age", pw.this.city).column_names() == ["name"]


def test_filter_and_split():
    t = people()
    adults, minors = t.split(pw.this.age >= 18)
    assert_rows(adults.select(pw.this.name), [("Alice",), ("Carol",)])
    assert_rows(minors.select(pw.this.name), [("Bob",)])
    assert_rows(t.filter((t.age > 20) & (t.city == "Paris")).select(t.name),
                [("Alice",), ("Carol",)])


def test_with_columns_adds_and_replaces():
    t = people()
    r = t.with_columns(age=pw.this.age * 2, adult=pw.this.age >= 18)
    assert r.column_names() == ["name", "age", "city", "adult"]
    assert ("Bob", 34, "Oslo", False) in rows(r)


def test_renames_prefix_suffix_copy():
    t = people()
    assert t.rename_columns(who=pw.this.name).column_names() == ["who", "age", "city"]
    assert t.rename_by_dict({"age": "years"}).column_names() == ["name", "years", "city"]
    assert t.rename({"city": "town"}).column_names() == ["name", "age", "town"]
    assert t.rename(town=t.city).column_names() == ["name", "age", "town"]
    assert t.with_prefix("p_").column_names() == ["p_name", "p_age", "p_city"]
    assert t.with_suffix("_s").column_names() == ["name_s", "age_s", "city_s"]
    assert rows(t.copy()) == rows(t)


def test_column_access_schema_and_typehints():
    t = people()
    assert t["name"].name == "name"
    assert t[["name", "age"]].column_names() == ["name", "age"]
    assert t.schema.column_names() == ["name", "age", "city"]
    assert t.typehints() == {"name": str, "age": int, "city": str}
    with pytest.raises(AttributeError, match="no column 'nope'"):
        _ = t.nope


def test_cast_to_types_and_update_types():
    t = T(
        """
        a | b
        1 | 2.5
        """
    )
    r = t.cast_to_types(a=float, b=int)
    assert r.typehints() == {"a": float, "b": int}
    assert rows(r) == [(1.0, 2)]
    u = t.update_types(a=int | None)
    assert u.typehints()["a"] == int | None


def test_retraction_flows_through_select_and_filter():
    t = T(
        """
          | x  | __time__ | __diff__
        1 | 5  | 2        | 1
        2 | 50 | 2        | 1
        1 | 5  | 4        | -1
        1 | 60 | 4        | 1
        2 | 50 | 6        | -1
        2 | 50 | 8        | 1
        """
    )
    r = t.filter(pw.this.x > 10).select(y=pw.this.x * 10)
    assert updates(r) == sorted(
        [(500, 2, 1), (600, 4, 1), (500, 6, -1), (500, 8, 1)], key=repr
    )
    assert rows(r) == [(500,), (600,)]


def test_update_that_does_not_change_selected_column_is_not_propagated():
    t = T(
        """
          | k | v | __time__
        1 | a | 1 | 2
        1 | a | 2 | 4
        """
    )
    assert updates(t.select(pw.this.k)) == [("a", 2, 1)]


def test_with_id_from_and_pointer_from():
    t = T(
        """
        k | v
        7 | a
        8 | b
        """
    )
    r = t.with_id_from(pw.this.k)
    assert set(rows_by_id(r)) == {pw.pointer_from(7), pw.pointer_from(8)}
    p = t.select(p=t.pointer_from(pw.this.k))
    assert sorted(v[0] for v in rows(p)) == sorted([pw.pointer_from(7), pw.pointer_from(8)])
    reidx = p.with_id(pw.this.p)
    assert set(rows_by_id(reidx)) == {pw.pointer_from(7), pw.pointer_from(8)}


def test_labels_give_pointer_from_ids():
    t = T(
        """
           | v
        10 | a
        """
    )
    assert list(rows_by_id(t)) == [pw.pointer_from(10)]


def test_id_column_is_selectable():
    t = T(
        """
           | v
        10 | a
        """
    )
    assert rows(t.select(i=pw.this.id)) == [(pw.pointer_from(10),)]


def test_flatten_tuples_with_origin_and_retraction():
    schema = pw.schema_from_types(k=str, xs=list[int])
    t = pw.debug.table_from_rows(
        schema, [("a", (1, 2), 0, 1), ("b", (3,), 0, 1), ("a", (1, 2), 2, -1)], is_stream=True
    )
    f = t.flatten(pw.this.xs, origin_id="origin")
    assert f.typehints()["xs"] is int
    assert rows(f.select(pw.this.k, pw.this.xs), terminate_on_error=False) == [("b", 3)]
    assert updates(f.select(pw.this.xs), terminate_on_error=False) == sorted(
        [(1, 0, 1), (2, 0, 1), (3, 0, 1), (1, 2, -1), (2, 2, -1)], key=repr
    )


def test_flatten_json_array_and_string():
    schema = pw.schema_from_types(j=pw.Json, s=str)
    t = pw.debug.table_from_rows(schema, [(pw.Json([1, "x"]), "ab")])
    assert set(rows(t.flatten(pw.this.j).select(pw.this.j))) == {(pw.Json(1),), (pw.Json("x"),)}
    assert rows(t.flatten(pw.this.s).select(pw.this.s)) == [("a",), ("b",)]


def test_empty_table():
    e = pw.Table.empty(a=int, b=str)
    assert e.column_names() == ["a", "b"]
    assert rows(e) == []


def test_select_reads_columns_of_a_table_with_the_same_ids():
    t = T(
        """
          | a | __time__
        1 | 1 | 2
        2 | 2 | 2
        1 | 5 | 4
        """
    )
    doubled = t.select(b=pw.this.a * 2)
    both = t.select(t.a, doubled.b, s=t.a + doubled.b)
    assert rows_by_id(both) == {pw.pointer_from(1): (5, 10, 15), pw.pointer_from(2): (2, 4, 6)}
    assert updates(both) == sorted(
        [(1, 2, 3, 2, 1), (2, 4, 6, 2, 1), (1, 2, 3, 4, -1), (5, 10, 15, 4, 1)], key=repr
    )
    kept = t.filter(doubled.b > 3)
    assert kept.column_names() == ["a"]
    assert rows(kept) == [(2,), (5,)]


def test_select_from_a_table_with_other_ids_is_refused():
    t = T("a\n1")
    other = T("  | b\n5 | 2")
    with pytest.raises(pw.BuildError, match="not an input of this operation"):
        t.select(other.b)


def test_every_lazily_exported_name_resolves():
    import reflow

    for name in reflow._LAZY:
        assert getattr(reflow, name) is not None
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = reflow.nope
