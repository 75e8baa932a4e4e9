"""Throwaway virtualenvs for the systems reflow is compared with.

Each competitor lives in ``benchmarks/.venvs/<name>`` (ignored by git) and is never a
dependency of reflow. ``python benchmarks/venvs.py`` creates all of them; the runner calls
:func:`ensure` and reports a clear note when an install fails (for instance without network).
reflow itself runs under the interpreter that runs the runner.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
VENV_DIR = BENCH_DIR / ".venvs"


@dataclass(frozen=True)
class Competitor:
    """A system installed from PyPI into its own venv."""

    name: str
    requirement: str
    module: str
    distribution: str


COMPETITORS = {
    "pathway": Competitor("pathway", "pathway==0.33.0", "pathway", "pathway"),
    "bytewax": Competitor("bytewax", "bytewax==0.21.1", "bytewax", "bytewax"),
    # The lower bound for static work: a plain Polars script, same version reflow uses.
    "polars": Competitor("polars", "polars==2.1.0", "polars", "polars"),
}


@dataclass
class VenvStatus:
    """The outcome of :func:`ensure`: an interpreter to run, or why there is none."""

    name: str
    python: Path | None
    version: str | None
    note: str = ""


def python_of(name: str) -> Path:
    return VENV_DIR / name / "bin" / "python"


def installed_version(python: Path, competitor: Competitor) -> str | None:
    """The version of the competitor importable from ``python``, or ``None``."""
    if not python.exists():
        return None
    code = (
        f"import {competitor.module}, importlib.metadata as m; "
        f"print(m.version({competitor.distribution!r}))"
    )
    proc = subprocess.run([str(python), "-c", code], capture_output=True, text=True)
    if proc.returncode != 0:
        return None
    return proc.stdout.strip().splitlines()[-1]


def ensure(name: str, *, install: bool = True, log=print) -> VenvStatus:
    """Return the venv of competitor ``name``, creating and installing it if needed."""
    competitor = COMPETITORS[name]
    python = python_of(name)
    version = installed_version(python, competitor)
    wanted = competitor.requirement.split("==", 1)[1]
    if version == wanted:
        return VenvStatus(name, python, version)
    if not install:
        return VenvStatus(name, None, None, f"{competitor.requirement} is not installed")
    log(f"installing {competitor.requirement} into {python.parent.parent} ...")
    venv_path = VENV_DIR / name
    try:
        if not python.exists():
            subprocess.run(
                [sys.executable, "-m", "venv", str(venv_path)],
                check=True,
                capture_output=True,
                text=True,
            )
        proc = subprocess.run(
            [str(python), "-m", "pip", "install", "-q", competitor.requirement],
            capture_output=True,
            text=True,
            timeout=1800,
        )
    except (subprocess.SubprocessError, OSError) as exc:
        return VenvStatus(name, None, None, f"could not install {competitor.requirement}: {exc}")
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        reason = " / ".join(tail) or f"pip exited with {proc.returncode}"
        return VenvStatus(name, None, None, f"could not install {competitor.requirement}: {reason}")
    version = installed_version(python, competitor)
    if version != wanted:
        return VenvStatus(
            name, None, None, f"{competitor.requirement} installed but not importable"
        )
    return VenvStatus(name, python, version)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    known = ", ".join(COMPETITORS)
    parser.add_argument(
        "names", nargs="*", metavar="name", help=f"competitors to install (default: all of {known})"
    )
    args = parser.parse_args()
    unknown = sorted(set(args.names) - set(COMPETITORS))
    if unknown:
        parser.error(f"unknown competitor(s) {', '.join(unknown)}; choose from {known}")
    for name in args.names or list(COMPETITORS):
        status = ensure(name)
        print(f"{name}: {status.version or 'unavailable'} {status.note}".rstrip())


if __name__ == "__main__":
    main()
