"""The ``.str`` namespace: Python string semantics, None, errors and update streams."""

import pytest

import reflow as pw
from tests.utils import T, rows, updates

WORDS = [
    "Hello World", "abcabc", "", "  padded\t", "ÄäÖ öß", "x-y-z-", "ünïcödé ünï",
    "they're 2nd-bEST",
]


def words(values=WORDS, optional=False):
    schema = pw.schema_from_types(s=str | None if optional else str)
    return pw.debug.table_from_rows(schema, [(v,) for v in values])


def column(table, name):
    return sorted((r[table.column_names().index(name)] for r in rows(table)), key=repr)


def expect(values, function):
    return sorted((function(v) for v in values), key=repr)


@pytest.mark.parametrize(
    ("method", "python"),
    [
        ("lower", str.lower),
        ("upper", str.upper),
        ("swapcase", str.swapcase),
        ("title", str.title),
        ("len", len),
        ("reversed", lambda s: s[::-1]),
        ("strip", str.strip),
        ("lstrip", str.lstrip),
        ("rstrip", str.rstrip),
    ],
)
def test_no_argument_methods_match_python(method, python):
    r = words().select(v=getattr(pw.this.s.str, method)())
    assert column(r, "v") == expect(WORDS, python)


@pytest.mark.parametrize("sub", ["b", "bc", "ö", "ünï", "", "zz", "-"])
@pytest.mark.parametrize("bounds", [(), (1,), (2, 5), (-4,), (-5, -1), (3, 100), (50,), (4, 2)])
def test_find_rfind_count_match_python(sub, bounds):
    r = words().select(
        f=pw.this.s.str.find(sub, *bounds),
        rf=pw.this.s.str.rfind(sub, *bounds),
        c=pw.this.s.str.count(sub, *bounds),
    )
    got = sorted(rows(r), key=repr)
    want = sorted(
        ((w.find(sub, *bounds), w.rfind(sub, *bounds), w.count(sub, *bounds)) for w in WORDS),
        key=repr,
    )
    assert got == want


def test_find_with_end_only_and_column_arguments():
    t = T(
        """
        s      | sub | lo
        abcabc | c   | 3
        abcabc | x   | 0
        ababab | ab  | -3
        """
    )
    r = t.select(
        a=pw.this.s.str.find(pw.this.sub, pw.this.lo),
        b=pw.this.s.str.count(pw.this.sub, pw.this.lo),
        c=pw.this.s.str.find("c", None, 3),
    )
    assert sorted(rows(r)) == sorted([(5, 1, 2), (-1, 0, 2), (4, 1, -1)])


@pytest.mark.parametrize(
    ("start", "end"), [(0, 3), (1, -1), (-3, 100), (5, 2), (-100, 2), (2, 2), (None, 2), (3, None)]
)
def test_slice_matches_python(start, end):
    r = words().select(v=pw.this.s.str.slice(start, end))
    assert column(r, "v") == expect(WORDS, lambda s: s[start:end])


def test_replace_with_count_matches_python():
    r = words().select(
        a=pw.this.s.str.replace("-", "+"),
        b=pw.this.s.str.replace("-", "", 2),
        c=pw.this.s.str.replace("ünï", "X", 1),
        d=pw.this.s.str.replace("b", "B", 0),
    )
    want = [
        (w.replace("-", "+"), w.replace("-", "", 2), w.replace("ünï", "X", 1), w)
        for w in WORDS
    ]
    assert rows(r) == sorted(want, key=repr)


def test_strip_family_with_chars():
    r = words().select(
        a=pw.this.s.str.strip("-xz"), b=pw.this.s.str.lstrip("Hxa"), c=pw.this.s.str.rstrip("-z")
    )
    want = [(w.strip("-xz"), w.lstrip("Hxa"), w.rstrip("-z")) for w in WORDS]
    assert rows(r) == sorted(want, key=repr)


