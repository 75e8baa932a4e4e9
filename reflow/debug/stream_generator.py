"""``pw.debug.StreamGenerator``: tables whose rows arrive in batches, one logical time each."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from reflow.debug.tables import (
    DIFF_COLUMN,
    TIME_COLUMN,
    _RowStream,
    _table,
    table_from_markdown,
    table_from_pandas,
)
from reflow.engine.ids import hash_value_rows
from reflow.plan.errors import BuildKeyError, user_frame

if TYPE_CHECKING:
    from reflow.api.schema import Schema
    from reflow.api.table import Table

# The stream columns as the generator's inputs name them, and the names of ``pw.debug``.
_RENAMED = {"_time": TIME_COLUMN, "_diff": DIFF_COLUMN}
_WORKER = "_worker"


class StreamGenerator:
    """Builds tables from batches of rows: batch ``i`` enters at logical time ``2 * (i + 1)``.

    Rows get ids by their position over all batches (row ``i`` the id a pandas index ``i``
    gives it), so equal rows stay separate rows. Workers are a Pathway notion: the rows of
    all workers of a batch enter at the batch's time.

    >>> import reflow as pw
    >>> class S(pw.Schema):
    ...     a: int
    >>> gen = pw.debug.StreamGenerator()
    >>> t = gen.table_from_list_of_batches([[{"a": 1}, {"a": 2}], [{"a": 3}]], S)
    >>> pw.debug.compute_and_print_update_stream(t, include_id=False)
    a | __time__ | __diff__
    1 | 2        | 1
    2 | 2        | 1
    3 | 4        | 1
    """

    def table_from_list_of_batches_by_workers(
        self,
        batches: list[dict[int, list[dict[str, Any]]]],
        schema: type[Schema],
        _stacklevel: int = 1,
    ) -> Table:
        """A table from batches given per worker: ``{worker: [row, ...]}`` each.

        >>> import reflow as pw
        >>> class S(pw.Schema):
        ...     a: int
        >>> t = pw.debug.StreamGenerator().table_from_list_of_batches_by_workers(
        ...     [{0: [{"a": 1}], 1: [{"a": 2}]}, {0: [{"a": 3}]}], S)
        >>> pw.debug.compute_and_print_update_stream(t, include_id=False)
        a | __time__ | __diff__
        1 | 2        | 1
        2 | 2        | 1
        3 | 4        | 1
        """
        flat = [
            [row for worker in sorted(batch) for row in batch[worker]] for batch in batches
        ]
        return self._table_from_batches(flat, schema, user_frame())

    def table_from_list_of_batches(
        self, batches: list[list[dict[str, Any]]], schema: type[Schema], _stacklevel: int = 1
    ) -> Table:
        """A table from batches of rows (dictionaries of the schema's columns); see the class."""
        return self._table_from_batches(batches, schema, user_frame())

    def table_from_pandas(
        self,
        df: Any,
        id_from: list[str] | None = None,
        unsafe_trusted_ids: bool = False,
        schema: type[Schema] | None = None,
        _stacklevel: int = 1,
    ) -> Table:
        """``pw.debug.table_from_pandas`` where the columns ``_time`` and ``_diff`` give each
        row's logical time and diff (``_worker`` is accepted and ignored).

        >>> import pandas as pd, reflow as pw
        >>> df = pd.DataFrame({"a": [1, 2], "_time": [2, 4], "_diff": [1, 1]})
        >>> t = pw.debug.StreamGenerator().table_from_pandas(df)
        >>> pw.debug.compute_and_print_update_stream(t, include_id=False)
        a | __time__ | __diff__
        1 | 2        | 1
        2 | 4        | 1
        """
        df = df.drop(columns=[c for c in df.columns if c == _WORKER]).rename(columns=_RENAMED)
        return table_from_pandas(df, id_from, unsafe_trusted_ids, schema)

    def table_from_markdown(
        self,
        table: str,
        id_from: list[str] | None = None,
        unsafe_trusted_ids: bool = False,
        schema: type[Schema] | None = None,
        _stacklevel: int = 1,
    ) -> Table:
        """``pw.debug.table_from_markdown`` where the columns ``_time`` and ``_diff`` give
        each row's logical time and diff (``_worker`` is accepted and ignored).

        >>> import reflow as pw
        >>> t = pw.debug.StreamGenerator().table_from_markdown('''
        ... a | _time
        ... 1 | 2
        ... 2 | 4
        ... ''')
        >>> pw.debug.compute_and_print_update_stream(t, include_id=False)
        a | __time__ | __diff__
        1 | 2        | 1
        2 | 4        | 1
        """
        lines = table.strip("\n").splitlines()
        header = next((i for i, line in enumerate(lines) if line.strip()), 0)
        for old, new in _RENAMED.items():
            lines[header] = re.sub(rf"(?<![\w]){old}(?![\w])", new, lines[header])
        result = table_from_markdown("\n".join(lines), id_from, unsafe_trusted_ids, schema)
        if _WORKER in result.column_names():
            result = result.without(_WORKER)
        return result

    def persistence_config(self) -> None:
        """None: reflow needs no persistence to replay generated batches (Pathway's tests
        pass this to ``pw.run(persistence_config=...)``)."""
        return None

    def _table_from_batches(
        self, batches: Sequence[Sequence[dict[str, Any]]], schema: type[Schema], where: str
    ) -> Table:
        dtypes = schema.dtypes()
        rows: list[tuple[int, dict[str, Any]]] = []
        for number, batch in enumerate(batches):
            for row in batch:
                missing = [name for name in dtypes if name not in row]
                if missing:
                    raise BuildKeyError(
                        f"row {row!r} of batch {number} lacks the schema column "
                        f"{missing[0]!r}", where,
                    )
                rows.append((2 * (number + 1), {name: row[name] for name in dtypes}))
        ids = hash_value_rows([[position] for position in range(len(rows))])
        stream = _RowStream(dtypes)
        for row_id, (time, values) in zip(ids, rows, strict=True):
            stream.add(time, row_id, values, 1)
        return _table(dtypes, stream, where)
