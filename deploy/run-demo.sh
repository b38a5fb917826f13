#!/usr/bin/env bash
# One command: install what is missing, build, and start loyaltyd with the
# embedded demo (RocksDB in ./data, demo program and members, demo credentials
# printed). Extra arguments go to loyaltyd. Ctrl-C stops it cleanly.
set -euo pipefail
cd "$(dirname "$0")/.."
deploy/install-deps.sh
deploy/build.sh
exec build/server/loyaltyd --demo --data_dir ./data "$@"
