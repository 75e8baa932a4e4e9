"""The ``reflow`` command without importing reflow: ``python -m reflow_cli spawn -n 2 python
main.py`` is ``python -m reflow.cli spawn ...`` (``reflow/cli.py``, which uses the standard
library only), minus the import of the whole ``reflow`` package that running a module of it
costs first (~0.4 s of CPU before the workers start, each of which imports reflow anyway).

``reflow/cli.py`` is loaded from its file, beside this package, without its package.

>>> parser().parse_args(["spawn", "-n", "2", "python", "main.py"]).processes
2
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

_spec = importlib.util.spec_from_file_location(
    "reflow_cli._command", Path(__file__).resolve().parent.parent / "reflow" / "cli.py"
)
if _spec is None or _spec.loader is None:  # pragma: no cover - an incomplete installation
    raise ImportError("reflow_cli: reflow/cli.py was not found beside this package")
_command = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_command)

main = _command.main
parser = _command.parser
spawn = _command.spawn

__all__ = ["main", "parser", "spawn"]
