#!/usr/bin/env bash
# Fetch the Kafka broker + tools jars from Maven Central into a cache folder
# outside the repository (no Docker, no Kafka tarball on this machine).
#
# Usage: deploy/kafka/fetch.sh
# Env:   POPFLOW_CACHE (default ~/.cache/popflow)
# Last line of output: the libs directory, usable as `java -cp "$LIBS/*" ...`.
#
# Idempotent: a `.complete` marker (holding the pom's checksum) is written only
# after mvn succeeded; when it exists and the pom is unchanged, nothing is done.
set -euo pipefail

# Locate the repo root from this script's path so any cwd works.
SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/../.." && pwd)"
POM="$REPO_ROOT/deploy/kafka/pom.xml"

# The version lives in the pom only, so the cache path follows it.
KAFKA_VERSION="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$POM" | head -n1)"
if [[ -z "$KAFKA_VERSION" ]]; then
  echo "fetch.sh: cannot read <kafka.version> from $POM" >&2
  exit 1
fi

CACHE="${POPFLOW_CACHE:-$HOME/.cache/popflow}"
BASE="$CACHE/kafka-$KAFKA_VERSION"
LIBS="$BASE/libs"
MARKER="$LIBS/.complete"
POM_SUM="$(sha256sum "$POM" | cut -d' ' -f1)"

mkdir -p "$BASE"

# Serialise concurrent callers (e.g. two start.sh on different ports) so only
# one mvn writes into the folder.
exec 9>"$BASE/.fetch.lock"
flock 9

if [[ -f "$MARKER" && "$(cat "$MARKER")" == "$POM_SUM" ]]; then
  echo "$LIBS"
  exit 0
fi

# Copy into a fresh folder and swap it in, so a failed or changed fetch never
# leaves stale jars (e.g. two slf4j bindings) next to the new ones.
TMP="$BASE/libs.tmp.$$"
rm -rf "$TMP"
trap 'rm -rf "$TMP"' EXIT
echo "fetch.sh: fetching Kafka $KAFKA_VERSION jars into $LIBS" >&2
# Output goes to a log (mvn -q still prints colour resets); shown on failure.
if ! mvn -q -B -f "$POM" dependency:copy-dependencies \
  -DoutputDirectory="$TMP" -DincludeScope=runtime -Dstyle.color=never \
  >"$BASE/fetch.log" 2>&1; then
  cat "$BASE/fetch.log" >&2
  echo "fetch.sh: mvn failed (log: $BASE/fetch.log); no .complete marker written" >&2
  exit 1
fi
# Marker only after mvn succeeded (set -e stops us above otherwise).
echo "$POM_SUM" >"$TMP/.complete"
rm -rf "$LIBS"
mv "$TMP" "$LIBS"
trap - EXIT

echo "$LIBS"
