#!/usr/bin/env bash
# Start (or stop) a KRaft Kafka cluster of KAFKA_NODES nodes on 127.0.0.1, each a broker and a
# controller in one JVM (start.sh), with a static quorum of all of them: a cluster on one machine,
# to run PopFlow on replicated topics and to kill a broker under it. A test cluster, not production.
#
# Usage: deploy/kafka/cluster.sh           # start every node, wait until each answers, exit 0
#        deploy/kafka/cluster.sh stop      # stop every node (SIGTERM, then SIGKILL after KAFKA_STOP_TIMEOUT, 15 s)
# Env:   KAFKA_NODES (3), KAFKA_CLUSTER_PORT (29192): node i listens on KAFKA_CLUSTER_PORT + 2(i-1)
#        and its controller on the port after it (keep them below the machine's ephemeral range,
#        /proc/sys/net/ipv4/ip_local_port_range: a node calling a controller that does not listen yet
#        may otherwise be connected to itself); KAFKA_CLUSTER_DIR
#        ($POPFLOW_CACHE/kafka-cluster-$KAFKA_CLUSTER_PORT) holds node-<i>/ and the cluster id;
#        KAFKA_HEAP (512m a node), KAFKA_READY_TIMEOUT (120 s), PYTHON, POPFLOW_CACHE as start.sh.
# Last line of stdout (start): the bootstrap list, e.g. 127.0.0.1:29192,127.0.0.1:29194,127.0.0.1:29196.
# Topics on it: POPFLOW_TOPIC_REPLICATION=3 (the services then ask for 2 copies in sync, docs/scaling.md).
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/../.." && pwd)"

ACTION="${1:-start}"
case "$ACTION" in
  start | stop) ;;
  -h | --help) sed -n '2,15p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "cluster.sh: unknown argument: $ACTION (use start, stop or nothing)" >&2; exit 2 ;;
esac

NODES="${KAFKA_NODES:-3}"
BASE="${KAFKA_CLUSTER_PORT:-29192}"
CACHE="${POPFLOW_CACHE:-$HOME/.cache/popflow}"
DIR="${KAFKA_CLUSTER_DIR:-$CACHE/kafka-cluster-$BASE}"
PYTHON="${PYTHON:-.venv/bin/python}"
if ! [[ "$NODES" =~ ^[1-9]$ ]]; then
  echo "cluster.sh: KAFKA_NODES must be 1 to 9, not '$NODES'" >&2
  exit 2
fi

log() { echo "cluster.sh[$BASE]: $*" >&2; }
port_of() { echo $((BASE + 2 * ($1 - 1))); }

if [[ "$ACTION" == stop ]]; then
  # All at once: one by one, the last node's controlled shutdown waits for a quorum that has gone,
  # until stop.sh's SIGKILL.
  pids=()
  for i in $(seq 1 "$NODES"); do
    KAFKA_PORT="$(port_of "$i")" KAFKA_DATA_DIR="$DIR/node-$i" KAFKA_STOP_TIMEOUT="${KAFKA_STOP_TIMEOUT:-15}" \
      bash "$SCRIPT_DIR/stop.sh" &
    pids+=("$!")
  done
  status=0
  for pid in "${pids[@]}"; do wait "$pid" || status=1; done
  exit "$status"
fi

mkdir -p "$DIR"
# One id for the life of the cluster's data: every node is formatted with it.
if [[ ! -s "$DIR/cluster.id" ]]; then
  (cd "$REPO_ROOT" && "$PYTHON" deploy/kafka/cluster_id.py) >"$DIR/cluster.id"
fi
CLUSTER_ID="$(cat "$DIR/cluster.id")"

VOTERS=""
SERVERS=""
for i in $(seq 1 "$NODES"); do
  port="$(port_of "$i")"
  VOTERS="${VOTERS:+$VOTERS,}$i@127.0.0.1:$((port + 1))"
  SERVERS="${SERVERS:+$SERVERS,}127.0.0.1:$port"
done

# The data of another shape of cluster (other nodes or ports) is not this one's: its nodes would wait for
# voters that never come, or its topics for copies that do not exist.
if [[ -s "$DIR/voters" && "$(cat "$DIR/voters")" != "$VOTERS" ]]; then
  log "$DIR holds a cluster of other nodes ($(cat "$DIR/voters")): stop it and remove $DIR, or set KAFKA_CLUSTER_DIR"
  exit 2
fi
echo "$VOTERS" >"$DIR/voters"

# All at once: a node answers only once a majority of the controllers runs. Every setting of a node is
# given here: a single broker's own (with-infra.sh exports its port, data dir and SASL port) is not a node's.
pids=()
for i in $(seq 1 "$NODES"); do
  port="$(port_of "$i")"
  KAFKA_SASL_PORT="" KAFKA_PORT="$port" KAFKA_CONTROLLER_PORT="$((port + 1))" KAFKA_DATA_DIR="$DIR/node-$i" \
    KAFKA_NODE_ID="$i" KAFKA_QUORUM_VOTERS="$VOTERS" KAFKA_CLUSTER_ID="$CLUSTER_ID" \
    KAFKA_REPLICATION="$NODES" KAFKA_HEAP="${KAFKA_HEAP:-512m}" \
    KAFKA_READY_TIMEOUT="${KAFKA_READY_TIMEOUT:-120}" PYTHON="$PYTHON" \
    bash "$SCRIPT_DIR/start.sh" >"$DIR/start-$i.out" &
  pids+=("$!")
done
failed=""
for i in $(seq 1 "$NODES"); do
  wait "${pids[$((i - 1))]}" || failed="$failed $i"
done
if [[ -n "$failed" ]]; then
  log "node(s)$failed did not start (their logs: $DIR/node-<i>/kafka.log); stopping the others"
  bash "$SCRIPT_DIR/cluster.sh" stop || true
  exit 1
fi
# Each node answered; topics replicated on all of them need every one registered.
if ! (cd "$REPO_ROOT" && "$PYTHON" deploy/kafka/wait_ready.py "$SERVERS" "${KAFKA_READY_TIMEOUT:-120}" "$NODES"); then
  log "the nodes answer, but not all $NODES are registered; stopping them"
  bash "$SCRIPT_DIR/cluster.sh" stop || true
  exit 1
fi
log "$NODES nodes ready, cluster id $CLUSTER_ID"
echo "$SERVERS"
