#!/usr/bin/env bash
# Sets everything up, lints, type-checks, and runs the whole test suite (unit, property, doc
# and layer tests).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check reflow tests benchmarks examples
.venv/bin/mypy
.venv/bin/python -m pytest -q "$@"
