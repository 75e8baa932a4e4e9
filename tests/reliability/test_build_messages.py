"""Build-time errors name the column and the user's line (issue class 12)."""

import pytest

import reflow as pw

HERE = __file__


def _table():
    return pw.debug.table_from_markdown(
        """
        a | s
        1 | x
        """
    )


def _line_of(marker: str) -> int:
    with open(HERE) as handle:
        for number, line in enumerate(handle, start=1):
            if marker in line and "_line_of" not in line:
                return number
    raise AssertionError(marker)


def test_join_on_an_unknown_column():
    t, u = _table(), _table()
    with pytest.raises(pw.BuildError) as info:
        t.join(u, pw.left.a == pw.right.nope)  # join-unknown
    assert "'nope'" in str(info.value)
    assert f"{HERE}:{_line_of('# join-unknown')}" in str(info.value)
    with pytest.raises(AttributeError) as info:
        t.join(u, t.nope == u.a)  # attr-unknown
    assert "'nope'" in str(info.value)
    assert f"{HERE}:{_line_of('# attr-unknown')}" in str(info.value)


def test_csv_read_without_a_schema(tmp_path):
    with pytest.raises(ValueError) as info:
        pw.io.csv.read(tmp_path, mode="static")  # no-schema
    assert "needs a schema" in str(info.value)
    assert f"{HERE}:{_line_of('# no-schema')}" in str(info.value)


def test_non_bool_filter_names_the_column():
    t = _table()
    with pytest.raises(pw.BuildError) as info:
        t.filter(pw.this.a)  # non-bool
    assert "column 'a'" in str(info.value) and "INT" in str(info.value)
    assert f"{HERE}:{_line_of('# non-bool')}" in str(info.value)


def test_numeric_reducer_on_a_str_column_names_it():
    t = _table()
    with pytest.raises(pw.BuildError) as info:
        t.reduce(x=pw.reducers.sum(pw.this.s))  # sum-str
    assert "sum(column 's')" in str(info.value) and "STR" in str(info.value)
    assert f"{HERE}:{_line_of('# sum-str')}" in str(info.value)
