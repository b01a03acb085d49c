#!/usr/bin/env bash
# Sets up and runs the whole test suite on this machine: the virtualenv with dev tools,
# a real PostgreSQL server (installed from Debian's packages when missing), lint, types,
# then pytest. Extra arguments go to pytest. Servers started here are stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/venv.sh dev

bash scripts/postgres.sh start
trap 'bash scripts/postgres.sh stop >/dev/null 2>&1 || true' EXIT
CREDIT_REGISTRY_TEST_POSTGRES_URL="$(bash scripts/postgres.sh url)"
export CREDIT_REGISTRY_TEST_POSTGRES_URL

echo "== ruff"; .venv/bin/ruff check .
echo "== mypy"; .venv/bin/mypy
echo "== pytest"; .venv/bin/python -m pytest "$@"
