"""Third-party modules a module names at its top but imports on first use.

``import reflow`` does not need numpy (~0.1 s of CPU to import): the engine's modules use it
only once a pipeline runs. Such a module writes::

    if TYPE_CHECKING:
        import numpy as np
    else:
        np = imported_on_use("numpy", globals(), "np")

and the first ``np.something`` imports numpy and puts the module itself in ``np``'s place,
so later uses cost what they cost before.
"""

from __future__ import annotations

import importlib
from typing import Any


class _ImportedOnUse:
    __slots__ = ("_alias", "_name", "_namespace")

    def __init__(self, name: str, namespace: dict[str, Any], alias: str) -> None:
        self._name = name
        self._namespace = namespace
        self._alias = alias

    def __getattr__(self, attribute: str) -> Any:
        module = importlib.import_module(self._name)
        self._namespace[self._alias] = module
        return getattr(module, attribute)

    def __repr__(self) -> str:
        return f"<module {self._name!r}, imported on first use>"


def imported_on_use(name: str, namespace: dict[str, Any], alias: str) -> Any:
    """A stand-in for module ``name``, bound to ``alias`` in ``namespace`` (a module's
    ``globals()``), that imports the module on first attribute access and replaces itself.

    >>> namespace = {}
    >>> namespace["fr"] = imported_on_use("fractions", namespace, "fr")
    >>> namespace["fr"].Fraction(1, 2), namespace["fr"].__name__
    (Fraction(1, 2), 'fractions')
    """
    return _ImportedOnUse(name, namespace, alias)
