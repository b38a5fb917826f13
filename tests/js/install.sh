#!/usr/bin/env bash
# Installs the test suite's Node tools, exactly as package-lock.json pins
# them, into tests/js/node_modules. Does nothing when node_modules was already
# installed from this lock file, so it is cheap to run before every test run.
set -euo pipefail
cd "$(dirname "$0")"

# A copy of the lock file it was installed from, written after a successful
# install (npm ci empties node_modules first, so a failed one leaves none).
stamp=node_modules/.installed-package-lock.json
if [ -f "$stamp" ] && cmp -s package-lock.json "$stamp"; then
  exit 0
fi
# playwright-core drives Debian's Chromium (/usr/bin/chromium); no browser
# is ever downloaded.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
npm ci --no-audit --no-fund
cp package-lock.json "$stamp"
