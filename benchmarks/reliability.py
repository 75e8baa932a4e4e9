"""Side-by-side measurements for the reliability work: idle polling of a streamed folder of
5,000 unchanged CSV files (CPU seconds per wall second while idle), ``table_from_pandas`` of
100,000 rows with distinct keys (seconds) and checked integer ``+``, ``-``, ``*`` over
2,000,000 rows (seconds).

    .venv/bin/python benchmarks/reliability.py [--baseline /path/to/other/checkout]

Each system runs in its own process: this checkout's reflow, optionally the reflow of another
checkout (``--baseline``, e.g. the main branch before the change) and Pathway 0.33 from
``benchmarks/.venvs/pathway`` when present. Prints a Markdown table with ratios.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
IDLE_SECONDS = 10.0
WARM_UP = 75.0  # the first read of 5,000 files takes ~30 s on a busy 2-core machine
FILES = 5000

_IDLE = textwrap.dedent(
    """
    import sys
    import {module} as pw

    class S(pw.Schema):
        k: int
        v: str

    t = pw.io.csv.read(sys.argv[1], schema=S, mode="streaming")
    pw.io.subscribe(t, lambda **kwargs: None)
    pw.run(monitoring_level=pw.MonitoringLevel.NONE)
    """
)

_PANDAS = textwrap.dedent(
    """
    import time
    import pandas as pd
    import {module} as pw

    n = 100_000
    df = pd.DataFrame({{"a": range(n), "s": [f"x{{i}}" for i in range(n)]}})
    start = time.perf_counter()
    t = pw.debug.table_from_pandas(df)
    print(time.perf_counter() - start)
    """
)


_ARITHMETIC = textwrap.dedent(
    """
    import time
    import numpy as np
    import pandas as pd
    import {module} as pw

    n = 2_000_000
    rng = np.random.default_rng(1)
    df = pd.DataFrame({{"a": rng.integers(-10**9, 10**9, n), "b": rng.integers(-10**9, 10**9, n)}})
    t = pw.debug.table_from_pandas(df)
    r = t.select(s=pw.this.a + pw.this.b, d=pw.this.a - pw.this.b, m=pw.this.a * pw.this.b)
    out = r.reduce(c=pw.reducers.count())
    start = time.perf_counter()
    pw.debug.table_to_pandas(out)
    print(time.perf_counter() - start)
    """
)


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def idle_cpu(python: str, env: dict, module: str, folder: str) -> float:
    """CPU seconds per second of a streaming read of ``folder`` once it is idle."""
    script = Path(tempfile.mkdtemp()) / "idle.py"
    script.write_text(_IDLE.format(module=module))
    process = subprocess.Popen([python, str(script), folder], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(WARM_UP)  # start-up and the first read of every file
        before, start = _cpu_seconds(process.pid), time.monotonic()
        time.sleep(IDLE_SECONDS)
        return (_cpu_seconds(process.pid) - before) / (time.monotonic() - start)
    finally:
        process.kill()
        process.wait()


def script_seconds(python: str, env: dict, module: str, template: str) -> float:
    """The seconds a script prints as its last line."""
    script = Path(tempfile.mkdtemp()) / "measured.py"
    script.write_text(template.format(module=module))
    out = subprocess.run([python, str(script)], env=env, capture_output=True, text=True,
                         check=True, timeout=900)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--baseline", help="another checkout of reflow to compare with")
    args = parser.parse_args()
    folder = tempfile.mkdtemp()
    for i in range(FILES):
        Path(folder, f"f{i:05d}.csv").write_text(f"k,v\n{i},x\n")
    systems = [("reflow (this checkout)", sys.executable, dict(os.environ), "reflow")]
    if args.baseline:
        env = dict(os.environ, PYTHONPATH=os.path.abspath(args.baseline))
        systems.append((f"reflow ({args.baseline})", sys.executable, env, "reflow"))
    pathway = HERE / ".venvs" / "pathway" / "bin" / "python"
    if pathway.exists():
        systems.append(("Pathway 0.33", str(pathway), dict(os.environ), "pathway"))
    results = []
    for label, python, env, module in systems:
        results.append((
            label,
            idle_cpu(python, env, module, folder),
            script_seconds(python, env, module, _PANDAS),
            script_seconds(python, env, module, _ARITHMETIC),
        ))
    first = results[0]
    print("| system | idle CPU, 5,000 files (s/s) | ratio | table_from_pandas 100k (s) | ratio "
          "| int + - * on 2M rows (s) | ratio |")
    print("|---|---|---|---|---|---|---|")
    for label, idle, seconds, arithmetic in results:
        print(f"| {label} | {idle:.3f} | {idle / first[1]:.2f}x | {seconds:.2f} | "
              f"{seconds / first[2]:.2f}x | {arithmetic:.2f} | {arithmetic / first[3]:.2f}x |")


if __name__ == "__main__":
    main()
