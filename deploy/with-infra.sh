#!/usr/bin/env bash
# Runs a command against real infrastructure: PostgreSQL (installed and started
# when missing) and Kafka (a broker on KAFKA_TEST_PORT, default 19092, started
# when KAFKA_BOOTSTRAP_SERVERS is not given, and stopped again afterwards).
# Exports KAFKA_BOOTSTRAP_SERVERS and POPFLOW_TEST_PG_URL for the command.
#   deploy/with-infra.sh .venv/bin/pytest -m e2e
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

export POPFLOW_TEST_PG_URL="${POPFLOW_TEST_PG_URL:-$(bash deploy/postgres/ensure.sh | tail -n 1)}"

started_kafka=""
if [[ -z "${KAFKA_BOOTSTRAP_SERVERS:-}" ]]; then
  export KAFKA_PORT="${KAFKA_TEST_PORT:-19092}"
  if ! .venv/bin/python deploy/kafka/wait_ready.py "127.0.0.1:$KAFKA_PORT" 1 >/dev/null 2>&1; then
    bash deploy/kafka/start.sh >/dev/null
    started_kafka=1
  fi
  export KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:$KAFKA_PORT"
fi
stop_kafka() { if [[ -n "$started_kafka" ]]; then bash deploy/kafka/stop.sh >/dev/null 2>&1 || true; fi; }
trap stop_kafka EXIT

echo "with-infra.sh: Kafka $KAFKA_BOOTSTRAP_SERVERS, PostgreSQL ${POPFLOW_TEST_PG_URL%%@*}@..." >&2
"$@"
