"""A plan node's structure as text, for the fingerprint of a persistent run's dataflow: its
kind, columns and types, expressions and parameters, without where in the user's code it
was built (so editing a comment above a pipeline keeps its checkpoints usable)."""

from __future__ import annotations

from typing import Any

from reflow.plan import dtypes as dt

#: Attributes that locate a node in the program or identify it in one process only.
_SKIPPED = frozenset({"where", "_where", "node_id", "universe", "inputs", "uid", "_uid"})
_DEPTH = 12


def describe(value: Any, depth: int = 0) -> str:
    """``value`` as text that two runs of the same program agree on.

    >>> describe({"b": [1, 2.5], "a": ("x", None)})
    "{'a':('x',None),'b':[1,2.5]}"
    """
    if depth > _DEPTH:
        return "..."
    if value is None or isinstance(value, (bool, int, float, str, bytes)):
        return repr(value)
    if isinstance(value, dt.DType):
        return str(value)
    if isinstance(value, list):
        return "[" + ",".join(describe(v, depth + 1) for v in value) + "]"
    if isinstance(value, tuple):
        return "(" + ",".join(describe(v, depth + 1) for v in value) + ")"
    if isinstance(value, (set, frozenset)):
        return "{" + ",".join(sorted(describe(v, depth + 1) for v in value)) + "}"
    if isinstance(value, dict):
        items = sorted((describe(k, depth + 1), describe(v, depth + 1)) for k, v in value.items())
        return "{" + ",".join(f"{k}:{v}" for k, v in items) + "}"
    kind = type(value)
    if callable(value) and hasattr(value, "__qualname__") and not hasattr(value, "__dict__"):
        return f"<{value.__qualname__}>"
    if hasattr(value, "__code__"):  # a function: its name (its body may be edited freely)
        return f"<{getattr(value, '__qualname__', kind.__qualname__)}>"
    if kind.__module__.startswith("reflow.plan") and hasattr(value, "__dict__"):
        from reflow.plan.nodes import PlanNode

        if isinstance(value, PlanNode):
            return value.label  # an input: the dataflow's edges describe it
        fields = (  # private attributes (caches, places) left out
            f"{k}={describe(v, depth + 1)}"
            for k, v in vars(value).items() if k not in _SKIPPED and not k.startswith("_")
        )
        return f"{kind.__qualname__}(" + ",".join(fields) + ")"
    return kind.__qualname__


def node_structure(node: Any) -> str:
    """The structure of plan ``node``: its kind, columns and parameters (sources by name).

    >>> import reflow as pw
    >>> t = pw.debug.table_from_markdown("a\\n1").select(b=pw.this.a + 1)
    >>> node_structure(t._node).startswith("select|{'b':ColumnInfo(")
    True
    """
    parameters = []
    for key, value in vars(node).items():
        if key in _SKIPPED or key == "columns" or key.startswith("_"):
            continue
        if key == "source" and not isinstance(value, (int, str)):
            value = getattr(value, "name", None)  # a live source: its name only
            value = value if isinstance(value, str) else None
        parameters.append(f"{key}={describe(value)}")
    return f"{node.label}|{describe(node.columns)}|" + ",".join(parameters)
