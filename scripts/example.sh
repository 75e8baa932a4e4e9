#!/usr/bin/env bash
# Sets everything up and runs the main example pipeline.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/python examples/live_revision.py
