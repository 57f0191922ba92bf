#!/usr/bin/env bash
# Start a KRaft Kafka node (broker + controller in one JVM) on 127.0.0.1, run
# straight from the Maven Central jars fetched by fetch.sh (no Docker here): a
# single-node broker by default, or one node of a cluster (cluster.sh starts those).
#
# Usage: deploy/kafka/start.sh                # background: start, wait until ready, exit 0
#        deploy/kafka/start.sh --foreground   # exec the broker (for `make run`)
# Env:   KAFKA_PORT (9092), KAFKA_CONTROLLER_PORT (KAFKA_PORT+1),
#        KAFKA_DATA_DIR ($POPFLOW_CACHE/kafka-data-$KAFKA_PORT), KAFKA_HEAP (768m),
#        KAFKA_READY_TIMEOUT (60 s), KAFKA_JAVA_OPTS (extra JVM flags), KAFKA_CDS (1; 0: no class archive), KAFKA_CDS_DIR,
#        POPFLOW_CACHE (~/.cache/popflow), PYTHON (.venv/bin/python, relative to repo root),
#        KAFKA_SASL_PORT (unset: none) adds a SASL_PLAINTEXT listener (SCRAM-SHA-512,
#        SCRAM-SHA-256, PLAIN) for the user KAFKA_SCRAM_USERNAME (popflow) with the
#        password KAFKA_SCRAM_PASSWORD (popflow-test-password); a test broker, not production
#        A node of a cluster: KAFKA_NODE_ID (1), KAFKA_QUORUM_VOTERS (unset: a single node;
#        else id@127.0.0.1:controller-port,... of every node), KAFKA_CLUSTER_ID (the same on
#        every node, needed with the voters), KAFKA_REPLICATION (1; the internal topics'
#        replication factor, with a minimum of 2 in sync from 3 on)
#        KAFKA_EXTRA_PROPERTIES: lines added to the generated server.properties (e.g.
#        broker.session.timeout.ms=4000), after everything above
# Last line of stdout (background mode): the bootstrap address, e.g. 127.0.0.1:9092.
# A background start whose JVM writes nothing within KAFKA_READY_TIMEOUT is killed and tried once more.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/../.." && pwd)"

MODE=background
case "${1:-}" in
  "") ;;
  --foreground) MODE=foreground ;;
  -h | --help) sed -n '2,22p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "start.sh: unknown argument: $1 (use --foreground or nothing)" >&2; exit 2 ;;
esac

KAFKA_PORT="${KAFKA_PORT:-9092}"
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-$((KAFKA_PORT + 1))}"
CACHE="${POPFLOW_CACHE:-$HOME/.cache/popflow}"
KAFKA_DATA_DIR="${KAFKA_DATA_DIR:-$CACHE/kafka-data-$KAFKA_PORT}"
KAFKA_HEAP="${KAFKA_HEAP:-768m}"
KAFKA_READY_TIMEOUT="${KAFKA_READY_TIMEOUT:-60}"
PYTHON="${PYTHON:-.venv/bin/python}"
KAFKA_SASL_PORT="${KAFKA_SASL_PORT:-}"
KAFKA_SCRAM_USERNAME="${KAFKA_SCRAM_USERNAME:-popflow}"
KAFKA_SCRAM_PASSWORD="${KAFKA_SCRAM_PASSWORD:-popflow-test-password}"
KAFKA_NODE_ID="${KAFKA_NODE_ID:-1}"
KAFKA_QUORUM_VOTERS="${KAFKA_QUORUM_VOTERS:-}"
KAFKA_CLUSTER_ID="${KAFKA_CLUSTER_ID:-}"
KAFKA_REPLICATION="${KAFKA_REPLICATION:-1}"
if ! [[ "$KAFKA_REPLICATION" =~ ^[1-9][0-9]*$ && "$KAFKA_NODE_ID" =~ ^[0-9]+$ ]]; then
  echo "start.sh: KAFKA_REPLICATION must be a count (1, 3, ...) and KAFKA_NODE_ID a number" >&2
  exit 2
fi
# acks=all waits for this many copies: with 3 or more, one broker may be down and a write still has two
MIN_IN_SYNC=1
if ((KAFKA_REPLICATION >= 3)); then MIN_IN_SYNC=2; fi
if [[ -n "$KAFKA_QUORUM_VOTERS" && -z "$KAFKA_CLUSTER_ID" ]]; then
  echo "start.sh: KAFKA_QUORUM_VOTERS needs KAFKA_CLUSTER_ID (the same on every node)" >&2
  exit 2
