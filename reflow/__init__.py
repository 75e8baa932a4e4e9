"""reflow: reactive data processing with an incremental engine.

Build a pipeline with ``Table`` operations; run it with ``pw.run()`` or look at it with
``pw.debug``. When an input changes, every affected output is revised, and only those.

>>> import reflow as pw
>>> t = pw.debug.table_from_markdown('''
... word  | n
... hello | 2
... ''')
>>> pw.debug.compute_and_print(t.select(pw.this.word, twice=pw.this.n * 2), include_id=False)
word  | twice
hello | 4
"""

# Importing builds ~50k long-lived objects (modules, classes, functions, Polars' too) and no
# garbage. The cyclic garbage collector would walk them again and again during the import
# (~15% of its CPU time), so it is paused while the package loads. (``gc.freeze`` would also
# spare later collections, but it would freeze the program's own objects with them.)
import gc as _gc
from typing import TYPE_CHECKING

_gc_was_enabled = _gc.isenabled()
_gc.disable()
try:
    from reflow import debug, io, persistence
    from reflow.api.functions import (
        apply,
        apply_with_type,
        cast,
        coalesce,
        declare_type,
        fill_error,
        if_else,
        make_tuple,
        require,
        unwrap,
    )
    from reflow.api.schema import (
        ColumnDefinition,
        Schema,
        column_definition,
        schema_builder,
        schema_from_pandas,
        schema_from_types,
    )
    from reflow.api.table import Table
    from reflow.api.table_functions import (
        groupby,
        join,
        join_inner,
        join_left,
        join_outer,
        join_right,
    )
    from reflow.api.this import left, right, this
    from reflow.debug.tables import empty_table as _empty_table
    from reflow.engine.ids import hash_values as _hash_values
    from reflow.engine.values import ERROR, Json, Pointer, PyObjectWrapper, wrap_py_object
    from reflow.error_logs import local_error_log
    from reflow.io.subscribe import debug as _debug
    from reflow.persistence import PersistenceMode
    from reflow.plan import dtypes as _dtypes
    from reflow.plan.dtypes import DateTimeNaive, DateTimeUtc, Duration
    from reflow.plan.errors import BuildError
    from reflow.plan.expr import ColumnExpression, ColumnReference
    from reflow.runtime.error_log import ERROR_LOG_NODE as _ERROR_LOG_NODE
    from reflow.runtime.runner import run, run_all
    from reflow.stdlib import statistical
finally:
    if _gc_was_enabled:
        _gc.enable()

if TYPE_CHECKING:
    from reflow import temporal

# ``t.debug(name)`` prints through a sink of ``reflow.io`` and ``pw.Table.empty(...)`` builds
# through ``reflow.debug``: neither package may import the API, so they are attached here.
Table.debug = _debug  # type: ignore[attr-defined]
Table.empty = staticmethod(_empty_table)  # type: ignore[attr-defined]


class _MethodOfPackage:
    """A ``Table`` method that a package adds when it is imported: the first access imports
    the package, which replaces this placeholder with the method itself."""

    def __init__(self, package: str) -> None:
        self.package = package

    def __set_name__(self, owner: type, name: str) -> None:
        self.owner = owner
        self.name = name

    def __get__(self, instance: object, owner: type | None = None) -> object:
        import importlib

        importlib.import_module(self.package)
        if self.owner.__dict__.get(self.name) is self:
            raise AttributeError(f"{self.package} did not define Table.{self.name}")
        return getattr(self.owner if instance is None else instance, self.name)


# Event time (``reflow.temporal``, with the joins it builds on) loads on first use:
# ``pw.temporal`` or one of these methods.
_TEMPORAL_METHODS = (
    "windowby", "forget", "buffer", "ignore_late",
    "asof_join", "asof_join_left", "asof_join_right", "asof_join_outer",
    "interval_join", "interval_join_inner", "interval_join_left", "interval_join_right",
    "interval_join_outer",
    "window_join", "window_join_inner", "window_join_left", "window_join_right",
    "window_join_outer",
    "asof_now_join", "asof_now_join_inner", "asof_now_join_left",
)


def _add_placeholders(package: str, names: tuple[str, ...]) -> None:
    for name in names:
        if name not in Table.__dict__:
            placeholder = _MethodOfPackage(package)
            placeholder.__set_name__(Table, name)
            setattr(Table, name, placeholder)


_add_placeholders("reflow.temporal", _TEMPORAL_METHODS)

dt = _dtypes

