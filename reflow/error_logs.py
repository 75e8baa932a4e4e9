"""``pw.local_error_log()``: the run-time errors of the operators built inside one scope."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from reflow.api.table import Table
from reflow.plan.nodes import pop_error_scope, push_error_scope
from reflow.runtime.error_log import local_error_log_node


class _Scope:
    """The identity of one ``local_error_log()`` block."""


@contextmanager
def local_error_log() -> Iterator[Table]:
    """A table of the run-time errors of the operators built inside the ``with`` block.

    Those errors go to this log instead of ``pw.global_error_log()``; errors of operators
    built outside go on to the enclosing log. The columns are those of the global log
    (``operator``, ``message``, ``row_id``).

    >>> import reflow as pw
    >>> t = pw.debug.table_from_markdown('''
    ... a | b
    ... 6 | 2
    ... 1 | 0
    ... ''')
    >>> with pw.local_error_log() as log:
    ...     q = t.select(q=pw.this.a // pw.this.b)
    >>> messages = pw.debug.table_to_dicts(log, terminate_on_error=False)[1]["message"]
    >>> ["division by zero" in m for m in messages.values()]
    [True]
    """
    scope = _Scope()
    log = Table(local_error_log_node(scope))
    push_error_scope(scope)
    try:
        yield log
    finally:
        pop_error_scope(scope)