fi

BOOTSTRAP="127.0.0.1:$KAFKA_PORT"
PROPS="$KAFKA_DATA_DIR/server.properties"
LOG_DIR="$KAFKA_DATA_DIR/logs"           # Kafka's data (log.dirs), not text logs
PID_FILE="$KAFKA_DATA_DIR/kafka.pid"
LOG_FILE="$KAFKA_DATA_DIR/kafka.log"     # broker stdout/stderr in background mode
# Marks credentials already stored (a hash, not the password, in the file name).
SCRAM_MARKER="$KAFKA_DATA_DIR/.scram-$(printf '%s' "$KAFKA_SCRAM_USERNAME:$KAFKA_SCRAM_PASSWORD" | sha256sum | cut -c1-16)"

log() { echo "start.sh[$KAFKA_PORT]: $*" >&2; }
START_NS="$(date +%s%N)"
elapsed() { echo "$(( ($(date +%s%N) - START_NS) / 1000000 )) ms"; }

# A pid is "our broker" only if it is alive and is kafka.Kafka on this data
# dir's config: guards against stale pid files and recycled pids.
is_our_broker() {
  local pid="$1"
  [[ -n "$pid" && -r "/proc/$pid/cmdline" ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "kafka.Kafka $PROPS" || return 1
}

running_pid() {
  local pid
  [[ -f "$PID_FILE" ]] || return 1
  pid="$(cat "$PID_FILE" 2>/dev/null || true)"
  is_our_broker "$pid" || return 1
  echo "$pid"
}

# Readiness = a real metadata answer (wait_ready.py), not an open port. Runs
# the probe in the background so a broker that dies is noticed at once.
wait_ready() {
  local pid="$1" wpid
  (cd "$REPO_ROOT" && exec "$PYTHON" deploy/kafka/wait_ready.py "$BOOTSTRAP" "$KAFKA_READY_TIMEOUT") &
  wpid=$!
  while kill -0 "$wpid" 2>/dev/null; do
    if ! is_our_broker "$pid"; then
      kill "$wpid" 2>/dev/null || true
      wait "$wpid" 2>/dev/null || true
      return 1
    fi
    sleep 0.2
  done
  wait "$wpid"
}

fail_with_log() {
  log "$1"
  if [[ -f "$LOG_FILE" ]]; then
    # The cause (e.g. "Address already in use") is usually far above the tail,
    # which is shutdown noise: show the first ERROR lines too.
    echo "----- first ERROR/FATAL lines of $LOG_FILE -----" >&2
    grep -E ' (ERROR|FATAL) |^Caused by: ' "$LOG_FILE" | head -n 10 >&2 || true
    echo "----- last 30 lines of $LOG_FILE -----" >&2
    tail -n 30 "$LOG_FILE" >&2
    echo "-----" >&2
  fi
  exit 1
}

# Fail early (not after a 60 s "not ready") when the readiness probe cannot run.
if ! (cd "$REPO_ROOT" && "$PYTHON" -c 'import aiokafka' 2>/dev/null); then
  log "PYTHON='$PYTHON' (relative to $REPO_ROOT) cannot import aiokafka; set PYTHON or create .venv"
  exit 1
fi

mkdir -p "$KAFKA_DATA_DIR"

# One starter per data dir at a time (parallel test sessions, make targets).
exec 9>"$KAFKA_DATA_DIR/.start.lock"
flock 9

# A dir formatted without (or with other) SCRAM credentials gets them once the
# broker answers, through ConfigCommand on the PLAINTEXT listener (an upsert).
ensure_scram_user() {
  [[ -n "$KAFKA_SASL_PORT" && ! -f "$SCRAM_MARKER" ]] || return 0
  local libs
  libs="$("$SCRIPT_DIR/fetch.sh" | tail -n 1)"
  log "adding SCRAM credentials for $KAFKA_SCRAM_USERNAME"
  # One mechanism per request: the broker refuses a user altered twice in one.
  for mechanism in SCRAM-SHA-512 SCRAM-SHA-256; do
    if ! java -cp "$libs/*" kafka.admin.ConfigCommand --bootstrap-server "$BOOTSTRAP" --alter \
      --add-config "$mechanism=[password=$KAFKA_SCRAM_PASSWORD]" \
      --entity-type users --entity-name "$KAFKA_SCRAM_USERNAME" >"$KAFKA_DATA_DIR/scram.log" 2>&1; then
      tail -n 20 "$KAFKA_DATA_DIR/scram.log" >&2
      log "adding $mechanism credentials failed (full output: $KAFKA_DATA_DIR/scram.log)"
      return 1
    fi
  done
  rm -f "$KAFKA_DATA_DIR"/.scram-*  # other passwords of this user are gone now
  touch "$SCRAM_MARKER"
}

if pid="$(running_pid)"; then
  if [[ "$MODE" == foreground ]]; then
    log "a broker (pid $pid) already runs on $KAFKA_DATA_DIR; stop it first with deploy/kafka/stop.sh"
    exit 1
  fi
  log "already running (pid $pid)"
  wait_ready "$pid" || fail_with_log "running broker (pid $pid) is not answering on $BOOTSTRAP"
  ensure_scram_user || exit 1
  echo "$BOOTSTRAP"
  exit 0
fi
rm -f "$PID_FILE"

# Not ours, yet answering: another broker (another data dir or cluster) would answer this one's readiness
# check while this one dies on "Address already in use".
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for port in "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT" ${KAFKA_SASL_PORT:+"$KAFKA_SASL_PORT"}; do
  if port_in_use "$port"; then
    log "port $port is in use by another process (another Kafka?): stop it, or choose other ports"
    exit 1
  fi
done

LIBS="$("$SCRIPT_DIR/fetch.sh" | tail -n 1)"

# Class data sharing (a JVM's AppCDS): the Kafka classes a broker loaded, kept in an archive the next JVM maps
# instead of reading and checking them again; a broker is ready 1-2 s sooner and spends half the CPU starting
# (docs/performance.md, "Round 52"). There is one archive per JDK and jar set. While there is none, a broker
# writes the classes it loaded at its exit (a clean stop; a SIGKILL writes nothing) to a partial file named by
# its port; the next start on any port checks each partial file whose writer has gone in a JVM of its own (a
# cut file crashes a JVM that maps it) and makes the first whole one the archive. KAFKA_CDS=0 turns it off;
# KAFKA_CDS_DIR is where the archives are ($POPFLOW_CACHE/kafka-cds).
CDS_DIR="${KAFKA_CDS_DIR:-$CACHE/kafka-cds}"
CDS_ARCHIVE="$CDS_DIR/kafka-$( { java -version 2>&1; echo "$LIBS"; ls -l --time-style=+%s "$LIBS"; } | sha256sum | cut -c1-16).jsa"
CDS_USE=()    # flags of a JVM that maps the archive (the broker and the storage tool)
CDS_BROKER=() # the broker's: CDS_USE, or writing a partial file at its exit
# A JVM writing the file is alive and names it on its command line.
being_written() { grep -qsF -- "-XX:ArchiveClassesAtExit=$1" /proc/[0-9]*/cmdline; }
if [[ "${KAFKA_CDS:-1}" != 0 ]] && mkdir -p "$CDS_DIR" 2>/dev/null; then
  for partial in "$CDS_ARCHIVE".partial-*; do
    [[ -e "$partial" ]] && ! being_written "$partial" || continue
    if [[ ! -f "$CDS_ARCHIVE" ]]; then
      if (java -Xshare:on -XX:+VerifySharedSpaces "-XX:SharedArchiveFile=$partial" -XX:ErrorFile=/dev/null \
        -cp "$LIBS/*" -version) >/dev/null 2>&1; then
        mv -f "$partial" "$CDS_ARCHIVE" && log "class archive made from a stopped broker's classes: $CDS_ARCHIVE"
        continue
      fi
      log "a stopped broker's class archive is incomplete (stopped while writing it?): removed"
    fi
    rm -f "$partial"
  done
  if [[ -f "$CDS_ARCHIVE" ]]; then
    CDS_USE=("-XX:SharedArchiveFile=$CDS_ARCHIVE")
    CDS_BROKER=("${CDS_USE[@]}")
  else
    CDS_BROKER=("-XX:ArchiveClassesAtExit=$CDS_ARCHIVE.partial-$KAFKA_PORT" "-Xlog:cds*=off")
  fi
fi

# The optional SASL listener: SCRAM credentials live in the cluster metadata
# (added at format time, or by ConfigCommand on a dir formatted before);
# PLAIN checks the users listed in its JAAS line.
LISTENERS="PLAINTEXT://127.0.0.1:$KAFKA_PORT"
PROTOCOL_MAP="PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"
SASL_PROPS=""
if [[ -n "$KAFKA_SASL_PORT" ]]; then
  LISTENERS="$LISTENERS,SASL_PLAINTEXT://127.0.0.1:$KAFKA_SASL_PORT"
  PROTOCOL_MAP="$PROTOCOL_MAP,SASL_PLAINTEXT:SASL_PLAINTEXT"
  SASL_PROPS="sasl.enabled.mechanisms=SCRAM-SHA-512,SCRAM-SHA-256,PLAIN
listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_$KAFKA_SCRAM_USERNAME=\"$KAFKA_SCRAM_PASSWORD\";"
fi

if [[ -n "$KAFKA_QUORUM_VOTERS" ]]; then
  # A static quorum: every node names the same voters and is formatted with the same cluster id.
  QUORUM="controller.quorum.voters=$KAFKA_QUORUM_VOTERS"
else
  # Dynamic KRaft quorum (KIP-853), formatted with --standalone. Not mixed with controller.quorum.voters.
  QUORUM="controller.quorum.bootstrap.servers=127.0.0.1:$KAFKA_CONTROLLER_PORT"
fi

# Rewritten on every start so edits here take effect; ports come from env.
cat >"$PROPS.tmp" <<EOF
# Generated by deploy/kafka/start.sh - edits are overwritten on next start.
process.roles=broker,controller
node.id=$KAFKA_NODE_ID
$QUORUM
controller.listener.names=CONTROLLER
listeners=$LISTENERS,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
advertised.listeners=$LISTENERS,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=$PROTOCOL_MAP
$SASL_PROPS
log.dirs=$LOG_DIR
# Topics are created explicitly by the services/tests.
auto.create.topics.enable=false
num.partitions=1
default.replication.factor=$KAFKA_REPLICATION
min.insync.replicas=$MIN_IN_SYNC
# Internal topics replicated as KAFKA_REPLICATION says (1 on a single node), and few
# partitions (50 partitions of __consumer_offsets take seconds to create).
offsets.topic.replication.factor=$KAFKA_REPLICATION
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=$KAFKA_REPLICATION
transaction.state.log.min.isr=$MIN_IN_SYNC
transaction.state.log.num.partitions=1
share.coordinator.state.topic.replication.factor=$KAFKA_REPLICATION
share.coordinator.state.topic.min.isr=$MIN_IN_SYNC
share.coordinator.state.topic.num.partitions=1
# No 3 s wait before the first consumer-group rebalance (tests).
group.initial.rebalance.delay.ms=0
${KAFKA_EXTRA_PROPERTIES:-}
EOF
mv "$PROPS.tmp" "$PROPS"

# Format once (meta.properties marks a formatted dir). Verified: a standalone
# single voter re-elects itself and rewrites its endpoint, so a later change of
# KAFKA_CONTROLLER_PORT on the same data dir still starts.
if [[ ! -f "$LOG_DIR/meta.properties" ]]; then
  CLUSTER_ID="${KAFKA_CLUSTER_ID:-$(cd "$REPO_ROOT" && "$PYTHON" deploy/kafka/cluster_id.py)}"
  STANDALONE=(--standalone)
  [[ -z "$KAFKA_QUORUM_VOTERS" ]] || STANDALONE=()  # the voters are named in the properties
  log "formatting $LOG_DIR (cluster id $CLUSTER_ID)"
  SCRAM_ARGS=()
  if [[ -n "$KAFKA_SASL_PORT" ]]; then
    # KIP-900: SCRAM users are written into the bootstrap metadata at format time.
    SCRAM_ARGS=(--add-scram "SCRAM-SHA-512=[name=$KAFKA_SCRAM_USERNAME,password=$KAFKA_SCRAM_PASSWORD]"
      --add-scram "SCRAM-SHA-256=[name=$KAFKA_SCRAM_USERNAME,password=$KAFKA_SCRAM_PASSWORD]")
  fi
  # The tool logs the whole KafkaConfig; keep that in a file, show it on failure.
  if ! java "${CDS_USE[@]}" -cp "$LIBS/*" kafka.tools.StorageTool format "${STANDALONE[@]}" \
    -t "$CLUSTER_ID" -c "$PROPS" "${SCRAM_ARGS[@]}" >"$KAFKA_DATA_DIR/format.log" 2>&1; then
    tail -n 40 "$KAFKA_DATA_DIR/format.log" >&2
    log "storage format failed (full output: $KAFKA_DATA_DIR/format.log)"
    exit 1
  fi
  if [[ -n "$KAFKA_SASL_PORT" ]]; then touch "$SCRAM_MARKER"; fi
fi


# slf4j-simple (see pom.xml) prints the broker log to stderr; give it timestamps.
# G1's regions are 4 MB, not the 1 MB it picks for a heap this small: a produce request or fetch response of
# half a region or more is a "humongous" object, and with the old generation over G1's threshold each one
# started a concurrent marking cycle, back to back, for 24-64 µs of the broker's CPU a bulk row (its GC log,
# docs/performance.md "Round 44"); with 4 MB regions a request under 2 MB is an ordinary young object.
# shellcheck disable=SC2206 # KAFKA_JAVA_OPTS is a word-split list of flags by design
JAVA_CMD=(java "-Xmx$KAFKA_HEAP" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:G1HeapRegionSize=4m
  -Djava.awt.headless=true
  -Dorg.slf4j.simpleLogger.showDateTime=true
  "-Dorg.slf4j.simpleLogger.dateTimeFormat=yyyy-MM-dd HH:mm:ss,SSS"
  "${CDS_BROKER[@]}"
  ${KAFKA_JAVA_OPTS:-}
  -cp "$LIBS/*" kafka.Kafka "$PROPS")

if [[ "$MODE" == foreground ]]; then
  # The caller (make run) owns the process; the pid file lets stop.sh and a
  # background start.sh see it. Release the start lock before exec.
  echo $$ >"$PID_FILE"
  exec 9>&-
  log "exec broker in foreground on $BOOTSTRAP"
  exec "${JAVA_CMD[@]}"
fi

# Launch the JVM in the background and wait for metadata. Returns 0 when ready,
# 2 when it was killed for saying nothing at all within the timeout (see below),
# and exits through fail_with_log for anything else.
launch() {
  # Keep the previous run's log for post-mortems (not a silent attempt's empty one).
  [[ -s "$LOG_FILE" ]] && mv -f "$LOG_FILE" "$LOG_FILE.1"
  # setsid+nohup: own session, so Ctrl-C / hangup of the caller does not hit the
  # broker. setsid execs in place here (we are not a group leader), so $! is the JVM.
  setsid nohup "${JAVA_CMD[@]}" >"$LOG_FILE" 2>&1 </dev/null 9>&- &
  pid=$!
  disown "$pid"  # no "Killed" job notice from this shell if we must SIGKILL it
  echo "$pid" >"$PID_FILE"
  log "started broker pid $pid, log $LOG_FILE; waiting for metadata on $BOOTSTRAP"
  # Until it execs, the background child is a fork of this shell, whose command line is not the
  # broker's: wait_ready would take it for a broker that had exited, and the JVM, silent so far,
  # would be killed and started again (a loaded box failed a test that way: two starts of a broker
  # whose port was taken).
  for _ in $(seq 1 100); do
    is_our_broker "$pid" && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  wait_ready "$pid" && return 0
  # Do not leave a half-started broker holding the ports.
  if is_our_broker "$pid"; then
    kill -KILL "$pid" 2>/dev/null || true
    # gone before anything starts again: until then it holds the ports and the data dir's lock
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    rm -f "$PID_FILE"
    # On the 2-core machine the JVM sometimes prints nothing at all within the
    # timeout (an empty log, not an error) while the next start takes seconds.
    [[ -s "$LOG_FILE" ]] || return 2
    fail_with_log "broker not ready within ${KAFKA_READY_TIMEOUT}s; killed it"
  fi
  rm -f "$PID_FILE"
  fail_with_log "broker exited during startup"
}

status=0
launch || status=$?
if [[ "$status" == 2 ]]; then
  # One more try for every caller (with-infra.sh, tests' own brokers, make run's background start).
  log "the broker wrote nothing within ${KAFKA_READY_TIMEOUT}s (a silent JVM start); trying once more"
  status=0
  launch || status=$?
  [[ "$status" == 0 ]] || fail_with_log "broker wrote nothing within ${KAFKA_READY_TIMEOUT}s, twice; killed it"
fi
if grep -q UnsupportedVersionException "$LOG_FILE"; then
  log "WARNING: UnsupportedVersionException in $LOG_FILE (client/broker protocol mismatch)"
fi
ensure_scram_user || exit 1
log "ready after $(elapsed)${KAFKA_SASL_PORT:+ (SASL_PLAINTEXT on 127.0.0.1:$KAFKA_SASL_PORT)}"
echo "$BOOTSTRAP"
