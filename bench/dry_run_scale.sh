#!/usr/bin/env bash
# bench/dry_run_scale.sh --data DIR [--out DIR] [--memory-mb N]
#
# The dry run on a data folder bench/scale.sh loaded (1,000,000 members,
# 20,000,000 events), without loading it again: starts a Release loyaltyd on
# a hard-linked copy of DIR (RocksDB never changes a table file, so DIR stays
# as it was), runs the dry run as the console does and reports its time,
# passes and loyaltyd's resident memory (bench_dry_run in bench/lib.sh).
# A copy of a running server's data: AdminService.CreateCheckpoint.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
# shellcheck source=bench/lib.sh
source "$HERE/lib.sh"

DATA=""
OUT=""
MEMORY_MB=512
while [[ $# -gt 0 ]]; do
  case "$1" in
    --data) DATA=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --memory-mb) MEMORY_MB=$2; shift 2 ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "dry_run_scale.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
[[ -d "$DATA" ]] || { echo "dry_run_scale.sh: --data DIR, a loyaltyd data folder, is required" >&2; exit 2; }
OUT=${OUT:-/var/tmp/loyalty-scale-results/dry-run-$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$OUT"

BUILD=$ROOT/build-bench
cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release >"$OUT/cmake.log" 2>&1
ninja -C "$BUILD" loyaltyd >"$OUT/build.log" 2>&1 || { tail -n 40 "$OUT/build.log" >&2; exit 1; }

WORK=$(mktemp -d "${BENCH_WORK_PARENT:-/var/tmp}/loyalty-dry-run.XXXXXX")
cleanup() { bench_stop_loyaltyd; rm -rf "$WORK"; }
trap cleanup EXIT
cp -al "$DATA" "$WORK/data"
PORT=$(bench_free_port)
HTTP_PORT=$(bench_free_port)
CONFIG=$WORK/loyaltyd.textproto
bench_write_config "$CONFIG" "$WORK/data" "$PORT" 20 0 "$HTTP_PORT"
echo "member_cache_mb: 256" >>"$CONFIG"
echo "dry_run_memory_mb: $MEMORY_MB" >>"$CONFIG"
bench_start_loyaltyd "$BUILD/server/loyaltyd" "$CONFIG" "$OUT/loyaltyd.log"
bench_dry_run "127.0.0.1:$HTTP_PORT" "$LOYALTYD_PID" "$OUT"
{
  echo "date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')  git: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null)"
  echo "dry run, whole history:             $DRY_S s; $DRY_FACTS"
  echo "resident memory during the dry run: $((RSS_BEFORE_DRY / 1024)) MiB before, $((RSS_DRY_PEAK / 1024)) MiB at peak (dry_run_memory_mb $MEMORY_MB)"
} | tee "$OUT/summary.txt"
