#!/usr/bin/env bash
# The benchmark (not a test), with the same servers as scripts/test.sh (scripts/servers.sh):
# runs every section and prints one table, writing bench-results.json.
#
#   ./scripts/bench.sh                     # full scale: 1,000,000-envelope history (cached)
#   ./scripts/bench.sh --scale quick       # minutes, for trying changes
#   ./scripts/bench.sh --sections unary    # one section: audit, ingest, catchup, unary, web
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/servers.sh

.venv/bin/python -m tests.bench "$@"
