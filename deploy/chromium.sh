#!/usr/bin/env bash
# Headless Chromium for the dashboard test (tests/integration/test_reporting_dashboard.py):
# Debian's chromium package at /usr/bin/chromium, and a CJK font so the
# Chinese of the dashboard renders in the screenshot (not as empty boxes).
# Idempotent; installs with apt-get only when something is missing.
set -euo pipefail

need=()
[[ -x /usr/bin/chromium ]] || need+=(chromium)
fc-list :lang=zh 2>/dev/null | grep -q . || need+=(fonts-wqy-microhei)
if ((${#need[@]})); then
  if [[ $EUID -ne 0 ]]; then
    echo "chromium.sh: need root to apt-get install ${need[*]}" >&2
    exit 1
  fi
  echo "chromium.sh: installing ${need[*]}" >&2
  apt-get update >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${need[@]}" >&2
fi
/usr/bin/chromium --version
