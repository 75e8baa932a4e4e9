"""Rules that keep reflow's layers apart: which package may import which, and no import cycle.

Run ``python tests/test_layers.py`` to print the import cycles of ``reflow/`` (none, we hope).

Every ``import`` statement of a package counts for the layer rules, including those inside
functions and under ``if TYPE_CHECKING:``: a lazy import is still a dependency. The one
exception is ``TYPING_ONLY``: connectors and ``debug`` name ``Table``/``Schema`` in
annotations only.

For cycles, an import counts when it runs: module-level imports always, imports inside
functions (lazy imports) when they cross from one package (directory) to another, never those
under ``TYPE_CHECKING``. So a lazy import cannot hide a cycle between packages (``api`` calling
up into ``temporal``, an expression module and its namespaces); inside one package a method
may still delegate to a sibling module built on its class (``Table.groupby`` importing
``api/groupby.py``, which imports ``Table``), which is how ``api`` and ``temporal`` split
their large classes into files.
"""

from __future__ import annotations

import ast
import functools
import pathlib
import sys
from dataclasses import dataclass

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent / "reflow"

# package -> the reflow packages (or single modules) its modules may import. The packages
# built on the Table's methods (temporal, udfs) sit above the API; io and debug only hand out
# tables, through ``reflow.plan.tables``, and sit beside runtime; the API sees the plan and
# the engine's value types only; the plan sees the engine; the engine nothing above it.
ALLOWED: dict[str, set[str]] = {
    "engine": {"engine"},
    "plan": {"plan", "engine"},
    "runtime": {"runtime", "plan", "engine"},
    "api": {"api", "plan", "engine.values"},
    "io": {"io", "runtime", "plan", "engine"},
    "debug": {"debug", "runtime", "plan", "engine"},
    "temporal": {"temporal", "io", "api", "runtime", "plan", "engine"},
    "udfs": {"udfs", "api", "runtime", "plan", "engine"},
    "indexing": {"indexing", "api", "plan", "engine"},
    "stdlib": {"stdlib", "indexing", "api", "plan", "engine"},
    "persistence": {"persistence", "runtime"},
}

# Imports a package may make only under ``if TYPE_CHECKING:``, to name a type in annotations:
# connectors and the debug helpers take and return the user's ``Table``s and read
# ``Schema``s, but build them through ``reflow.plan.tables`` and never load the API themselves.
TYPING_ONLY: dict[str, set[str]] = {
    "io": {"api.table", "api.schema"},
    "debug": {"api.table", "api.schema"},
}

# Libraries built on all of the above (some not written yet): they use the public layers and
# each other, and nothing below imports them.
LIBRARIES = {"indexing", "stdlib", "sql", "iterate"}
for _library in LIBRARIES:
    ALLOWED[_library] = {
        "api", "runtime", "plan", "engine", "io", "debug", "temporal", "udfs", *LIBRARIES
    }
CORE = {"engine", "plan", "runtime", "api", "io", "debug", "temporal", "udfs"}


@dataclass(frozen=True)
class Import:
    file: pathlib.Path
    line: int
    target: str  # the imported reflow module (or package) name
    kind: str  # "module" (runs on load), "function" (lazy) or "typing" (TYPE_CHECKING only)
    name: str | None  # the name imported by ``from ... import name``


