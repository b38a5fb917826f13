#!/usr/bin/env bash
# bench/scale.sh [--members N] [--events N] [--out DIR]
#
# Loads a large program through the real API and reports what running it
# costs (defaults: 1,000,000 members, 20,000,000 events):
#   1. enrolls the members (AdminService.EnrollMember, 128 concurrent);
#   2. uploads the events through the backlog path (UploadBacklog, 4 concurrent
#      streams of 1,000-10,000 events, times spread over the last 360 days, 5%
#      returns): the ingest rate;
#   3. samples loyaltyd's resident memory every 10 s (bounded by the config:
#      block cache, memtable budget, member cache);
#   4. the data folder's size on disk;
#   5. restart-to-serving time after a clean stop (SIGTERM) and after a crash
#      (SIGKILL: RocksDB replays its WAL);
#   6. member reads afterwards, once the compactions the load left behind
#      are done (their time and CPU are reported): closed loop on a warm
#      member cache, then open loop at 5,000/s and closed loop on a cold
#      member cache after the restart;
#   7. a dry run of a program change (Silver's minimum spend lowered) over
#      the whole history, as the console starts it (POST /v1/dry-runs, then
#      GET /v1/dry-runs/{id}): its time, passes and loyaltyd's resident
#      memory before and at its peak (sampled every second).
# Runs as root (installs what is missing). Results: DIR/summary.txt and every
# tool's output in DIR (default /var/tmp/loyalty-scale-results/<time>).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
# shellcheck source=bench/lib.sh
source "$HERE/lib.sh"

MEMBERS=1000000
EVENTS=20000000
OUT=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --members) MEMBERS=$2; shift 2 ;;
    --events) EVENTS=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "scale.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
