#!/usr/bin/env bash
# Sets everything up, lints, and runs the whole test suite (unit, property and doc tests).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check reflow tests benchmarks examples
.venv/bin/python -m pytest -q "$@"
