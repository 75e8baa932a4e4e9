"""ix, ix_ref and having: lookups by id that follow changes of both tables."""

from __future__ import annotations

import pytest

import reflow as pw
from tests.utils import T, rows, rows_by_id, updates


def _owners(stream: str | None = None) -> pw.Table:
    return T(
        stream
        or """
        key | name
        1   | Alice
        2   | Bob
        """
    ).with_id_from(pw.this.key)


def _pets(owners: pw.Table, stream: str) -> pw.Table:
    return T(stream).select(pw.this.pet, owner=owners.pointer_from(pw.this.owner))


def test_ix_looks_up_rows_and_keeps_the_context_ids():
    owners = _owners()
    pets = _pets(
        owners,
        """
        pet | owner
        dog | 1
        cat | 2
        """,
    )
    result = pets.select(pw.this.pet, name=owners.ix(pets.owner).name)
    assert rows(result) == [("cat", "Bob"), ("dog", "Alice")]
    assert set(rows_by_id(result)) == set(rows_by_id(pets))


def test_ix_follows_updates_of_both_tables():
    owners = _owners(
        """
          | key | name  | __time__ | __diff__
        1 | 1   | Alice | 2        | 1
        2 | 2   | Bob   | 2        | 1
        1 | 1   | Alice | 6        | -1
        1 | 1   | Alicia| 6        | 1
        """
    )
    pets = _pets(
        owners,
        """
          | pet | owner | __time__
        1 | dog | 1     | 2
        1 | dog | 2     | 4
        1 | dog | 1     | 8
        """,
    )
    result = pets.select(pw.this.pet, name=owners.ix(pets.owner).name)
    assert updates(result) == sorted(
        [
            ("dog", "Alice", 2, 1),
            ("dog", "Alice", 4, -1), ("dog", "Bob", 4, 1),
            ("dog", "Bob", 8, -1), ("dog", "Alicia", 8, 1),
        ],
        key=repr,
    )


def test_missing_row_is_an_error_and_recovers_when_it_comes_back():
    owners = _owners(
        """
          | key | name  | __time__ | __diff__
        1 | 1   | Alice | 2        | 1
        1 | 1   | Alice | 4        | -1
        1 | 1   | Alice | 6        | 1
        """
    )
    pets = _pets(
        owners,
        """
        pet | owner | __time__
        dog | 1     | 2
        """,
    )
    result = pets.select(pw.this.pet, name=owners.ix(pets.owner).name)
    assert updates(result, terminate_on_error=False) == sorted(
        [
            ("dog", "Alice", 2, 1),
            ("dog", "Alice", 4, -1), ("dog", pw.ERROR, 4, 1),
            ("dog", pw.ERROR, 6, -1), ("dog", "Alice", 6, 1),
        ],
        key=repr,
    )


def test_allow_misses_gives_none():
    owners = _owners()
    pets = _pets(
        owners,
        """
        pet  | owner
        dog  | 1
        fish | 7
        """,
    )
    result = pets.select(pw.this.pet, name=owners.ix(pets.owner, allow_misses=True).name)
    assert rows(result) == [("dog", "Alice"), ("fish", None)]
    assert result.typehints()["name"] == str | None


def test_optional_pointer_gives_none_for_none():
    owners = _owners()
    pets = T(
        """
        pet  | owner
        dog  | 2
        fish | None
        """
    ).select(pw.this.pet, owner=owners.pointer_from(pw.this.owner, optional=True))
    result = pets.select(pw.this.pet, name=owners.ix(pets.owner, optional=True).name)
    assert rows(result) == [("dog", "Bob"), ("fish", None)]


def test_optional_pointer_without_optional_is_a_build_error():
    owners = _owners()
    pets = T(
        """
        pet  | owner
        fish | None
        dog  | 1
        """
    ).select(pw.this.pet, owner=owners.pointer_from(pw.this.owner, optional=True))
    with pytest.raises(pw.BuildError, match="optional=True"):
        pets.select(name=owners.ix(pets.owner).name)


def test_ix_with_this_pointer_and_expressions():
    owners = _owners()
    pets = _pets(
        owners,
        """
        pet | owner
        dog | 1
        """,
    )
    result = pets.select(
        label=pw.this.pet + "/" + owners.ix(pw.this.owner).name,
        key2=owners.ix(pw.this.owner).key * 2,
    )
    assert rows(result) == [("dog/Alice", 2)]