def test_prefix_and_suffix_methods():
    r = words().select(
        a=pw.this.s.str.startswith("ab"),
        b=pw.this.s.str.endswith("-"),
        c=pw.this.s.str.removeprefix("abc"),
        d=pw.this.s.str.removesuffix("z-"),
    )
    want = [
        (w.startswith("ab"), w.endswith("-"), w.removeprefix("abc"), w.removesuffix("z-"))
        for w in WORDS
    ]
    assert rows(r) == sorted(want, key=repr)
    assert r.typehints() == {"a": bool, "b": bool, "c": str, "d": str}


@pytest.mark.parametrize(("sep", "maxsplit"), [(None, -1), ("-", -1), ("-", 1), ("b", 0), (" ", 5)])
def test_split_matches_python(sep, maxsplit):
    r = words().select(v=pw.this.s.str.split(sep, maxsplit))
    assert column(r, "v") == expect(WORDS, lambda s: tuple(s.split(sep, maxsplit)))
    assert r.typehints()["v"] == tuple[str, ...]


def test_none_propagates_and_result_is_optional():
    t = words(["Ab", None], optional=True)
    r = t.select(
        low=pw.this.s.str.lower(),
        n=pw.this.s.str.len(),
        f=pw.this.s.str.find("b"),
        sw=pw.this.s.str.swapcase(),
        sp=pw.this.s.str.split(),
        st=pw.this.s.str.startswith("A"),
        p=pw.this.s.str.parse_int(),
    )
    assert r.typehints() == {
        "low": str | None, "n": int | None, "f": int | None, "sw": str | None,
        "sp": tuple[str, ...] | None, "st": bool | None, "p": int | None,
    }
    assert rows(r, terminate_on_error=False) == sorted(
        [("ab", 2, 1, "aB", ("Ab",), True, pw.ERROR), (None,) * 7], key=repr
    )


def test_parse_int_and_float():
    values = ["42", " -7 ", "+3", "2.5", "1e3", "x", "", "nan", "1_000"]
    t = words(values)
    r = t.select(
        pw.this.s,
        i=pw.this.s.str.parse_int(optional=True),
        f=pw.this.s.str.parse_float(optional=True),
    )
    got = {s: (i, f) for s, i, f in rows(r)}
    assert got["42"] == (42, 42.0)
    assert got[" -7 "] == (-7, -7.0)
    assert got["+3"] == (3, 3.0)
    assert got["2.5"] == (None, 2.5)
    assert got["1e3"] == (None, 1000.0)
    assert got["x"] == (None, None)
    assert got[""] == (None, None)
    assert got["1_000"] == (None, None)
    assert got["nan"][0] is None and got["nan"][1] != got["nan"][1]
    assert r.typehints() == {"s": str, "i": int | None, "f": float | None}


def test_failed_parse_is_an_error_value_and_logged():
    t = words(["12", "twelve"])
    r = t.select(pw.this.s, i=pw.this.s.str.parse_int(), f=pw.this.s.str.parse_float())
    log = pw.global_error_log()
    assert r.typehints() == {"s": str, "i": int, "f": float}
    assert rows(r, terminate_on_error=False) == [("12", 12, 12.0), ("twelve", pw.ERROR, pw.ERROR)]
    messages = sorted(m for _, m, _ in rows(log, terminate_on_error=False))
    assert len(messages) == 2
    assert "str.parse_float" in messages[0] and "test_str.py" in messages[0]
    assert "str.parse_int" in messages[1] and "not an int" in messages[1]


def test_parse_bool_default_and_custom_values():
    t = words(["True", "no", "1", "maybe", "Y"])
    r = t.select(
        pw.this.s,
        a=pw.this.s.str.parse_bool(optional=True),
        b=pw.this.s.str.parse_bool(true_values=["y"], false_values=["n", "maybe"]),
    )
    assert rows(r, terminate_on_error=False) == sorted(
        [
            ("1", True, pw.ERROR),
            ("True", True, pw.ERROR),
            ("Y", None, True),
            ("maybe", None, False),
            ("no", False, pw.ERROR),
        ],
        key=repr,
    )


