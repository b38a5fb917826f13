#!/usr/bin/env bash
# Installs what building, running and testing loyaltyd needs, from Debian 12
# packages. Installs only what is missing; safe to run again.
set -euo pipefail

PACKAGES=(
  # build
  cmake g++ ninja-build ccache pkg-config
  # libraries
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  librocksdb-dev libboost1.81-dev libabsl-dev libssl-dev
  libgoogle-perftools-dev   # tcmalloc, the server's allocator (LOYALTY_MALLOC in CMakeLists.txt)
  # tests: GoogleTest, and Debian's Python gRPC for the end-to-end client
  libgtest-dev libgmock-dev python3 python3-grpcio python3-protobuf
)

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
