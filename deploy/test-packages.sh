#!/usr/bin/env bash
# Debian packages the tests use beside the Python ones:
# - headless Chromium for the dashboard test (tests/integration/test_reporting_dashboard.py),
#   /usr/bin/chromium, and a CJK font so its Chinese renders (not as empty boxes);
# - jq, which the README's walk-throughs use (tests/e2e/test_walkthroughs.py runs them).
# Idempotent; installs with apt-get only when something is missing.
set -euo pipefail

need=()
[[ -x /usr/bin/chromium ]] || need+=(chromium)
fc-list :lang=zh 2>/dev/null | grep -q . || need+=(fonts-wqy-microhei)
command -v jq >/dev/null || need+=(jq)
if ((${#need[@]})); then
  if [[ $EUID -ne 0 ]]; then
    echo "test-packages.sh: need root to apt-get install ${need[*]}" >&2
    exit 1
  fi
  echo "test-packages.sh: installing ${need[*]}" >&2
  apt-get update >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${need[@]}" >&2
fi
/usr/bin/chromium --version
