#!/usr/bin/env bash
# bench/smoke_test.sh BUILD_DIR: starts BUILD_DIR/server/loyaltyd on a fresh
# temporary data folder and runs BUILD_DIR/bench/loadgen for about 2 s of
# each scenario at low load (closed loop, and one open-loop run). Passes when
# every run exits 0 and prints its percentiles (RESULT lines with p50/p99/
# p99.9/max), and bench/compaction_report.sh finds loyaltyd's flushes in
# RocksDB's LOG after a clean stop. Takes about 15 s.
set -euo pipefail

BUILD_DIR=${1:?usage: bench/smoke_test.sh BUILD_DIR}
BUILD_DIR=$(cd "$BUILD_DIR" && pwd)
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=bench/lib.sh
source "$HERE/lib.sh"

LOYALTYD=$BUILD_DIR/server/loyaltyd
LOADGEN=$BUILD_DIR/bench/loadgen
for f in "$LOYALTYD" "$LOADGEN"; do
  [[ -x "$f" ]] || { echo "smoke_test: $f is missing (build loyaltyd and loadgen)" >&2; exit 1; }
done

WORK=$(mktemp -d /tmp/loadgen-smoke.XXXXXX)
cleanup() {
  bench_stop_loyaltyd
  rm -rf "$WORK"
}
trap cleanup EXIT

STORES=4
MEMBERS=200
PORT=$(bench_free_port)
bench_write_config "$WORK/loyaltyd.textproto" "$WORK/data" "$PORT" "$STORES" 16
bench_start_loyaltyd "$LOYALTYD" "$WORK/loyaltyd.textproto" "$WORK/loyaltyd.log"

COMMON=(--target "127.0.0.1:$PORT" --admin-token "$BENCH_ADMIN_TOKEN"
        --terminal-token-prefix "$BENCH_TERMINAL_PREFIX" --stores "$STORES" --members "$MEMBERS"
        --duration-s 2 --warmup-s 0.2 --channels 2 --server-pid "$LOYALTYD_PID")

failures=0
run() {  # run NAME EXPECTED_OP ARGS...
  local name=$1 op=$2
  shift 2
  local out="$WORK/$name.out" rc=0
  timeout 60 "$LOADGEN" "${COMMON[@]}" "$@" >"$out" 2>&1 || rc=$?
  if [[ $rc -ne 0 ]]; then
    echo "FAIL $name: loadgen exited $rc" >&2
    cat "$out" >&2
    failures=$((failures + 1))
    return
  fi
  local line
  line=$(grep "^RESULT .* op=$op " "$out" || true)
  if [[ -z "$line" || ! "$line" =~ p50_us=[0-9]+\ p99_us=[0-9]+\ p999_us=[0-9]+\ max_us=[0-9]+ || "$line" =~ \ ok=0\  ]]; then
    echo "FAIL $name: no percentiles for $op" >&2
    cat "$out" >&2
    failures=$((failures + 1))
    return
  fi
  echo "ok   $name: $(echo "$line" | grep -o 'op=.*mean_us=[0-9]*')"
}

# The first run enrolls the members; the others reuse them.
run sale RecordSale --scenario sale --concurrency 4
run backlog UploadBacklog --scenario backlog --concurrency 2 --backlog-min 200 --backlog-max 500 --skip-enroll
run evaluate EvaluateBasket --scenario evaluate --concurrency 4 --skip-enroll
run member-read GetMember --scenario member-read --concurrency 4 --skip-enroll
run backlog-empty UploadBacklog --scenario backlog-empty --concurrency 2 --backlog-min 200 --backlog-max 500 --skip-enroll
run checkout checkout --scenario checkout --concurrency 4 --skip-enroll
run open-sale RecordSale --scenario sale --mode open --rate 200 --skip-enroll

# bench/compaction_report.sh reads RocksDB's LOG, whose format is RocksDB's:
# a clean stop flushes every memtable, so the members family must show up.
bench_stop_loyaltyd
report=$("$HERE/compaction_report.sh" "$WORK/data/LOG" 2>&1) || true
if grep -q '^members ' <<<"$report" && grep -q '^all ' <<<"$report"; then
  echo "ok   compaction_report: $(grep '^members ' <<<"$report" | tr -s ' ')"
else
  echo "FAIL compaction_report: no members family in the report of $WORK/data/LOG" >&2
  echo "$report" >&2
  failures=$((failures + 1))
fi

if [[ $failures -ne 0 ]]; then
  echo "smoke_test: $failures run(s) failed; loyaltyd log:" >&2
  tail -n 30 "$WORK/loyaltyd.log" >&2
  exit 1
fi
echo "smoke_test: all runs passed"
