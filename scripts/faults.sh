#!/usr/bin/env bash
# The fault suite alone, with the same servers as scripts/test.sh (scripts/servers.sh). The
# suite itself starts its own second broker on ports 19092/19093 for the broker-restart
# drill. Each drill prints one line of counts (acknowledged, recorded, duplicates, lost, ...)
# and appends them as JSON to $CREDIT_REGISTRY_FAULT_REPORT (default
# build/fault-report.jsonl). Extra arguments go to pytest, e.g. `scripts/faults.sh -k database`.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/servers.sh

# -s: the per-drill count lines are the point of this command, so show them as they come.
echo "== fault suite"; .venv/bin/python -m pytest tests/faults -s "$@"
