#!/usr/bin/env bash
# The whole suite, as `make test` runs it (inside deploy/with-infra.sh): every test on TEST_WORKERS pytest-xdist
# workers (default 2), then the final personal-data scan on its own, after all of them, reading what each worker
# made up and found (tests/support/personal_data.py). Half of a serial run's time the box was idle, waiting on
# Kafka, PostgreSQL, service processes and timers. A module goes to one worker whole (`--dist loadfile`): many tell
# one story in order over a module-scoped system (a week's cut-off, then its sign-off, a late record, a rebuild),
# and a module split over two workers would build its system twice. Extra arguments go to the first pytest.
#   deploy/with-infra.sh bash deploy/test-suite.sh
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scan_dir="$(mktemp -d "${TMPDIR:-/tmp}/popflow-test-scan.XXXXXX")"
trap 'rm -rf "$scan_dir"' EXIT
export POPFLOW_TEST_SCAN_DIR="$scan_dir"
scan=tests/e2e/test_zz_personal_data_scan.py

.venv/bin/pytest -n "${TEST_WORKERS:-2}" --dist loadfile --durations=20 --deselect "$scan" "$@"
suite=$?
.venv/bin/pytest -q "$scan"
scanned=$?
# pytest's own codes: 0 passed, 1 a test failed, 2 interrupted, ...; the suite's first
if ((suite != 0)); then exit "$suite"; fi
exit "$scanned"
