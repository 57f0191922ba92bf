#!/usr/bin/env bash
# Stop the broker started by deploy/kafka/start.sh (found via its pid file).
#
# Usage: deploy/kafka/stop.sh
# Env:   same as start.sh to locate the data dir: KAFKA_PORT (9092),
#        KAFKA_DATA_DIR ($POPFLOW_CACHE/kafka-data-$KAFKA_PORT), POPFLOW_CACHE,
#        KAFKA_STOP_TIMEOUT (30 s before SIGKILL).
# Exits 0 also when nothing was running.
set -euo pipefail

KAFKA_PORT="${KAFKA_PORT:-9092}"
CACHE="${POPFLOW_CACHE:-$HOME/.cache/popflow}"
KAFKA_DATA_DIR="${KAFKA_DATA_DIR:-$CACHE/kafka-data-$KAFKA_PORT}"
KAFKA_STOP_TIMEOUT="${KAFKA_STOP_TIMEOUT:-30}"
PROPS="$KAFKA_DATA_DIR/server.properties"
PID_FILE="$KAFKA_DATA_DIR/kafka.pid"

log() { echo "stop.sh[$KAFKA_PORT]: $*" >&2; }

# Only signal a live kafka.Kafka on this data dir's config, never a recycled pid.
is_our_broker() {
  local pid="$1"
  [[ -n "$pid" && -r "/proc/$pid/cmdline" ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "kafka.Kafka $PROPS" || return 1
}

if [[ ! -f "$PID_FILE" ]]; then
  log "not running (no $PID_FILE)"
  exit 0
fi
pid="$(cat "$PID_FILE" 2>/dev/null || true)"
if ! is_our_broker "$pid"; then
  log "not running (stale pid file, pid '${pid}')"
  rm -f "$PID_FILE"
  exit 0
fi

# SIGTERM = controlled shutdown (flushes logs, clean restart without recovery).
log "stopping broker pid $pid"
kill -TERM "$pid" 2>/dev/null || true
deadline=$((SECONDS + KAFKA_STOP_TIMEOUT))
while is_our_broker "$pid" && ((SECONDS < deadline)); do
  sleep 0.2
done
if is_our_broker "$pid"; then
  log "still alive after ${KAFKA_STOP_TIMEOUT}s, sending SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
  # cmdline check, not kill -0: a dead but unreaped (zombie) pid passes kill -0.
  for _ in $(seq 50); do is_our_broker "$pid" || break; sleep 0.1; done
fi
rm -f "$PID_FILE"
log "stopped"