# Public names implemented in modules that are imported on first use, which keeps
# ``import reflow`` fast: name -> (module, attribute or None for the module itself).
_LAZY = {
    "reducers": ("reflow.api.reducers", None),
    "BaseCustomAccumulator": ("reflow.api.reducers", "BaseCustomAccumulator"),
    "GroupedTable": ("reflow.api.groupby", "GroupedTable"),
    "JoinMode": ("reflow.api.join", "JoinMode"),
    "JoinResult": ("reflow.api.join", "JoinResult"),
    "ordered": ("reflow.api.ordered", None),
    # reflow.udfs attaches Table.await_futures when it is imported: a table can only hold
    # futures once a UDF was made, which imports it.
    "udfs": ("reflow.udfs", None),
    "udf": ("reflow.udfs", "udf"),
    "UDF": ("reflow.udfs", "UDF"),
    "apply_async": ("reflow.udfs", "apply_async"),
    "AsyncTransformer": ("reflow.udfs", "AsyncTransformer"),
    "MonitoringLevel": ("reflow.runtime.monitoring", "MonitoringLevel"),
    "set_license_key": ("reflow.runtime.config", "set_license_key"),
    "set_monitoring_config": ("reflow.runtime.config", "set_monitoring_config"),
    "schema_from_dict": ("reflow.api.schema_helpers", "schema_from_dict"),
    "schema_from_csv": ("reflow.api.schema_helpers", "schema_from_csv"),
    "assert_table_has_schema": ("reflow.api.schema_helpers", "assert_table_has_schema"),
    "load_yaml": ("reflow.yaml_loader", "load_yaml"),
    "demo": ("reflow.demo", None),
    "stateful": ("reflow.stateful", None),
    "utils": ("reflow.stdlib.utils", None),
    "universes": ("reflow.universes", None),
    "sql": ("reflow.api.sql", "sql"),
    "table_transformer": ("reflow.api.transformers", "table_transformer"),
    "SchemaProperties": ("reflow.api.schema", "SchemaProperties"),
    "TableSlice": ("reflow.api.table_slice", "TableSlice"),
    "iterate": ("reflow.api.iterate", "iterate"),
    "stdlib": ("reflow.stdlib", None),
    "graphs": ("reflow.stdlib.graphs", None),
    "iterate_universe": ("reflow.api.iterate", "iterate_universe"),
    "indexing": ("reflow.indexing", None),
    "ml": ("reflow.stdlib.ml", None),
    "temporal": ("reflow.temporal", None),
}


def __getattr__(name: str) -> object:
    try:
        module_name, attribute = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'reflow' has no attribute {name!r}") from None
    import importlib

    module = importlib.import_module(module_name)
    value = module if attribute is None else getattr(module, attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


def global_error_log() -> Table:
    """Every per-row error raised while running the pipeline, one row per error (a run started
    with ``terminate_on_error=False``; by default the first error stops the run).

    >>> import reflow as pw
    >>> t = pw.debug.table_from_markdown('''
    ... a | b
    ... 1 | 0
    ... ''')
    >>> q = t.select(q=pw.this.a // pw.this.b)
    >>> log = pw.global_error_log().select(pw.this.message)
    >>> rows = pw.debug.table_to_dicts(log, terminate_on_error=False)[1]["message"].values()
    >>> any("division by zero" in m for m in rows)
    True
    """
    return Table(_ERROR_LOG_NODE)


def pointer_from(*args: object) -> Pointer:
    """The id a row with key ``args`` gets from ``with_id_from``/``groupby``.

    >>> import reflow as pw
    >>> pw.pointer_from(1) == pw.pointer_from(1), pw.pointer_from(1) == pw.pointer_from(2)
    (True, False)
    """
    return Pointer(_hash_values(list(args)))


__all__ = [
    "ERROR",
    "UDF",
    "AsyncTransformer",
    "BuildError",
    "ColumnDefinition",
    "ColumnExpression",
    "ColumnReference",
    "DateTimeNaive",
    "DateTimeUtc",
    "Duration",
    "Json",
    "PersistenceMode",
    "Pointer",
    "PyObjectWrapper",
    "Schema",
    "Table",
    "apply",
    "apply_with_type",
    "cast",
    "coalesce",
    "column_definition",
    "debug",
    "declare_type",
    "dt",
    "fill_error",
    "global_error_log",
    "groupby",
    "if_else",
    "io",
    "join",
    "join_inner",
    "join_left",
    "join_outer",
    "join_right",
    "left",
    "local_error_log",
    "make_tuple",
    "persistence",
    "pointer_from",
    "require",
    "right",
    "run",
    "run_all",
    "schema_builder",
    "schema_from_pandas",
    "schema_from_types",
    "statistical",
    "temporal",
    "this",
    "unwrap",
    "wrap_py_object",
]
