#!/usr/bin/env bash
# Sets up and runs the whole test suite on this machine: the virtualenv, a real PostgreSQL
# server and a real Kafka broker (scripts/servers.sh), lint, types, then pytest. Extra
# arguments go to pytest. Servers started here are stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/servers.sh

echo "== ruff"; .venv/bin/ruff check .
echo "== mypy"; .venv/bin/mypy
echo "== lint-imports"; .venv/bin/lint-imports
echo "== pytest"; .venv/bin/python -m pytest "$@"
