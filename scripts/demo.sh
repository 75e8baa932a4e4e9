#!/usr/bin/env bash
# The trending-topics showcase in one command: a generated social stream (through a local
# Kafka broker, or JSON-lines files without one), the reflow pipeline, snapshot tables
# (PostgreSQL if the machine has one, else SQLite), the API and the live map.
#   bash scripts/demo.sh [--duration SECONDS] [--port 8080] [--rate 500] [--source files]
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || bash scripts/setup.sh
exec .venv/bin/python -m examples.trending.demo "$@"
