#!/usr/bin/env bash
# Runs a command against real infrastructure: PostgreSQL (installed and started
# when missing) and Kafka (a broker on KAFKA_TEST_PORT, default 19092, started
# when KAFKA_BOOTSTRAP_SERVERS is not given, and stopped again afterwards), with
# a SASL_PLAINTEXT listener on KAFKA_TEST_SASL_PORT (default 19094).
# Exports KAFKA_BOOTSTRAP_SERVERS, POPFLOW_TEST_PG_URL and, for the tests that
# authenticate, KAFKA_SASL_BOOTSTRAP_SERVERS, KAFKA_SCRAM_USERNAME and
# KAFKA_SCRAM_PASSWORD (give all three when you give KAFKA_BOOTSTRAP_SERVERS).
#   deploy/with-infra.sh .venv/bin/pytest -m e2e
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# Not inside `export`: its own status would hide ensure.sh's failure, and the suite run without PostgreSQL.
if [[ -z "${POPFLOW_TEST_PG_URL:-}" ]]; then
  POPFLOW_TEST_PG_URL="$(bash deploy/postgres/ensure.sh | tail -n 1)"
fi
export POPFLOW_TEST_PG_URL

started_kafka=""
scratch_dir=""
# set before the broker starts: a start that fails still has its scratch directory removed
stop_kafka() {
  if [[ -n "$started_kafka" ]]; then bash deploy/kafka/stop.sh >/dev/null 2>&1 || true; fi
  if [[ -n "$scratch_dir" ]]; then rm -rf "$scratch_dir"; fi
}
trap stop_kafka EXIT
if [[ -z "${KAFKA_BOOTSTRAP_SERVERS:-}" ]]; then
  export KAFKA_PORT="${KAFKA_TEST_PORT:-19092}"
  export KAFKA_SASL_PORT="${KAFKA_TEST_SASL_PORT:-19094}"
  export KAFKA_SCRAM_USERNAME="${KAFKA_SCRAM_USERNAME:-popflow}"
  export KAFKA_SCRAM_PASSWORD="${KAFKA_SCRAM_PASSWORD:-popflow-test-password}"
  if ! .venv/bin/python deploy/kafka/wait_ready.py "127.0.0.1:$KAFKA_PORT" 1 >/dev/null 2>&1; then
    # A fresh data directory per run, removed at the end: every e2e module makes its own topics,
    # and a directory kept across runs grew to thousands of partition folders the broker loads at
    # every start. KAFKA_TEST_DATA_DIR keeps one on purpose.
    if [[ -z "${KAFKA_TEST_DATA_DIR:-}" ]]; then
      export KAFKA_DATA_DIR="$(mktemp -d "${TMPDIR:-/tmp}/popflow-kafka-test.XXXXXX")"
      scratch_dir="$KAFKA_DATA_DIR"
    else
      export KAFKA_DATA_DIR="$KAFKA_TEST_DATA_DIR"
    fi
    started_kafka=1
    # start.sh itself tries once more when the JVM starts silently.
    bash deploy/kafka/start.sh >/dev/null
  fi
  export KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:$KAFKA_PORT"
  export KAFKA_SASL_BOOTSTRAP_SERVERS="127.0.0.1:$KAFKA_SASL_PORT"
fi

echo "with-infra.sh: Kafka $KAFKA_BOOTSTRAP_SERVERS, PostgreSQL ${POPFLOW_TEST_PG_URL%%@*}@..." >&2
"$@"
