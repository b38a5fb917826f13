#!/usr/bin/env bash
# One command: install what is missing, build, and run every test (unit,
# integration, end-to-end with a Python client, the short crash test).
set -euo pipefail
cd "$(dirname "$0")/.."
deploy/install-deps.sh --test
deploy/build.sh
cd build
ctest --output-on-failure --timeout 600 -j2
