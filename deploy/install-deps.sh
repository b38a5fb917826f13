#!/usr/bin/env bash
# Installs what building and running loyaltyd needs, from Debian 12 packages;
# with --test also what the tests need (deploy/test.sh). Installs only what
# is missing; safe to run again.
set -euo pipefail

PACKAGES=(
  # build
  cmake g++ ninja-build ccache pkg-config
  # libraries
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  librocksdb-dev libboost1.81-dev libboost-url1.81-dev libabsl-dev libssl-dev
  golang-github-grpc-ecosystem-grpc-gateway-dev   # google/api/annotations.proto (HTTP routes)
  libcli11-dev              # loyaltyd's command-line flags
  libjs-chart.js            # Chart.js, built into the console (web/)
  libgoogle-perftools-dev   # tcmalloc, the server's allocator (LOYALTY_MALLOC in CMakeLists.txt)
  # GoogleTest: CMake's test targets are configured whenever it is found
  libgtest-dev libgmock-dev
)
if [ "${1:-}" = "--test" ]; then
  PACKAGES+=(
    # Debian's Python gRPC for the end-to-end client
    python3 python3-grpcio python3-protobuf
    python3-cryptography openssl   # the identity provider's keys and JWTs, the TLS certificates tests make
    prometheus                # promtool checks the /metrics exposition
    chromium                  # the headless browser tests/js/console_test.mjs drives (playwright-core)
    clang-14 libclang-rt-14-dev   # libFuzzer, ASan and UBSan for tests/fuzz (run.sh)
  )
  # Node and npm for tests/js (the OpenAPI validator). Debian's npm package
  # conflicts with a nodejs that ships its own npm (NodeSource's), so it is
  # asked for only where no npm is installed.
  if ! command -v npm >/dev/null 2>&1; then PACKAGES+=(nodejs npm); fi
fi

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
