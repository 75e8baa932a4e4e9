"""``pw.load_yaml``: a YAML configuration that can build reflow objects.

A tag names a reflow callable (``!pw.io.fs.read``) or any importable one
(``!mymodule.make``); a mapping under it gives keyword arguments, a sequence positional ones,
and an empty value refers to the object itself. Top-level keys starting with ``$`` define
variables, and a string equal to ``$name`` is replaced by that variable's value.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

import yaml


@dataclass
class _Tagged:
    target: str
    args: Any


class _Loader(yaml.SafeLoader):
    """A safe loader that keeps ``!tags`` as placeholders, resolved after loading."""


def _construct_tagged(loader: _Loader, suffix: str, node: yaml.Node) -> _Tagged:
    if isinstance(node, yaml.MappingNode):
        args: Any = loader.construct_mapping(node, deep=True)
    elif isinstance(node, yaml.SequenceNode):
        args = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_scalar(node)
        args = None if value in ("", None) else [value]
    return _Tagged(suffix, args)


_Loader.add_multi_constructor("!", _construct_tagged)


def _resolve_name(dotted: str) -> Any:
    if dotted.startswith("pw."):
        dotted = "reflow." + dotted[3:]
    parts = dotted.split(".")
    for split in range(len(parts), 0, -1):
        try:
            value: Any = importlib.import_module(".".join(parts[:split]))
        except ImportError:
            continue
        for attribute in parts[split:]:
            value = getattr(value, attribute)
        return value
    raise ValueError(f"load_yaml: cannot find {dotted!r}")


class _Resolver:
    def __init__(self, variables: dict[str, Any]) -> None:
        self.raw = variables
        self.done: dict[str, Any] = {}
        self.active: set[str] = set()

    def variable(self, name: str) -> Any:
        if name in self.done:
            return self.done[name]
        if name not in self.raw:
            raise KeyError(f"load_yaml: variable {name} is not defined")
        if name in self.active:
            raise ValueError(f"load_yaml: variable {name} refers to itself")
        self.active.add(name)
        self.done[name] = self.resolve(self.raw[name])
        self.active.discard(name)
        return self.done[name]

    def resolve(self, value: Any) -> Any:
        if isinstance(value, str) and value.startswith("$"):
            return self.variable(value)
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if isinstance(value, dict):
            return {k: self.resolve(v) for k, v in value.items()}
        if isinstance(value, _Tagged):
            target = _resolve_name(value.target)
            args = self.resolve(value.args)
            if args is None:
                return target
            if isinstance(args, dict):
                return target(**args)
            return target(*args)
        return value


def load_yaml(stream: str | bytes | Any) -> Any:
    """Load a YAML configuration, building the objects its tags name.

    >>> import reflow as pw
    >>> config = pw.load_yaml('''
    ... $window: !pw.temporal.tumbling
    ...   duration: 10
    ... threshold: 5
    ... window: $window
    ... ''')
    >>> config["threshold"], config["window"].duration
    (5, 10)
    """
    data = yaml.load(stream, _Loader)  # a SafeLoader subclass
    if not isinstance(data, dict):
        return _Resolver({}).resolve(data)
    variables = {k: v for k, v in data.items() if isinstance(k, str) and k.startswith("$")}
    resolver = _Resolver(variables)
    return {k: resolver.resolve(v) for k, v in data.items() if k not in variables}
