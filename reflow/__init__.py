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

from reflow import debug, io
from reflow.api import dtypes as _dtypes
from reflow.api.dtypes import DateTimeNaive, DateTimeUtc, Duration
from reflow.api.expression import ColumnExpression, ColumnReference, left, right, this
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
from reflow.api.trace import BuildError
from reflow.engine.ids import hash_values as _hash_values
from reflow.engine.values import ERROR, Json, Pointer, PyObjectWrapper, wrap_py_object
from reflow.runtime.error_log import global_error_log
from reflow.runtime.runner import run, run_all

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
    "temporal": ("reflow.temporal", None),
    "udfs": ("reflow.udfs", None),
    "udf": ("reflow.udfs", "udf"),
    "UDF": ("reflow.udfs", "UDF"),
    "apply_async": ("reflow.udfs", "apply_async"),
    "AsyncTransformer": ("reflow.udfs", "AsyncTransformer"),
    "MonitoringLevel": ("reflow.runtime.monitoring", "MonitoringLevel"),
    "indexing": ("reflow.indexing", None),
    "ml": ("reflow.stdlib.ml", None),
    "stdlib": ("reflow.stdlib", None),
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


def pointer_from(*args: object) -> Pointer:
    """The id a row with key ``args`` gets from ``with_id_from``/``groupby``.

    >>> import reflow as pw
    >>> pw.pointer_from(1) == pw.pointer_from(1), pw.pointer_from(1) == pw.pointer_from(2)
    (True, False)
    """
    return Pointer(_hash_values(list(args)))


__all__ = [
    "ERROR",
    "BuildError",
    "ColumnDefinition",
    "ColumnExpression",
    "ColumnReference",
    "DateTimeNaive",
    "DateTimeUtc",
    "Duration",
    "Json",
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
    "if_else",
    "io",
    "left",
    "make_tuple",
    "pointer_from",
    "require",
    "right",
    "run",
    "run_all",
    "schema_builder",
    "schema_from_pandas",
    "schema_from_types",
    "this",
    "unwrap",
    "wrap_py_object",
]
