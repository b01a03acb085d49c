#!/usr/bin/env bash
# The main job: the Tokyo 62 demo on the embedded store (SQLite + embedded log, no servers).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/venv.sh
exec .venv/bin/credit-registry demo "$@"
