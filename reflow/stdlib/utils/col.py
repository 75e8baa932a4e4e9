"""Column utilities: unpack a tuple column, majority value per group.

>>> import reflow as pw
>>> t = pw.debug.table_from_markdown('''
... g | v
... a | x
... a | x
... a | y
... ''')
>>> pw.debug.compute_and_print(groupby_reduce_majority(t.g, t.v), include_id=False)
g | majority
a | x
"""

from __future__ import annotations

from typing import Any

from reflow.plan import dtypes as dt
from reflow.plan import expr as ex
from reflow.plan.errors import BuildError, user_frame


def unpack_col(column: Any, *unpacked_columns: Any, schema: Any = None) -> Any:
    """A table with one column per position of the tuple column ``column``, named by
    ``unpacked_columns`` (names or ``pw.this.name``) or by ``schema``'s columns; ids are kept.

    >>> import reflow as pw
    >>> t = pw.debug.table_from_markdown('''
    ... name | age
    ... Ann  | 31
    ... ''').select(pair=pw.make_tuple(pw.this.name, pw.this.age))
    >>> pw.debug.compute_and_print(unpack_col(t.pair, "who", "years"), include_id=False)
    who | years
    Ann | 31
    """
    where = user_frame()
    table = getattr(column, "table", None)
    if not isinstance(column, ex.ColumnReference) or table is None:
        raise BuildError(f"unpack_col needs a column of a table, got {column!r}", where)
    if schema is not None:
        if unpacked_columns:
            raise BuildError("unpack_col takes column names or schema=, not both", where)
        names = list(schema.column_names())
        types = schema._dtypes() if hasattr(schema, "_dtypes") else None
    else:
        names = [getattr(c, "name", c) for c in unpacked_columns]
        types = None
    for name in names:
        if not isinstance(name, str):
            raise BuildError(f"unpack_col: column names must be str or pw.this.name, got "
                             f"{name!r}", where)
    dtype = table._node.columns[column.name].dtype.strip_optional()
    if isinstance(dtype, dt.Tuple) and len(dtype.args) != len(names):
        raise BuildError(f"unpack_col: column {column.name!r} holds tuples of "
                         f"{len(dtype.args)} values, but {len(names)} names were given", where)
    outputs: dict[str, Any] = {}
    for i, name in enumerate(names):
        value = column[i]
        if types is not None:
            value = value if types[name] == dt.ANY else _declare(value, types[name])
        outputs[name] = value
    return table.select(**outputs)


def _declare(value: Any, dtype: dt.DType) -> Any:
    from reflow.api.functions import declare_type

    return declare_type(dtype, value)


def groupby_reduce_majority(column_group: Any, column_val: Any) -> Any:
    """Per value of ``column_group``, the most frequent value of ``column_val`` (ties go to
    the largest value), in a column ``majority``; one row per group, keyed like ``groupby``."""
    from reflow.stdlib import _names as pw

    table = column_group.table
    counts = table.groupby(column_group, column_val).reduce(
        _pw_group=column_group, _pw_value=column_val, _pw_count=pw.reducers.count())
    best = counts.groupby(counts["_pw_group"]).reduce(
        counts["_pw_group"],
        _pw_best=pw.reducers.max(pw.make_tuple(counts["_pw_count"], counts["_pw_value"])))
    return best.select(**{column_group.name: best["_pw_group"],
                          "majority": best["_pw_best"][1]})