OUT=${OUT:-/var/tmp/loyalty-scale-results/$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
log() { echo "[$(date -u +%H:%M:%S)] $*" | tee -a "$OUT/run.log" >&2; }

"$ROOT/deploy/install-deps.sh"
BUILD=$ROOT/build-bench
log "building loyaltyd and loadgen into $BUILD (Release)"
cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release >"$OUT/cmake.log" 2>&1
ninja -C "$BUILD" loadgen loyaltyd >"$OUT/build.log" 2>&1 || { tail -n 40 "$OUT/build.log" >&2; exit 1; }
LOYALTYD=$BUILD/server/loyaltyd
LOADGEN=$BUILD/bench/loadgen

WORK=$(mktemp -d "${BENCH_WORK_PARENT:-/var/tmp}/loyalty-scale.XXXXXX")
SAMPLER=""
cleanup() {
  [[ -n "$SAMPLER" ]] && kill "$SAMPLER" 2>/dev/null || true
  bench_stop_loyaltyd
  rm -rf "$WORK"
}
trap cleanup EXIT

PORT=$(bench_free_port)
HTTP_PORT=$(bench_free_port)
CONFIG=$WORK/loyaltyd.textproto
bench_write_config "$CONFIG" "$WORK/data" "$PORT" 20 0 "$HTTP_PORT"
echo "member_cache_mb: 256" >>"$CONFIG"   # bounded, as block_cache_mb (256) and the memtable budget (256 MiB)
echo "dry_run_memory_mb: 512" >>"$CONFIG"   # the default, written out: the summary quotes it
cp "$CONFIG" "$OUT/loyaltyd.textproto"
{
  echo "date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
  echo "cpus: $(nproc)  $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
  echo "memory: $(free -m | awk '/Mem:/ {print $2 " MiB"}')"
  echo "disk: $(df -h "$WORK" | awk 'NR==2 {print $1 " " $2 " size, " $4 " free"}')"
  echo "git: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null)"
  echo "members: $MEMBERS  events: $EVENTS"
} >"$OUT/machine.txt"
cat "$OUT/machine.txt" >&2

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
start_sampler() {
  ( while kill -0 "$LOYALTYD_PID" 2>/dev/null; do
      echo "$(date -u +%s) $(rss_kib "$LOYALTYD_PID")"
      sleep 10
    done ) >>"$OUT/rss.txt" &
  SAMPLER=$!
}

log "starting loyaltyd on 127.0.0.1:$PORT"
bench_start_loyaltyd "$LOYALTYD" "$CONFIG" "$OUT/loyaltyd.log"
start_sampler
LG=("$LOADGEN" --target "127.0.0.1:$PORT" --admin-token "$BENCH_ADMIN_TOKEN"
    --terminal-token-prefix "$BENCH_TERMINAL_PREFIX" --stores 20 --members "$MEMBERS")

log "enrolling $MEMBERS members, then $EVENTS events through UploadBacklog"
T0=$(date +%s.%N)
"${LG[@]}" --enroll-concurrency 128 --scenario backlog --mode closed --concurrency 4 \
    --backlog-min 1000 --backlog-max 10000 --max-events "$EVENTS" --backlog-spread-days 360 \
    --duration-s 86400 --warmup-s 0 --server-pid "$LOYALTYD_PID" --label load \
    --deadline-ms 120000 >"$OUT/loadgen-load.txt" 2>&1 || log "loadgen load exited $? (see loadgen-load.txt)"
T1=$(date +%s.%N)
grep -E '^enrolled|^UploadBacklog|^backlog-event|^CPU' "$OUT/loadgen-load.txt" >&2 || true
RSS_LOADED=$(rss_kib "$LOYALTYD_PID")
RSS_PEAK=$(awk '/^VmHWM:/ {print $2}' "/proc/$LOYALTYD_PID/status")
du -sb "$WORK/data" | cut -f1 >"$OUT/disk-bytes.txt"
du -sh "$WORK/data" >"$OUT/disk.txt"
# Of it: table files and write-ahead logs (kept until every column family
# with data in them has flushed).
# Bytes of the files named PATTERN (%.0f: mawk's %d stops at 2^31-1).
bytes_of() { find "$WORK/data" -name "$1" -printf '%s\n' | awk '{ s += $1 } END { printf "%.0f\n", s }'; }
bytes_of '*.sst' >"$OUT/disk-sst-bytes.txt"
bytes_of '*.log' >"$OUT/disk-wal-bytes.txt"
log "loaded in $(awk -v a="$T0" -v b="$T1" 'BEGIN{printf "%.0f", b-a}') s; data $(cut -f1 "$OUT/disk.txt"); RSS $((RSS_LOADED / 1024)) MiB (peak $((RSS_PEAK / 1024)) MiB)"

# The load leaves compactions to finish; they compete with whatever runs
# next. Wait until loyaltyd is idle (under 0.05 cores over 5 s, at most 10
# minutes) and report what that cost, so the reads below measure reads.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$LOYALTYD_PID/stat"; }
TICKS=$(getconf CLK_TCK)
log "waiting for the compactions the load left behind (loyaltyd idle)"
SETTLE_T0=$(date +%s.%N)
SETTLE_C0=$(cpu_ticks)
for _ in $(seq 120); do
  c0=$(cpu_ticks) || break  # loyaltyd gone: the reads below will say so
  sleep 5
  c1=$(cpu_ticks) || break
  (( (c1 - c0) * 100 < 5 * TICKS * 5 )) && break
done
SETTLE_S=$(awk -v a="$SETTLE_T0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.0f", b-a}')
SETTLE_CPU_S=$(awk -v t=$(( $(cpu_ticks) - SETTLE_C0 )) -v hz="$TICKS" 'BEGIN{printf "%.0f", t/hz}')
log "idle after $SETTLE_S s; loyaltyd used $SETTLE_CPU_S CPU-seconds meanwhile (compactions)"
# What the load's flushes and compactions cost per column family, from
# RocksDB's LOG (read now: RocksDB starts a new LOG when it opens again).
"$HERE/compaction_report.sh" "$WORK/data/LOG" >"$OUT/compactions.txt" 2>&1 || true

log "member reads on the loaded program (warm member cache)"
"${LG[@]}" --skip-enroll --scenario member-read --mode closed --concurrency 32 --duration-s 20 --warmup-s 2 \
    --server-pid "$LOYALTYD_PID" --label read-warm >"$OUT/loadgen-read-warm.txt" 2>&1 || true

# Restart after a clean stop: flushes memtables on the way down.
kill "$SAMPLER" 2>/dev/null || true; SAMPLER=""
S0=$(date +%s.%N)
bench_stop_loyaltyd
S1=$(date +%s.%N)
bench_start_loyaltyd "$LOYALTYD" "$CONFIG" "$OUT/loyaltyd.log"
S2=$(date +%s.%N)
STOP_S=$(awk -v a="$S0" -v b="$S1" 'BEGIN{printf "%.2f", b-a}')
START_S=$(awk -v a="$S1" -v b="$S2" 'BEGIN{printf "%.2f", b-a}')
log "clean stop took $STOP_S s; restart to serving $START_S s"
RSS_RESTARTED=$(rss_kib "$LOYALTYD_PID")

log "member reads after the restart (cold member cache)"
"${LG[@]}" --skip-enroll --scenario member-read --mode open --rate 5000 --duration-s 20 --warmup-s 0 \
    --server-pid "$LOYALTYD_PID" --label read-cold-open >"$OUT/loadgen-read-cold-open.txt" 2>&1 || true
"${LG[@]}" --skip-enroll --scenario member-read --mode closed --concurrency 32 --duration-s 20 --warmup-s 2 \
    --server-pid "$LOYALTYD_PID" --label read-closed >"$OUT/loadgen-read-closed.txt" 2>&1 || true

# A crash with unflushed memtables: write for 20 s, SIGKILL, restart (WAL replay).
"${LG[@]}" --skip-enroll --scenario sale --mode closed --concurrency 64 --duration-s 20 --warmup-s 0 \
    --server-pid "$LOYALTYD_PID" --label sale-before-crash >"$OUT/loadgen-sale.txt" 2>&1 || true
kill -KILL "$LOYALTYD_PID"
wait "$LOYALTYD_PID" 2>/dev/null || true
LOYALTYD_PID=""
C1=$(date +%s.%N)
bench_start_loyaltyd "$LOYALTYD" "$CONFIG" "$OUT/loyaltyd.log"
C2=$(date +%s.%N)
CRASH_START_S=$(awk -v a="$C1" -v b="$C2" 'BEGIN{printf "%.2f", b-a}')
log "restart to serving after SIGKILL: $CRASH_START_S s"

log "dry run of a program change over the whole history (POST /v1/dry-runs)"
bench_dry_run "127.0.0.1:$HTTP_PORT" "$LOYALTYD_PID" "$OUT"
log "dry run: $DRY_S s, $DRY_FACTS; RSS $((RSS_BEFORE_DRY / 1024)) MiB before, $((RSS_DRY_PEAK / 1024)) MiB at peak"

field() {  # field FILE OP KEY
  grep "^RESULT" "$1" | awk -v op="op=$2" -v key="$3" '{ hit = 0; for (i = 1; i <= NF; i++) if ($i == op) hit = 1;
    if (hit) for (i = 1; i <= NF; i++) { split($i, kv, "="); if (kv[1] == key) { print kv[2]; exit } } }'
}
ENROLL=$(grep '^enrolled' "$OUT/loadgen-load.txt" || true)
{
  echo
  echo "=================== loyaltyd scale summary ==================="
  cat "$OUT/machine.txt"
  echo
  echo "enrollment:                         ${ENROLL:-?}"
  echo "backlog ingest (events/s, durable): $(field "$OUT/loadgen-load.txt" backlog-event items_per_s) over $(field "$OUT/loadgen-load.txt" backlog-event window_s) s, $(field "$OUT/loadgen-load.txt" backlog-event ok) events accepted, errors $(field "$OUT/loadgen-load.txt" backlog-event errors)"
  echo "backlog rate per 10 minutes:        $(awk '/^progress:/ { n++; v[n] = $2 } END { p = 0; for (i = 20; i <= n; i += 20) { printf "%.0f ", (v[i] - p) / 600; p = v[i] } }' "$OUT/loadgen-load.txt")(events/s; loadgen prints progress every 30 s)"
  echo "loyaltyd CPU while loading:         $(field "$OUT/loadgen-load.txt" backlog-event server_cores) cores"
  echo "disk use after loading:             $(cut -f1 "$OUT/disk.txt") ($(cat "$OUT/disk-bytes.txt") bytes; table files $(cat "$OUT/disk-sst-bytes.txt"), write-ahead logs $(cat "$OUT/disk-wal-bytes.txt"))"
  echo "compactions after loading:          idle after $SETTLE_S s, $SETTLE_CPU_S CPU-seconds"
  echo "RocksDB background work during the load, per column family (compactions.txt):"
  sed "s/^/    /" "$OUT/compactions.txt"
  echo "resident memory after loading:      $((RSS_LOADED / 1024)) MiB (peak $((RSS_PEAK / 1024)) MiB; samples in rss.txt)"
  echo "resident memory after restart:      $((RSS_RESTARTED / 1024)) MiB"
  echo "clean stop / restart to serving:    $STOP_S s / $START_S s"
  echo "restart to serving after SIGKILL:   $CRASH_START_S s"
  echo "dry run, whole history:             $DRY_S s; $DRY_FACTS"
  echo "resident memory during the dry run: $((RSS_BEFORE_DRY / 1024)) MiB before, $((RSS_DRY_PEAK / 1024)) MiB at peak (dry_run_memory_mb $(grep -o 'dry_run_memory_mb: [0-9]*' "$CONFIG" | cut -d' ' -f2 || echo default))"
  echo "member read, warm, closed c=32:     $(field "$OUT/loadgen-read-warm.txt" member-read ops_per_s)/s, p50 $(field "$OUT/loadgen-read-warm.txt" member-read p50_us) us, p99 $(field "$OUT/loadgen-read-warm.txt" member-read p99_us) us"
  echo "member read, cold, open 5000/s:     $(field "$OUT/loadgen-read-cold-open.txt" member-read ops_per_s)/s, p50 $(field "$OUT/loadgen-read-cold-open.txt" member-read p50_us) us, p99 $(field "$OUT/loadgen-read-cold-open.txt" member-read p99_us) us"
  echo "member read, closed c=32:           $(field "$OUT/loadgen-read-closed.txt" member-read ops_per_s)/s, p50 $(field "$OUT/loadgen-read-closed.txt" member-read p50_us) us, p99 $(field "$OUT/loadgen-read-closed.txt" member-read p99_us) us"
} | tee "$OUT/summary.txt"
