#!/usr/bin/env bash
# Make a local PostgreSQL usable for tests and `make run`, idempotently:
# install the Debian packages if needed, create/start a cluster on 127.0.0.1,
# and ensure a login role popflow/popflow with CREATEDB (tests create their own
# databases with it).
#
# Usage: deploy/postgres/ensure.sh         (as root: installs and starts services; as another user it only
#                                          checks that the role logs in with CREATEDB, and says so)
# Env:   PGPORT (5432)
# Last line of stdout: admin URL, postgresql://popflow:popflow@127.0.0.1:$PGPORT/postgres
set -euo pipefail

# runuser postgres cannot enter a root-only working directory (e.g. a fresh clone under /tmp)
cd /

PGPORT="${PGPORT:-5432}"
PG_ROLE=popflow
PG_PASSWORD=popflow

log() { echo "ensure.sh[pg:$PGPORT]: $*" >&2; }

ADMIN_URL="postgresql://$PG_ROLE:$PG_PASSWORD@127.0.0.1:$PGPORT/postgres"

if [[ $EUID -ne 0 ]]; then
  # nothing to install or start when the role already logs in with CREATEDB (a machine made ready before, or
  # a PostgreSQL someone else runs): any user may use it
  if command -v psql >/dev/null && [[ "$(PGPASSWORD=$PG_PASSWORD PGCONNECT_TIMEOUT=5 psql -h 127.0.0.1 -p "$PGPORT" \
      -U "$PG_ROLE" -d postgres -tAc 'SELECT rolcreatedb FROM pg_roles WHERE rolname = current_user' 2>/dev/null)" == t ]]; then
    log "ready (role $PG_ROLE logs in with CREATEDB; nothing to install as user $(id -un))"
    echo "$ADMIN_URL"
    exit 0
  fi
  log "must run as root to install, start or configure PostgreSQL (apt-get, pg_createcluster, runuser postgres);" \
    "as another user it only checks that role $PG_ROLE logs in on 127.0.0.1:$PGPORT with CREATEDB, which it does not"
  exit 1
fi

# The real server lives in /usr/lib/postgresql/<ver>/bin; do not trust a
# `postgres` on PATH (it may be something else), check what it reports.
server_version() {
  local bin ver
  for bin in /usr/lib/postgresql/*/bin/postgres; do
    [[ -x "$bin" ]] || continue
    "$bin" --version 2>/dev/null | grep -q '(PostgreSQL)' || continue
    ver="${bin#/usr/lib/postgresql/}"
    echo "${ver%%/*}"
  done | sort -n | tail -n 1
}

PGVER="$(server_version)"
if [[ -z "$PGVER" ]] || ! command -v pg_createcluster >/dev/null; then
  log "PostgreSQL server not installed; installing with apt-get"
  apt-get update >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql >&2
  PGVER="$(server_version)"
  [[ -n "$PGVER" ]] || { log "postgresql installed but no server binary found"; exit 1; }
fi

# Reuse whichever cluster already owns PGPORT; else create <ver>/main (or a
# port-named cluster when main exists on another port). Columns of
# pg_lsclusters -h: version name port status owner datadir logfile.
read -r CL_VER CL_NAME CL_STATUS < <(
  pg_lsclusters -h | awk -v p="$PGPORT" '$3 == p { print $1, $2, $4; exit }'
) || true
if [[ -z "${CL_VER:-}" ]]; then
  CL_VER="$PGVER"
  CL_NAME=main
  if pg_lsclusters -h | awk -v v="$PGVER" '$1 == v && $2 == "main" { f = 1 } END { exit !f }'; then
    CL_NAME="popflow_$PGPORT"
  fi
  log "creating cluster $CL_VER/$CL_NAME on port $PGPORT"
  pg_createcluster "$CL_VER" "$CL_NAME" -p "$PGPORT" >&2
  CL_STATUS=down
fi
CONF_DIR="/etc/postgresql/$CL_VER/$CL_NAME"

# TCP only on 127.0.0.1 (Debian's default 'localhost' also binds ::1). Room for
# `make run` and `make test` at once: each running system holds 30 to 50 pooled
# connections, and the default 100 ran out with three of them. Full-page images
# in the WAL compressed (zstd, from PostgreSQL 15 on; pglz before it), as
# docker-compose.yml runs it (docs/scaling.md).
# conf.d is included by Debian's postgresql.conf; restart only on change.
WAL_COMPRESSION=zstd
((${CL_VER%%.*} >= 15)) || WAL_COMPRESSION=on
DROPIN="$CONF_DIR/conf.d/popflow.conf"
WANT="# Written by deploy/postgres/ensure.sh
listen_addresses = '127.0.0.1'
max_connections = 300
wal_compression = $WAL_COMPRESSION
"
CHANGED=0
if [[ ! -f "$DROPIN" || "$(cat "$DROPIN")"$'\n' != "$WANT" ]]; then
  mkdir -p "$CONF_DIR/conf.d"
  printf '%s' "$WANT" >"$DROPIN"
  chown postgres:postgres "$DROPIN" 2>/dev/null || true
  CHANGED=1
fi

if [[ "$CL_STATUS" == online* ]]; then
  if ((CHANGED)); then
    log "restarting $CL_VER/$CL_NAME to apply $DROPIN"
    pg_ctlcluster "$CL_VER" "$CL_NAME" restart >&2
  fi
else
  log "starting cluster $CL_VER/$CL_NAME"
  pg_ctlcluster "$CL_VER" "$CL_NAME" start >&2
fi

# Ready = accepting TCP connections on the address the services use.
for _ in $(seq 150); do
  pg_isready -q -h 127.0.0.1 -p "$PGPORT" && break
  sleep 0.2
done
if ! pg_isready -h 127.0.0.1 -p "$PGPORT" >&2; then
  log "PostgreSQL not ready on 127.0.0.1:$PGPORT after 30s; log tail:"
  tail -n 30 "/var/log/postgresql/postgresql-$CL_VER-$CL_NAME.log" >&2 || true
  exit 1
fi

# Superuser work over the Unix socket with peer auth (no password needed).
# ALTER on every run keeps the password/attributes right even if edited.
runuser -u postgres -- psql -X -q -p "$PGPORT" -d postgres -v ON_ERROR_STOP=1 >&2 <<SQL
DO \$\$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$PG_ROLE') THEN
    CREATE ROLE $PG_ROLE LOGIN CREATEDB PASSWORD '$PG_PASSWORD';
  ELSE
    ALTER ROLE $PG_ROLE LOGIN CREATEDB PASSWORD '$PG_PASSWORD';
  END IF;
END
\$\$;
SQL

URL="$ADMIN_URL"
# Prove the URL works over TCP with password auth, as the services will use it.
psql -X -q "$URL" -tAc 'select 1' >/dev/null
log "ready: cluster $CL_VER/$CL_NAME, role $PG_ROLE (CREATEDB)"
echo "$URL"
