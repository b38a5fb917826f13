#!/usr/bin/env bash
# One command: install what is missing, build, and run every test (unit,
# integration, end-to-end with Python clients over gRPC and HTTP, the short
# crash test, the OpenAPI document under an independent validator), then a
# short run of every libFuzzer target (tests/fuzz, its own clang build in
# ./build-fuzz).
set -euo pipefail
cd "$(dirname "$0")/.."
deploy/install-deps.sh --test
deploy/build.sh
tests/js/install.sh   # the pinned npm packages the tests drive (OpenAPI validator, playwright-core)
(cd build && ctest --output-on-failure --timeout 600 -j2)
tests/fuzz/run.sh   # each fuzz target 20 s over its seeds; fails on any crash
