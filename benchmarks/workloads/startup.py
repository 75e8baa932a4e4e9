"""Workload 6: ``import`` time and the start-up of an empty pipeline, in fresh processes.

Every sample is a new interpreter started with ``sys.executable``:

- ``interpreter_s``: ``python -c pass`` (subtracted from the others);
- ``import_s``: ``python -c "import ENGINE"`` minus the interpreter's start-up;
- ``importtime_s``: the cumulative time of the engine's top-level module in ``-X importtime``;
- ``empty_pipeline_s``: a process that imports the engine, builds a one-row table and prints
  it (``pw.debug.table_from_markdown`` + ``pw.debug.compute_and_print`` for reflow and
  Pathway), minus the interpreter's start-up.

Samples are interleaved so that drift of the machine affects every measure alike.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import ERROR, OK, REPO_DIR, compile_reflow_bytecode, emit, workload_arguments

WORKLOAD = "startup"

IMPORTS = {
    "reflow": "import reflow",
    "pathway": "import pathway",
    "polars": "import polars",
    "bytewax": "import bytewax.dataflow, bytewax.operators",
}

_TABLE_PIPELINE = """
import {module} as pw
t = pw.debug.table_from_markdown('''
a
1
''')
pw.debug.compute_and_print(t, include_id=False)
"""

PIPELINES = {
    "reflow": _TABLE_PIPELINE.format(module="reflow"),
    "pathway": _TABLE_PIPELINE.format(module="pathway"),
    "polars": "import polars as pl\nprint(pl.DataFrame({'a': [1]}).select('a').to_series()[0])",
    "bytewax": """
import bytewax.operators as op
from bytewax.dataflow import Dataflow
from bytewax.testing import TestingSink, TestingSource, run_main
out = []
flow = Dataflow("empty")
op.output("out", op.input("in", flow, TestingSource([1])), TestingSink(out))
run_main(flow)
print(out[0])
""",
}


def _wall(args: list[str]) -> tuple[float, subprocess.CompletedProcess]:
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, cwd=REPO_DIR, timeout=120
    )
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args)[:60]!r} failed: {proc.stderr.strip()[-500:]}")
    return wall, proc


def _importtime(engine: str) -> float:
    """Total time of the import statement: the sum over modules imported at top level."""
    _, proc = _wall(["-X", "importtime", "-c", IMPORTS[engine]])
    total = 0
    for line in proc.stderr.splitlines():
        # "import time: self [us] | cumulative | imported package" (nesting indents the name)
        parts = line.removeprefix("import time:").split("|")
        if len(parts) == 3 and parts[1].strip().isdigit() and not parts[2].startswith("  "):
            total += int(parts[1])
    return total / 1e6


def measure(engine: str, samples: int) -> dict[str, float]:
    base, imports, pipelines, importtimes = [], [], [], []
    if engine == "reflow":
        compile_reflow_bytecode()  # measured as installed, not compiled at every start
    _wall(["-c", IMPORTS[engine]])  # warm the file-system cache once
    for _ in range(samples):
        base.append(_wall(["-c", "pass"])[0])
        imports.append(_wall(["-c", IMPORTS[engine]])[0])
        wall, proc = _wall(["-c", PIPELINES[engine]])
        if "1" not in proc.stdout:
            raise RuntimeError(f"empty pipeline printed {proc.stdout!r}, expected the value 1")
        pipelines.append(wall)
        importtimes.append(_importtime(engine))
    interpreter = statistics.median(base)
    return {
        "interpreter_s": interpreter,
        "import_s": max(statistics.median(imports) - interpreter, 0.0),
        "importtime_s": statistics.median(importtimes),
        "empty_pipeline_s": max(statistics.median(pipelines) - interpreter, 0.0),
    }


def main() -> None:
    args = workload_arguments(__doc__).parse_args()
    if args.prepare:
        return
    samples = args.size or (2 if args.quick else 7)
    try:
        metrics = measure(args.engine, samples)
    except (RuntimeError, subprocess.SubprocessError) as exc:
        emit(WORKLOAD, args.engine, ERROR, note=str(exc))
        sys.exit(1)
    emit(WORKLOAD, args.engine, OK, metrics, samples=samples)


if __name__ == "__main__":
    main()