def module_name(path: pathlib.Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(test: ast.expr) -> bool:
    """``if TYPE_CHECKING:`` or ``if typing.TYPE_CHECKING:``."""
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _parsed(path: pathlib.Path) -> ast.Module:
    return _parse(path, path.stat().st_mtime_ns)


@functools.cache
def _parse(path: pathlib.Path, mtime: int) -> ast.Module:
    return ast.parse(path.read_text(), str(path))


def _is_module(name: str) -> bool:
    return _exists(ROOT, name)


@functools.cache
def _exists(root: pathlib.Path, name: str) -> bool:
    base = root.parent.joinpath(*name.split("."))
    return base.with_suffix(".py").exists() or (base / "__init__.py").exists()


def imports_of(path: pathlib.Path) -> list[Import]:
    """The reflow imports of one file, each with its line and when it runs."""
    return _imports_of(ROOT, path, path.stat().st_mtime_ns)


@functools.cache
def _imports_of(root: pathlib.Path, path: pathlib.Path, mtime: int) -> list[Import]:
    package = _package_of(path)
    found: list[Import] = []

    def visit(statements: list, kind: str) -> None:
        # Imports are statements: only statement bodies are walked, not expressions.
        for child in statements:
            if isinstance(child, (ast.ExceptHandler, ast.match_case)):
                visit(child.body, kind)
                continue
            level = kind
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                level = "typing" if kind == "typing" else "function"
            elif isinstance(child, ast.If) and _is_type_checking(child.test):
                visit(child.body, "typing")
                visit(child.orelse, kind)
                continue
            if isinstance(child, ast.Import):
                for alias in child.names:
                    if alias.name.split(".")[0] == "reflow":
                        found.append(Import(path, child.lineno, alias.name, level, None))
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")[: len(package.split(".")) - child.level + 1]
                    source = ".".join([*base, *([child.module] if child.module else [])])
                else:
                    source = child.module or ""
                if source.split(".")[0] == "reflow":
                    for alias in child.names:
                        submodule = f"{source}.{alias.name}"
                        target = submodule if _is_module(submodule) else source
                        found.append(Import(path, child.lineno, target, level, alias.name))
            for field in ("body", "orelse", "finalbody", "handlers", "cases"):
                visit(getattr(child, field, None) or [], level)

    visit(_parsed(path).body, "module")
    return found


def all_imports() -> list[Import]:
    return [imp for path in sorted(ROOT.rglob("*.py")) for imp in imports_of(path)]


def _allowed(package: str, target: str, rules: dict[str, set[str]] = ALLOWED) -> bool:
    parts = target.split(".")[1:]  # without "reflow"
    if not parts:
        return False  # the whole package: only its own __init__ may gather everything
    return any(
        ".".join(parts[: len(rule.split("."))]) == rule for rule in rules.get(package, ())
    )


def _allowed_for_typing(package: str, target: str) -> bool:
    return _allowed(package, target, TYPING_ONLY)


def layer_violations() -> list[str]:
    problems = []
    for path in sorted(ROOT.rglob("*.py")):
        problems.extend(_private_names_from_other_packages(path))
    for imp in all_imports():
        relative = imp.file.relative_to(ROOT.parent)
        if len(relative.parts) < 3:
            continue  # reflow/__init__.py assembles the public names from every layer
        package = relative.parts[1]
        if package not in ALLOWED:
            problems.append(f"{relative}: package {package!r} has no entry in ALLOWED")
        elif imp.kind == "typing" and _allowed_for_typing(package, imp.target):
            continue
        elif not _allowed(package, imp.target):
            problems.append(
                f"{relative}:{imp.line}: {package} may not import {imp.target} "
                f"(allowed: {', '.join(sorted(ALLOWED[package]))})"
            )
    return problems


def _package_of(path: pathlib.Path) -> str:
    return module_name(path.parent / "__init__.py")


def _package_of_module(name: str) -> str:
    base = ROOT.parent.joinpath(*name.split("."))
    return name if (base / "__init__.py").exists() else name.rpartition(".")[0]


def _private_names_from_other_packages(path: pathlib.Path) -> list[str]:
    """``from reflow.<other package>... import _name``: a private name crossing packages."""
    relative = path.relative_to(ROOT.parent)
    if len(relative.parts) < 3:
        return []
    own = relative.parts[1]
    problems = []
    for imp in imports_of(path):
        source = imp.target if imp.name is None or not imp.target.endswith("." + imp.name) \
            else imp.target.rpartition(".")[0]
        parts = source.split(".")
        if imp.name and imp.name.startswith("_") and len(parts) > 1 and parts[1] != own:
            problems.append(
                f"{relative}:{imp.line}: private name {imp.name} of {source} "
                f"used outside its package"
            )
    return problems


def import_cycles() -> list[list[str]]:
    """The strongly connected components (more than one module) of the graph of imports
    that run (see the module docstring) in ``reflow/``."""
    graph: dict[str, set[str]] = {}
    for path in sorted(ROOT.rglob("*.py")):
        source = module_name(path)
        graph.setdefault(source, set())
        for imp in imports_of(path):
            if imp.target == source or imp.kind == "typing":
                continue
            crosses = _package_of(path) != _package_of_module(imp.target)
            if imp.kind == "module" or crosses:
                graph[source].add(imp.target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def connect(node: str) -> None:  # Tarjan's algorithm
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in sorted(graph.get(node, ())):
            if other not in index:
                connect(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for node in sorted(graph):
        if node not in index:
            connect(node)
    return cycles


def test_every_package_imports_only_the_layers_below_it_and_no_private_names():
    problems = layer_violations()
    assert not problems, "imports against the layer rules:\n" + "\n".join(problems)


def test_reflow_has_no_import_cycle():
    cycles = import_cycles()
    assert not cycles, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in cycles)


@pytest.mark.parametrize("package", sorted(CORE))
def test_every_package_of_the_table_exists(package):
    assert (ROOT / package / "__init__.py").exists()


def test_every_package_has_rules():
    packages = {p.parent.name for p in ROOT.glob("*/__init__.py")}
    assert packages <= set(ALLOWED), f"packages without layer rules: {packages - set(ALLOWED)}"


def test_the_checker_sees_a_forbidden_import(tmp_path, monkeypatch):
    # The rules would catch the engine importing the plan, at the right file and line.
    engine = tmp_path / "reflow" / "engine"
    engine.mkdir(parents=True)
    (tmp_path / "reflow" / "__init__.py").write_text("")
    (tmp_path / "reflow" / "plan").mkdir()
    (tmp_path / "reflow" / "plan" / "__init__.py").write_text("")
    (tmp_path / "reflow" / "plan" / "nodes.py").write_text("")
    (engine / "__init__.py").write_text("")
    (engine / "bad.py").write_text("import os\n\n\ndef f():\n    from reflow.plan import nodes\n")
    (tmp_path / "reflow" / "plan" / "peek.py").write_text("from reflow.engine.bad import _x\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path / "reflow")
    assert layer_violations() == [
        "reflow/plan/peek.py:1: private name _x of reflow.engine.bad used outside its package",
        "reflow/engine/bad.py:5: engine may not import reflow.plan.nodes (allowed: engine)",
    ]


def test_connectors_name_the_api_only_in_annotations(tmp_path, monkeypatch):
    # io may name Table for a type checker, but loading the API at run time is a violation.
    root = tmp_path / "reflow"
    for package in ("io", "api"):
        (root / package).mkdir(parents=True)
        (root / package / "__init__.py").write_text("")
    (root / "__init__.py").write_text("")
    (root / "api" / "table.py").write_text("")
    (root / "io" / "typed.py").write_text(
        "from typing import TYPE_CHECKING\n\nif TYPE_CHECKING:\n"
        "    from reflow.api.table import Table\n"
    )
    (root / "io" / "loads.py").write_text("def f():\n    from reflow.api.table import Table\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", root)
    assert layer_violations() == [
        "reflow/io/loads.py:2: io may not import reflow.api.table "
        "(allowed: engine, io, plan, runtime)",
    ]


def test_the_checker_sees_a_cycle(tmp_path, monkeypatch):
    package = tmp_path / "reflow" / "io"
    package.mkdir(parents=True)
    (tmp_path / "reflow" / "__init__.py").write_text("")
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from reflow.io import b\n")
    (package / "b.py").write_text("from reflow.io.a import x\n")
    (package / "c.py").write_text("def f():\n    from reflow.io import d\n")
    (package / "d.py").write_text("from reflow.io import c\n")  # lazy, inside io: allowed
    (tmp_path / "reflow" / "api").mkdir()
    (tmp_path / "reflow" / "api" / "__init__.py").write_text("")
    (tmp_path / "reflow" / "api" / "e.py").write_text("def f():\n    from reflow.io import a\n")
    (package / "f.py").write_text("from reflow.api import e\n")  # e -> f: lazy across packages
    (package / "a.py").write_text("from reflow.io import b, f\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path / "reflow")
    assert import_cycles() == [["reflow.api.e", "reflow.io.a", "reflow.io.b", "reflow.io.f"]]


if __name__ == "__main__":
    found = import_cycles()
    for cycle in found:
        print("import cycle:", " <-> ".join(cycle))
    print(f"{len(found)} import cycle(s) in reflow/")
    sys.exit(1 if found else 0)
