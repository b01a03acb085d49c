#!/usr/bin/env bash
# The fault suite alone, with the same setup as scripts/test.sh: the virtualenv, a real
# PostgreSQL server and a real Kafka broker (stopped again on exit). The suite itself starts
# its own second broker on ports 19092/19093 for the broker-restart drill. Each drill prints
# one line of counts (acknowledged, recorded, duplicates, lost, ...) and appends them as JSON
# to $CREDIT_REGISTRY_FAULT_REPORT (default build/fault-report.jsonl). Extra arguments go to
# pytest, e.g. `scripts/faults.sh -k database`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/venv.sh dev

cleanup() {
  bash scripts/kafka.sh stop >/dev/null 2>&1 || true
  bash scripts/postgres.sh stop >/dev/null 2>&1 || true
}
trap cleanup EXIT
export KAFKA_DATA_DIR="${KAFKA_DATA_DIR:-/tmp/credit-registry-test-kafka}"
bash scripts/kafka.sh reset >/dev/null
bash scripts/postgres.sh start
bash scripts/kafka.sh start
export CREDIT_REGISTRY_KEEP_KAFKA=1
CREDIT_REGISTRY_TEST_POSTGRES_URL="$(bash scripts/postgres.sh url)"
export CREDIT_REGISTRY_TEST_POSTGRES_URL

# -s: the per-drill count lines are the point of this command, so show them as they come.
echo "== fault suite"; .venv/bin/python -m pytest tests/faults -s "$@"
