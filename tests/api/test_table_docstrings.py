"""Every public ``Table`` method, including those the packages built on it attach, documents
itself with a runnable example (the examples run with the suite as doctests)."""

import inspect

import reflow as pw
import reflow.temporal  # replaces the placeholders of Table.windowby, ... by the methods
import reflow.udfs  # attaches Table.await_futures


def _documented(name: str) -> str:
    member = inspect.getattr_static(pw.Table, name)
    if isinstance(member, (staticmethod, classmethod)):
        member = member.__func__
    if isinstance(member, property):
        member = member.fget
    return getattr(member, "__doc__", None) or ""


def test_every_public_table_method_has_a_docstring_with_an_example():
    names = [name for name in dir(pw.Table) if not name.startswith("_")]
    assert {"select", "windowby", "await_futures", "empty", "debug"} <= set(names)
    missing = [name for name in names if ">>>" not in _documented(name)]
    assert not missing, f"Table members without a docstring example: {missing}"