def test_error_values_pass_through_string_methods():
    t = words(["5", "x"])
    r = t.select(v=pw.this.s.str.parse_int().to_string().str.upper())
    assert rows(r, terminate_on_error=False) == sorted([("5",), (pw.ERROR,)], key=repr)


@pytest.mark.parametrize(
    "build",
    [
        lambda c: c.str.lower(),
        lambda c: c.str.len(),
        lambda c: c.str.find("a"),
        lambda c: c.str.split(),
        lambda c: c.str.parse_int(),
        lambda c: c.str.swapcase(),
    ],
)
def test_string_method_on_int_column_fails_at_build_time(build):
    t = T(
        """
        n
        1
        """
    )
    with pytest.raises(pw.BuildError, match="expected a str column, got INT"):
        t.select(v=build(pw.this.n))


def test_wrong_argument_type_fails_at_build_time():
    t = words(["a"])
    with pytest.raises(pw.BuildError, match=r"str\.startswith: argument 1 must be STR, got INT"):
        t.select(v=pw.this.s.str.startswith(1))


def test_update_stream_retraction_flows_through_string_methods():
    t = T(
        """
          | s     | __time__ | __diff__
        1 | Hello | 2        | 1
        2 | 17    | 2        | 1
        1 | Hello | 4        | -1
        1 | Bye   | 4        | 1
        2 | 17    | 6        | -1
        2 | x     | 8        | 1
        """
    )
    r = t.select(
        u=pw.this.s.str.upper(),
        n=pw.this.s.str.parse_int(optional=True),
        e=pw.this.s.str.parse_int(),
    )
    assert updates(r, terminate_on_error=False) == sorted(
        [
            ("HELLO", None, pw.ERROR, 2, 1),
            ("17", 17, 17, 2, 1),
            ("HELLO", None, pw.ERROR, 4, -1),
            ("BYE", None, pw.ERROR, 4, 1),
            ("17", 17, 17, 6, -1),
            ("X", None, pw.ERROR, 8, 1),
        ],
        key=repr,
    )
    expected = [("BYE", None, pw.ERROR), ("X", None, pw.ERROR)]
    assert rows(r, terminate_on_error=False) == sorted(expected, key=repr)


def test_column_arguments_per_row():
    t = T(
        """
        s       | p   | n
        abcabc  | ab  | 1
        xyzxyz  | yz  | 4
        """
    )
    r = t.select(
        pw.this.s,
        st=pw.this.s.str.startswith(pw.this.p),
        rp=pw.this.s.str.removeprefix(pw.this.p),
        re=pw.this.s.str.replace(pw.this.p, "-"),
        re2=pw.this.s.str.replace("c", pw.this.p, 1),
        sl=pw.this.s.str.slice(pw.this.n, pw.this.n + 2),
        strip=pw.this.s.str.strip(pw.this.p),
    )
    assert rows(r) == [
        ("abcabc", True, "cabc", "-c-c", "abababc", "bc", "cabc"),
        ("xyzxyz", False, "xyzxyz", "x-x-", "xyzxyz", "yz", "xyzx"),
    ]


def test_column_search_arguments_without_bounds():
    t = T(
        """
        s       | p
        abcabc  | bc
        xyzxyz  | q
        """
    )
    r = t.select(
        c=pw.this.s.str.count(pw.this.p),
        f=pw.this.s.str.find(pw.this.p),
        rf=pw.this.s.str.rfind(pw.this.p),
        e=pw.this.s.str.endswith(pw.this.p),
        rs=pw.this.s.str.removesuffix(pw.this.p),
        sp=pw.this.s.str.split(pw.this.p),
        sp2=pw.this.s.str.split("b", pw.this.s.str.len() - 5),
    )
    assert rows(r) == [
        (0, -1, -1, False, "xyzxyz", ("xyzxyz",), ("xyzxyz",)),
        (2, 1, 4, True, "abca", ("a", "a", ""), ("a", "cabc")),
    ]