def test_ix_table_can_be_computed_directly():
    owners = _owners()
    pets = _pets(
        owners,
        """
        pet | owner
        dog | 1
        cat | 2
        """,
    )
    looked_up = owners.ix(pets.owner)
    assert looked_up.column_names() == ["key", "name"]
    assert rows_by_id(looked_up) == {
        pid: ((1, "Alice") if pet == "dog" else (2, "Bob"))
        for pid, (pet, _) in rows_by_id(pets).items()
    }


def test_ix_ref_by_key_values_and_literals():
    prices = T(
        """
          | item  | price | __time__
        1 | apple | 3     | 2
        2 | pear  | 5     | 2
        1 | apple | 4     | 4
        """
    ).with_id_from(pw.this.item)
    orders = T(
        """
        item  | qty | __time__
        apple | 2   | 2
        pear  | 1   | 2
        """
    )
    cost = orders.select(pw.this.item, cost=pw.this.qty * prices.ix_ref(pw.this.item).price)
    assert updates(cost) == sorted(
        [("apple", 6, 2, 1), ("pear", 5, 2, 1), ("apple", 6, 4, -1), ("apple", 8, 4, 1)],
        key=repr,
    )
    fixed = orders.select(pw.this.item, pear=prices.ix_ref("pear").price)
    assert rows(fixed) == [("apple", 5), ("pear", 5)]


def test_ix_ref_inside_own_table():
    t = T(
        """
        name  | pet
        Alice | dog
        Bob   | cat
        """
    ).with_id_from(pw.this.name)
    result = t.select(pw.this.name, alice_pet=t.ix_ref("Alice").pet)
    assert rows(result) == [("Alice", "dog"), ("Bob", "dog")]


def test_ix_ref_with_instance():
    t = T(
        """
        k | inst | v
        1 | a    | x
        1 | b    | y
        """
    ).with_id_from(pw.this.k, instance=pw.this.inst)
    q = T(
        """
        k | inst
        1 | b
        """
    )
    result = q.select(v=t.ix_ref(pw.this.k, instance=pw.this.inst).v)
    assert rows(result) == [("y",)]


def test_having_keeps_rows_whose_pointers_exist_and_follows_updates():
    users = T(
        """
          | uid | name  | __time__ | __diff__
        1 | 1   | Alice | 2        | 1
        2 | 2   | Bob   | 4        | 1
        1 | 1   | Alice | 6        | -1
        """
    ).with_id_from(pw.this.uid)
    posts = T(
        """
        text  | uid
        hello | 1
        hi    | 2
        """
    ).select(pw.this.text, author=users.pointer_from(pw.this.uid))
    kept = users.having(posts.author)
    assert kept.column_names() == ["text", "author"]
    assert updates(kept.select(pw.this.text)) == sorted(
        [("hello", 2, 1), ("hi", 4, 1), ("hello", 6, -1)], key=repr
    )
    assert set(rows_by_id(kept)) <= set(rows_by_id(posts))


def test_unknown_column_of_ix_is_a_build_error():
    owners = _owners()
    pets = _pets(
        owners,
        """
        pet | owner
        dog | 1
        """,
    )
    with pytest.raises(pw.BuildError, match="no column 'age'"):
        pets.select(a=owners.ix(pets.owner).age)


def test_ix_needs_a_pointer():
    owners = _owners()
    pets = T(
        """
        pet | owner
        dog | 1
        """
    )
    with pytest.raises(pw.BuildError, match="Pointer"):
        pets.select(a=owners.ix(pets.owner).name)


def test_two_lookups_in_one_select_with_table_references():
    owners = _owners()
    cities = T(
        """
          | code | city  | __time__
        1 | 1    | Paris | 2
        1 | 1    | Lyon  | 4
        """
    ).with_id_from(pw.this.code)
    pets = T(
        """
        pet | owner | home
        dog | 1     | 1
        """
    ).select(
        pw.this.pet,
        owner=owners.pointer_from(pw.this.owner),
        home=cities.pointer_from(pw.this.home),
    )
    result = pets.select(
        pets.pet,
        me=pets.id,
        who=owners.ix(pets.owner).name,
        where=cities.ix(pets.home, allow_misses=True).city,
    )
    by_id = rows_by_id(result)
    assert set(by_id) == set(rows_by_id(pets))
    assert [row[0] for row in by_id.values()] == ["dog"]
    assert all(row[1] == row_id for row_id, row in by_id.items())
    assert updates(result.select(pw.this.who, pw.this.where)) == sorted(
        [("Alice", None, 0, 1), ("Alice", None, 2, -1), ("Alice", "Paris", 2, 1),
         ("Alice", "Paris", 4, -1), ("Alice", "Lyon", 4, 1)],
        key=repr,
    )
