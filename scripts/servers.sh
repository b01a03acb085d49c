# Sourced by test.sh, faults.sh and bench.sh (not run on its own): the virtualenv with dev
# tools, Debian's Chromium for the browser tests, a real PostgreSQL server (installed from
# Debian's packages when missing) and a real Apache Kafka broker (jars from Maven Central,
# cached), both stopped when the caller exits.
# The caller has `set -euo pipefail` and has changed to the repository root.
bash scripts/venv.sh dev
bash scripts/browser.sh

cleanup() {
  bash scripts/kafka.sh stop >/dev/null 2>&1 || true
  bash scripts/postgres.sh stop >/dev/null 2>&1 || true
}
trap cleanup EXIT
# A throwaway broker data dir per run: test topics never pile up between runs.
export KAFKA_DATA_DIR="${KAFKA_DATA_DIR:-/tmp/credit-registry-test-kafka}"
bash scripts/kafka.sh reset >/dev/null
bash scripts/postgres.sh start
bash scripts/kafka.sh start
# The test fixtures find both servers running; they leave them to the trap above.
export CREDIT_REGISTRY_KEEP_KAFKA=1
CREDIT_REGISTRY_TEST_POSTGRES_URL="$(bash scripts/postgres.sh url)"
export CREDIT_REGISTRY_TEST_POSTGRES_URL
