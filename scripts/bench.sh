#!/usr/bin/env bash
# The benchmark (not a test): starts PostgreSQL and a Kafka broker like scripts/test.sh, then
# runs every section and prints one table, writing bench-results.json.
#
#   ./scripts/bench.sh                     # full scale: 1,000,000-envelope history (cached)
#   ./scripts/bench.sh --scale quick       # minutes, for trying changes
#   ./scripts/bench.sh --sections unary    # one section: audit, ingest, catchup, unary
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/venv.sh dev

cleanup() {
  bash scripts/kafka.sh stop >/dev/null 2>&1 || true
  bash scripts/postgres.sh stop >/dev/null 2>&1 || true
}
trap cleanup EXIT
export KAFKA_DATA_DIR="${KAFKA_DATA_DIR:-/tmp/credit-registry-bench-kafka}"
bash scripts/kafka.sh reset >/dev/null
bash scripts/postgres.sh start
bash scripts/kafka.sh start
CREDIT_REGISTRY_TEST_POSTGRES_URL="$(bash scripts/postgres.sh url)"
export CREDIT_REGISTRY_TEST_POSTGRES_URL
.venv/bin/python -m tests.bench "$@"
