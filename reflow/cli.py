"""The ``reflow`` command: ``reflow spawn --processes N python main.py`` starts N copies of a
program as the workers of one run, like ``pathway spawn``.

Each copy gets ``PATHWAY_PROCESSES``, ``PATHWAY_THREADS``, ``PATHWAY_FIRST_PORT``, its own
``PATHWAY_PROCESS_ID`` and, unless set already, ``POLARS_MAX_THREADS`` (its share of the
cores); ``pw.run()`` in each of them runs one shard and the copies exchange
rows over localhost ports ``first_port .. first_port + N - 1``.

>>> parser().parse_args(["spawn", "-n", "2", "python", "main.py", "--flag"]).program
['python', 'main.py', '--flag']
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Sequence


def parser() -> argparse.ArgumentParser:
    """The argument parser of the ``reflow`` command."""
    top = argparse.ArgumentParser(prog="reflow")
    commands = top.add_subparsers(dest="command", required=True)
    spawn = commands.add_parser("spawn", help="run a program on several worker processes")
    spawn.add_argument("-t", "--threads", metavar="N", type=int, default=1,
                       help="number of threads per process (default 1)")
    spawn.add_argument("-n", "--processes", metavar="N", type=int, default=1,
                       help="number of processes (default 1)")
    spawn.add_argument("--first-port", metavar="PORT", type=int, default=10000,
                       help="first port used between the processes (default 10000)")
    spawn.add_argument("program", nargs=argparse.REMAINDER,
                       help="the command to run, e.g. python main.py")
    return top


def spawn(program: Sequence[str], processes: int, threads: int, first_port: int) -> int:
    """Run ``program`` as ``processes`` worker processes; the first non-zero exit code, or 0."""
    if not program:
        raise SystemExit("reflow spawn: give the program to run, e.g. python main.py")
    if processes < 1 or threads < 1:
        raise SystemExit("reflow spawn: --processes and --threads must be at least 1")
    if not 1 <= first_port <= 65535 - processes + 1:
        raise SystemExit(f"reflow spawn: --first-port {first_port} leaves no room for "
                         f"{processes} ports")
    common = dict(os.environ, PATHWAY_PROCESSES=str(processes), PATHWAY_THREADS=str(threads),
                  PATHWAY_FIRST_PORT=str(first_port))
    # Polars' kernels use every core of the machine in each process: N processes would each
    # start as many threads and slow one another down. Each gets its share of the cores.
    common.setdefault("POLARS_MAX_THREADS", str(max(1, (os.cpu_count() or 1) // processes)))
    children = [
        subprocess.Popen(list(program), env=dict(common, PATHWAY_PROCESS_ID=str(pid)))
        for pid in range(processes)
    ]
    codes = []
    try:
        codes = [child.wait() for child in children]
    except KeyboardInterrupt:
        for child in children:
            child.terminate()
        codes = [child.wait() for child in children]
    return next((code for code in codes if code), 0)


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return spawn(args.program, args.processes, args.threads, args.first_port)


if __name__ == "__main__":
    sys.exit(main())
