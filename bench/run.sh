#!/usr/bin/env bash
# bench/run.sh [--quick] [--out DIR] [--concurrency N] [--duration-s S] [--scale DIR]
#
# One command for the whole benchmark, on this machine and disk:
#   1. installs what is missing (build deps, rocksdb-tools for db_bench and
#      ldb, postgresql for the comparison, wrk and curl for HTTP); runs as root;
#   2. builds loyaltyd and loadgen into build-bench (Release);
#   3. starts a real loyaltyd on a fresh data folder (config with hashed
#      credentials, default threads: one lane thread per core, HTTP on a
#      second port) and runs every loadgen scenario; beside the gRPC sale and
#      closed-loop member-read runs, the same over HTTP/JSON with wrk
#      (bench/http_sale.lua, bench/http_member_read.lua; same concurrency,
#      after the same warm-up);
#   4. measures loyaltyd's WAL bytes per recorded sale (ldb dump_wal on a
#      copy of the live WAL) and runs db_bench fillrandom --sync=1 with that
#      value size at the same concurrency: the ceiling for durable ingest;
#   5. starts PostgreSQL 15 in a temporary folder (synchronous_commit on) and
#      runs the equivalent transaction with pgbench at the same concurrency;
#   6. prints every figure, and the targets as ratios to the references
#      measured in the same run (db_bench, PostgreSQL, the empty gRPC call,
#      the empty stream), each MET or MISSED; with --scale DIR (a
#      bench/scale.sh results folder) also the scale run's ratios to this
#      run's backlog and member reads.
#
# Each measured run is bounded (--duration-s, default 20; --quick: 3).
# Results: DIR (default /var/tmp/loyalty-bench-results/<time>) holds every
# tool's output and summary.txt.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
# shellcheck source=bench/lib.sh
source "$HERE/lib.sh"

QUICK=0
DURATION=20
WARMUP=3
CONCURRENCY=64
MEMBERS=20000
STORES=20
OUT=""
SCALE_DIR=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --quick) QUICK=1; shift ;;
    --out) OUT=$2; shift 2 ;;
    --concurrency) CONCURRENCY=$2; shift 2 ;;
    --duration-s) DURATION=$2; shift 2 ;;
    --members) MEMBERS=$2; shift 2 ;;
    --scale) SCALE_DIR=$(cd "$2" && pwd); shift 2 ;;
    -h|--help) sed -n '2,27p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
if [[ $QUICK -eq 1 ]]; then
  DURATION=3
  WARMUP=1
  MEMBERS=2000
fi
OUT=${OUT:-/var/tmp/loyalty-bench-results/$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
log() { echo "[$(date -u +%H:%M:%S)] $*" | tee -a "$OUT/run.log" >&2; }

# ------------------------------------------------------------ 1. install
if [[ $(id -u) -ne 0 ]]; then
  echo "run.sh: run as root (it installs packages and runs PostgreSQL as the postgres user)" >&2
  exit 1
fi
"$ROOT/deploy/install-deps.sh"
missing=()
for p in rocksdb-tools postgresql postgresql-contrib wrk curl; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [[ ${#missing[@]} -gt 0 ]]; then
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)

# ------------------------------------------------------------ 2. build
BUILD=$ROOT/build-bench
log "building loyaltyd and loadgen into $BUILD (Release)"
cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release >"$OUT/cmake.log" 2>&1
ninja -C "$BUILD" loadgen loyaltyd >"$OUT/build.log" 2>&1 || { tail -n 40 "$OUT/build.log" >&2; exit 1; }
LOYALTYD=$BUILD/server/loyaltyd
LOADGEN=$BUILD/bench/loadgen

# Everything below writes to one disk: the work folder.
WORK=$(mktemp -d "${BENCH_WORK_PARENT:-/var/tmp}/loyalty-bench.XXXXXX")
chmod 755 "$WORK"
PG_STARTED=0
cleanup() {
  bench_stop_loyaltyd
  if [[ $PG_STARTED -eq 1 ]]; then
    su postgres -s /bin/sh -c "$PGBIN/pg_ctl -D $WORK/pg/data -m fast -w stop" >/dev/null 2>&1 || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

{
  echo "date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
  echo "cpus: $(nproc)  $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
  echo "memory: $(free -m | awk '/Mem:/ {print $2 " MiB"}')"
  echo "disk: $(df -h "$WORK" | awk 'NR==2 {print $1 " " $2 " size, " $4 " free, mounted on " $6}')"
  echo "kernel: $(uname -r)"
  echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "git: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null) ($(git -C "$ROOT" status --porcelain 2>/dev/null | wc -l) files changed)"
  echo "duration per run: ${DURATION} s (+${WARMUP} s warm-up), concurrency ${CONCURRENCY}, members ${MEMBERS}, stores ${STORES}"
} >"$OUT/machine.txt"
cat "$OUT/machine.txt" >&2

# ------------------------------------------------------------ 3. loyaltyd
PORT=$(bench_free_port)
HTTP_PORT=$(bench_free_port)
HTTP_URL=http://127.0.0.1:$HTTP_PORT
CONFIG=$WORK/loyaltyd.textproto
bench_write_config "$CONFIG" "$WORK/loyaltyd-data" "$PORT" "$STORES" 0 "$HTTP_PORT"
cp "$CONFIG" "$OUT/loyaltyd.textproto"
log "starting loyaltyd on 127.0.0.1:$PORT (gRPC) and $HTTP_URL, data in $WORK/loyaltyd-data"
bench_start_loyaltyd "$LOYALTYD" "$CONFIG" "$OUT/loyaltyd.log"

LG=("$LOADGEN" --target "127.0.0.1:$PORT" --admin-token "$BENCH_ADMIN_TOKEN"
    --terminal-token-prefix "$BENCH_TERMINAL_PREFIX" --stores "$STORES" --members "$MEMBERS"
    --duration-s "$DURATION" --warmup-s "$WARMUP" --server-pid "$LOYALTYD_PID")

: >"$OUT/results.txt"
loadgen_run() {  # loadgen_run NAME ARGS...
  local name=$1
  shift
  log "loadgen $name: $*"
  echo "\$ loadgen $* --duration-s $DURATION --warmup-s $WARMUP" >"$OUT/loadgen-$name.txt"
  local rc=0
  timeout $((DURATION * 6 + 300)) "${LG[@]}" --label "$name" "$@" >>"$OUT/loadgen-$name.txt" 2>&1 || rc=$?
  grep '^RESULT' "$OUT/loadgen-$name.txt" >>"$OUT/results.txt" || true
  grep -v '^RESULT' "$OUT/loadgen-$name.txt" | sed -n '/^operation/,$p' >&2
  [[ $rc -eq 0 ]] || log "loadgen $name exited $rc (see $OUT/loadgen-$name.txt)"
}

# The machine's CPU while a tool runs (wrk below; the references later,
# which are other processes: db_bench's threads, PostgreSQL's backends and
# pgbench), from /proc/stat, counted as loadgen counts it (steal is busy):
# busy jiffies now; busy CPU-seconds since a reading; cores busy over a
# number of seconds; CPU per operation = busy CPU-seconds over the
# operations (rate x $DURATION). The window includes the tool's start and
# stop, so the figures lean high.
machine_busy_jiffies() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat; }
busy_cpu_s_since() { awk -v d=$(( $(machine_busy_jiffies) - $1 )) -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", d / hz }'; }
cores_over() { awk -v c="$1" -v t="$2" 'BEGIN { if (t > 0) printf "%.2f", c / t; else print "?" }'; }
cpu_us_per_op() { awk -v c="$1" -v r="${2:-0}" -v t="$DURATION" 'BEGIN { if (r > 0) printf "%.0f", c * 1e6 / (r * t); else print "?" }'; }

# HTTP/JSON (wrk, 2 threads, closed loop like loadgen's: each connection
# sends its next request when the answer came). A warm-up run of $WARMUP s,
# then the measured run of $DURATION s; loyaltyd's CPU from /proc/PID/stat
# over the measured run (loadgen's server_cores, the same way), wrk's from
# GNU time, and loyaltyd's own count of its HTTP answers (/metrics) as a
# check on wrk's: every answer of the run must be 200. A RESULT line in
# loadgen's format goes into results.txt (op=http-NAME).
proc_cpu_jiffies() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
# loyaltyd's HTTP answers so far on API routes (not /metrics): "200s others".
http_answers() {
  { curl -s --max-time 10 "$HTTP_URL/metrics" || true; } | awk '
    /^loyaltyd_http_requests_total\{/ { if ($0 ~ /route="\//) next; if ($0 ~ /code="200"/) ok += $NF; else other += $NF }
    END { printf "%d %d\n", ok, other }'
}
# A few requests by hand first: each must answer 200 (HTTP_OK=0 otherwise,
# and the HTTP figures are not measured).
http_check() {
  local f=$OUT/http-check.txt i code
  : >"$f"
  for ((i = 0; i < 100; i++)); do
    curl -s -o /dev/null --max-time 2 "$HTTP_URL/healthz" && break
    sleep 0.1
  done
  HTTP_OK=1
  local body
  body=$(printf '{"ref":{"store_id":"store-1","terminal_id":"t-1","transaction_id":"http-check-%s"},"occurred_at":"%s","member":{"member_id":"bm-0000000"},"currency":"EUR","total_minor":"700","lines":[{"sku":"coffee-1","category":"coffee","quantity":2,"unit_price_minor":"350"}]}' \
    "$(date +%s%N)" "$(date -u +%Y-%m-%dT%H:%M:%SZ)")
  local -a checks=(
    "GET /v1/members/bm-0000000 $BENCH_ADMIN_TOKEN"
    "GET /v1/members/bm-0000001/offers $BENCH_ADMIN_TOKEN"
    "POST /v1/sales ${BENCH_TERMINAL_PREFIX}1"
  )
  local c verb path token
  for c in "${checks[@]}"; do
    read -r verb path token <<<"$c"
    local -a extra=()
    [[ $verb == POST ]] && extra=(-H 'Content-Type: application/json' --data-binary "$body")
    { echo "\$ curl -X $verb $HTTP_URL$path"; } >>"$f"
    code=$(curl -s -o "$WORK/http-check-body" -w '%{http_code}' --max-time 10 -X "$verb" \
      -H "Authorization: Bearer $token" "${extra[@]}" "$HTTP_URL$path" || true)
    { echo "HTTP $code"; head -c 2000 "$WORK/http-check-body" 2>/dev/null; echo; } >>"$f"
    if [[ $code != 200 ]]; then
      HTTP_OK=0
      log "HTTP check: $verb $path answered $code (see $f)"
    fi
  done
  [[ $HTTP_OK -eq 1 ]] && log "HTTP check: member read, offers and a sale answered 200"
  return 0
}
wrk_run() {  # wrk_run NAME CONNECTIONS SCRIPT SCRIPT_ARGS...
  local name=$1 conns=$2 script=$3
  shift 3
  local f=$OUT/wrk-$name.txt
  local -a cmd=(wrk -t 2 -c "$conns" --timeout 10s --latency -s "$HERE/$script")
  if [[ $HTTP_OK -ne 1 ]]; then
    log "wrk $name: skipped (the HTTP check failed)"
    return 0
  fi
  log "wrk $name: ${cmd[*]} -d ${DURATION}s $HTTP_URL -- $*"
  echo "\$ ${cmd[*]} -d ${DURATION}s $HTTP_URL -- $*" >"$f"
  timeout $((WARMUP + 60)) "${cmd[@]}" -d "${WARMUP}s" "$HTTP_URL" -- "$@" >"$OUT/wrk-$name-warmup.txt" 2>&1 || true
  local answers0 answers1 srv0 srv1 machine0 machine1 t0 t1 rc=0
  answers0=$(http_answers)
  srv0=$(proc_cpu_jiffies "$LOYALTYD_PID")
  machine0=$(machine_busy_jiffies)
  t0=$(date +%s.%N)
  timeout $((DURATION * 3 + 60)) /usr/bin/time -f '%e %U %S' -o "$OUT/wrk-$name.time" \
    "${cmd[@]}" -d "${DURATION}s" "$HTTP_URL" -- "$@" >>"$f" 2>&1 || rc=$?
  t1=$(date +%s.%N)
  srv1=$(proc_cpu_jiffies "$LOYALTYD_PID")
  machine1=$(machine_busy_jiffies)
  answers1=$(http_answers)
  [[ $rc -eq 0 ]] || log "wrk $name exited $rc (see $f)"
  local line
  line=$(grep '^WRK_RESULT' "$f" | tail -n 1 || true)
  if [[ -z "$line" ]]; then
    log "wrk $name: no WRK_RESULT line (see $f)"
    return 0
  fi
  # The RESULT line: wrk's figures, loyaltyd's and wrk's CPU, loyaltyd's answers.
  awk -v line="$line" -v name="$name" -v conns="$conns" -v hz="$(getconf CLK_TCK)" \
      -v srv="$((srv1 - srv0))" -v machine="$((machine1 - machine0))" -v wall="$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" \
      -v wtime="$(tail -n 1 "$OUT/wrk-$name.time" 2>/dev/null)" -v a0="$answers0" -v a1="$answers1" 'BEGIN {
    n = split(line, kv, " ")
    for (i = 2; i <= n; i++) { split(kv[i], p, "="); v[p[1]] = p[2] }
    split(wtime, w, " "); split(a0, b0, " "); split(a1, b1, " ")
    errors = v["non2xx"] + v["connect_errors"] + v["read_errors"] + v["write_errors"] + v["timeouts"]
    server_cores = wall > 0 ? srv / hz / wall : -1
    machine_cores = wall > 0 ? machine / hz / wall : -1
    wrk_cores = w[1] > 0 ? (w[2] + w[3]) / w[1] : -1
    per_op = v["requests_per_s"] > 0 ? server_cores * 1e6 / v["requests_per_s"] : -1
    printf "RESULT scenario=http-%s mode=closed concurrency=%d rate=0 op=http-%s ok=%d errors=%d dropped=0 ", name, conns, name, v["requests"] - v["non2xx"], errors
    printf "ops_per_s=%s items_per_s=%s p50_us=%s p90_us=%s p99_us=%s p999_us=%s max_us=%s mean_us=%s ", v["requests_per_s"], v["requests_per_s"], v["p50_us"], v["p90_us"], v["p99_us"], v["p999_us"], v["max_us"], v["mean_us"]
    printf "non2xx=%s connect_errors=%s read_errors=%s write_errors=%s timeouts=%s server_200=%d server_non200=%d ", v["non2xx"], v["connect_errors"], v["read_errors"], v["write_errors"], v["timeouts"], b1[1] - b0[1], b1[2] - b0[2]
    printf "loadgen_cores=%.2f server_cores=%.2f machine_busy_cores=%.2f server_cpu_us_per_item=%.1f window_s=%s label=http-%s\n", wrk_cores, server_cores, machine_cores, per_op, v["duration_s"], name
  }' | tee -a "$OUT/results.txt" >>"$f"
  grep -A 20 '^  Thread Stats' "$f" | grep -v '^WRK_RESULT' >&2 || true
}
WRK_MEMBERS=(members="$MEMBERS")

# The first run enrolls the members (concurrently); the rest reuse them.
loadgen_run sale --scenario sale --mode closed --concurrency "$CONCURRENCY"
# The WAL as the sale run left it (loyaltyd flushes it away at shutdown).
mkdir -p "$WORK/wal-copy"
cp "$WORK"/loyaltyd-data/*.log "$WORK/wal-copy/" 2>/dev/null || true
http_check
# Durable sales over HTTP, at the sale run's concurrency, right after it.
wrk_run sale "$CONCURRENCY" http_sale.lua "${WRK_MEMBERS[@]}" stores="$STORES" \
  terminal_token_prefix="$BENCH_TERMINAL_PREFIX" run_id="http-$(date +%s)"
BACKLOG_MAX=10000
[[ $QUICK -eq 1 ]] && BACKLOG_MAX=2000  # streams must finish within the short run
loadgen_run backlog --scenario backlog --mode closed --concurrency 4 --backlog-min 1000 --backlog-max "$BACKLOG_MAX" --skip-enroll
loadgen_run evaluate-open --scenario evaluate --mode open --rate 5000 --skip-enroll
loadgen_run evaluate-closed --scenario evaluate --mode closed --concurrency 16 --skip-enroll
loadgen_run member-read-open --scenario member-read --mode open --rate 10000 --skip-enroll
loadgen_run member-read-closed --scenario member-read --mode closed --concurrency 32 --skip-enroll
# Member reads over HTTP (the same mix and concurrency), right after them.
wrk_run member-read 32 http_member_read.lua "${WRK_MEMBERS[@]}" admin_token="$BENCH_ADMIN_TOKEN"
# Baselines: an empty gRPC call (health check; no auth, no storage): the
# transport's capacity, and its latency at the two open-loop rates above (the
# floor under the evaluation and member-read p99s).
loadgen_run health-closed --scenario health --mode closed --concurrency 32 --skip-enroll
loadgen_run health-open-5000 --scenario health --mode open --rate 5000 --skip-enroll
loadgen_run health-open-10000 --scenario health --mode open --rate 10000 --skip-enroll
# The same for the backlog: streams as above of empty events, each rejected
# without routing or storage: the transport's cost per streamed event.
loadgen_run backlog-empty --scenario backlog-empty --mode closed --concurrency 4 --backlog-min 1000 --backlog-max "$BACKLOG_MAX" --skip-enroll
loadgen_run checkout --scenario checkout --mode closed --concurrency "$CONCURRENCY" --skip-enroll
bench_stop_loyaltyd
du -sh "$WORK/loyaltyd-data" >"$OUT/loyaltyd-data-size.txt" 2>&1 || true

# ------------------------------------------------------------ 4. db_bench
# WAL bytes per recorded sale or return: every event writes exactly one
# event record (column family 1, "events", in the WAL dump; a return also
# rewrites its sale's idempotency record, so those are not one per event);
# group commit merges concurrent batches into one WAL record, so count
# events, not records.
EVENTS=0
BYTES=0
for f in "$WORK"/wal-copy/*.log; do
  [[ -s "$f" ]] || continue
  read -r e b < <(ldb dump_wal --walfile="$f" 2>/dev/null |
    awk -F, 'NR > 1 { n = gsub(/PUT\(1\)/, "&"); if (n > 0) { e += n; b += $3 } } END { print e + 0, b + 0 }')
  EVENTS=$((EVENTS + e))
  BYTES=$((BYTES + b))
done
if [[ $EVENTS -gt 0 ]]; then
  PER_SALE=$((BYTES / EVENTS))
else
  PER_SALE=1000
  log "could not read the WAL copy; assuming 1000 bytes per sale"
fi
VALUE_SIZE=$((PER_SALE > 116 ? PER_SALE - 16 : 100))
echo "wal_events=$EVENTS wal_bytes=$BYTES bytes_per_sale=$PER_SALE db_bench_value_size=$VALUE_SIZE" >"$OUT/wal-bytes.txt"
log "WAL: $EVENTS events, $BYTES bytes: $PER_SALE bytes per sale; db_bench --value_size=$VALUE_SIZE"

DB_BENCH_CMD=(db_bench --benchmarks=fillrandom --sync=1 --threads="$CONCURRENCY" --value_size="$VALUE_SIZE"
  --key_size=16 --num=10000000 --duration="$DURATION" --db="$WORK/db_bench" --use_existing_db=0
  --histogram=1 --statistics=0)
log "${DB_BENCH_CMD[*]}"
echo "\$ ${DB_BENCH_CMD[*]}" >"$OUT/db_bench.txt"
CPU0=$(machine_busy_jiffies)
T0=$(date +%s.%N)
timeout $((DURATION * 3 + 120)) "${DB_BENCH_CMD[@]}" >>"$OUT/db_bench.txt" 2>&1 || log "db_bench failed (see $OUT/db_bench.txt)"
DB_BENCH_CPU_S=$(busy_cpu_s_since "$CPU0")
DB_BENCH_BUSY=$(cores_over "$DB_BENCH_CPU_S" "$(awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN { print b - a }')")
DB_BENCH_OPS=$(awk '/^fillrandom/ { for (i = 1; i <= NF; i++) if ($(i) == "ops/sec;" || $(i) == "ops/sec") print $(i-1) }' "$OUT/db_bench.txt" | head -n 1)
DB_BENCH_P99=$(awk '/^Percentiles:/ { for (i = 1; i <= NF; i++) if ($(i) == "P99:") print $(i+1) }' "$OUT/db_bench.txt" | head -n 1)
rm -rf "$WORK/db_bench"
DB_BENCH_CPU_US=$(cpu_us_per_op "$DB_BENCH_CPU_S" "$DB_BENCH_OPS")
log "db_bench fillrandom sync: ${DB_BENCH_OPS:-?} ops/s, p99 ${DB_BENCH_P99:-?} us; machine ${DB_BENCH_BUSY} cores busy, ${DB_BENCH_CPU_US} us per write"

# ------------------------------------------------------------ 5. PostgreSQL
PGPORT=$(bench_free_port)
mkdir -p "$WORK/pg"
chown postgres:postgres "$WORK/pg"
log "PostgreSQL: initdb and start on 127.0.0.1:$PGPORT ($PGBIN)"
su postgres -s /bin/sh -c "$PGBIN/initdb -D $WORK/pg/data -A trust -U postgres -E UTF8 --no-sync" >"$OUT/pg-initdb.log" 2>&1
su postgres -s /bin/sh -c "$PGBIN/pg_ctl -D $WORK/pg/data -l $WORK/pg/server.log -w -t 60 \
  -o \"-p $PGPORT -c listen_addresses=127.0.0.1 -k $WORK/pg -c max_connections=$((CONCURRENCY + 20)) \
      -c synchronous_commit=on -c fsync=on -c full_page_writes=on -c shared_buffers=512MB \
      -c max_wal_size=4GB -c checkpoint_timeout=15min\" start" >"$OUT/pg-start.log" 2>&1
PG_STARTED=1
PSQL=("$PGBIN/psql" -h 127.0.0.1 -p "$PGPORT" -U postgres -v ON_ERROR_STOP=1 -q postgres)
"${PSQL[@]}" <<SQL
CREATE TABLE sales (
  store_id int NOT NULL, terminal_id int NOT NULL, txn_id bigint NOT NULL,
  member_id int, total_minor bigint NOT NULL, occurred_at timestamptz NOT NULL DEFAULT now(),
  body text NOT NULL,
  PRIMARY KEY (store_id, terminal_id, txn_id));
ALTER TABLE sales ALTER COLUMN body SET STORAGE EXTERNAL;  -- no compression: write the bytes
CREATE TABLE ledger (
  entry_id bigserial PRIMARY KEY, member_id int NOT NULL,
  store_id int NOT NULL, terminal_id int NOT NULL, txn_id bigint NOT NULL,
  points bigint NOT NULL, at timestamptz NOT NULL DEFAULT now());
CREATE INDEX ledger_member ON ledger (member_id, entry_id);
CREATE TABLE balances (member_id int PRIMARY KEY, points bigint NOT NULL, updated_at timestamptz NOT NULL);
INSERT INTO balances SELECT m, 0, now() FROM generate_series(1, $MEMBERS) m;
VACUUM ANALYZE;
SQL
# The equivalent of one RecordSale: idempotent insert of the sale keyed by
# (store, terminal, txn), a ledger row, and the member's balance upsert, in
# one transaction (one statement, one round trip, one synced commit).
cat >"$WORK/pg/sale.sql" <<'SQL'
\set store random(1, 20)
\set term random(1, 3)
\set member random_zipfian(1, :members, 1.1)
\set txn random(1, 9000000000000000000)
\set amount random(100, 10000)
WITH s AS (
  INSERT INTO sales (store_id, terminal_id, txn_id, member_id, total_minor, body)
  VALUES (:store, :term, :txn, :member, :amount, substr(repeat(md5(:txn::text || random()::text), :body / 32 + 1), 1, :body))
  ON CONFLICT (store_id, terminal_id, txn_id) DO NOTHING
  RETURNING member_id, store_id, terminal_id, txn_id, total_minor),
l AS (
  INSERT INTO ledger (member_id, store_id, terminal_id, txn_id, points)
  SELECT member_id, store_id, terminal_id, txn_id, total_minor / 100 FROM s
  RETURNING member_id, points)
INSERT INTO balances (member_id, points, updated_at)
SELECT member_id, points, now() FROM l
ON CONFLICT (member_id) DO UPDATE SET points = balances.points + EXCLUDED.points, updated_at = now();
SQL
cp "$WORK/pg/sale.sql" "$OUT/pgbench-sale.sql"
PGBENCH_CMD=("$PGBIN/pgbench" -h 127.0.0.1 -p "$PGPORT" -U postgres -n -M prepared -c "$CONCURRENCY" -j 2
  -T "$DURATION" -D members="$MEMBERS" -D body="$VALUE_SIZE" -f "$WORK/pg/sale.sql" postgres)
log "${PGBENCH_CMD[*]}"
echo "\$ ${PGBENCH_CMD[*]}" >"$OUT/pgbench.txt"
CPU0=$(machine_busy_jiffies)
T0=$(date +%s.%N)
timeout $((DURATION * 3 + 120)) "${PGBENCH_CMD[@]}" >>"$OUT/pgbench.txt" 2>&1 || log "pgbench failed (see $OUT/pgbench.txt)"
PG_CPU_S=$(busy_cpu_s_since "$CPU0")
PG_BUSY=$(cores_over "$PG_CPU_S" "$(awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN { print b - a }')")
PG_TPS=$(awk '/^tps = / { print $3; exit }' "$OUT/pgbench.txt")
PG_LAT=$(awk '/^latency average = / { print $4; exit }' "$OUT/pgbench.txt")
PG_ROWS=$("${PSQL[@]}" -At -c "SELECT count(*) FROM sales" 2>/dev/null || echo "?")
su postgres -s /bin/sh -c "$PGBIN/pg_ctl -D $WORK/pg/data -m fast -w stop" >/dev/null 2>&1 || true
PG_STARTED=0
PG_CPU_US=$(cpu_us_per_op "$PG_CPU_S" "$PG_TPS")
log "pgbench: ${PG_TPS:-?} tps, latency average ${PG_LAT:-?} ms, $PG_ROWS sales rows; machine ${PG_BUSY} cores busy, ${PG_CPU_US} us per transaction"

# ------------------------------------------------------------ 6. summary
# field LABEL OP KEY: a value from the RESULT lines.
field() {
  awk -v label="label=$1" -v op="op=$2" -v key="$3" '
    { hit_l = 0; hit_o = 0
      for (i = 1; i <= NF; i++) { if ($i == label) hit_l = 1; if ($i == op) hit_o = 1 }
      if (hit_l && hit_o) for (i = 1; i <= NF; i++) { split($i, kv, "="); if (kv[1] == key) { print kv[2]; exit } } }' "$OUT/results.txt"
}
num() { [[ -n "$1" ]] && echo "$1" || echo 0; }
ratio() { awk -v a="$(num "$1")" -v b="$(num "$2")" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
ms() { awk -v u="$(num "$1")" 'BEGIN { printf "%.3f", u / 1000 }'; }
verdict() { awk -v ok="$1" 'BEGIN { print (ok ? "MET" : "MISSED") }'; }

SALE=$(num "$(field sale RecordSale ops_per_s)")
RET=$(num "$(field sale RecordReturn ops_per_s)")
INGEST=$(awk -v a="$SALE" -v b="$RET" 'BEGIN { printf "%.1f", a + b }')
SALE_P99=$(field sale RecordSale p99_us)
SALE_SRV=$(field sale RecordSale server_cores)
SALE_LG=$(field sale RecordSale loadgen_cores)
BACKLOG=$(num "$(field backlog UploadBacklog items_per_s)")
EVAL_OPEN_P99=$(field evaluate-open EvaluateBasket p99_us)
EVAL_OPEN_OPS=$(field evaluate-open EvaluateBasket ops_per_s)
EVAL_OPEN_ERR=$(field evaluate-open EvaluateBasket errors)
EVAL_CLOSED=$(field evaluate-closed EvaluateBasket ops_per_s)
MR_CLOSED=$(num "$(field member-read-closed member-read ops_per_s)")
MR_OPEN_P99=$(field member-read-open member-read p99_us)
MR_OPEN_OPS=$(field member-read-open member-read ops_per_s)
MR_OPEN_ERR=$(field member-read-open member-read errors)
HEALTH=$(field health-closed HealthCheck ops_per_s)
HEALTH_LG=$(field health-closed HealthCheck loadgen_cores)
HEALTH_SRV=$(field health-closed HealthCheck server_cores)
HEALTH_5K_OPS=$(field health-open-5000 HealthCheck ops_per_s)
HEALTH_5K_ERR=$(field health-open-5000 HealthCheck errors)
HEALTH_5K_P50=$(field health-open-5000 HealthCheck p50_us)
HEALTH_5K_P99=$(field health-open-5000 HealthCheck p99_us)
HEALTH_10K_OPS=$(field health-open-10000 HealthCheck ops_per_s)
HEALTH_10K_ERR=$(field health-open-10000 HealthCheck errors)
HEALTH_10K_P50=$(field health-open-10000 HealthCheck p50_us)
HEALTH_10K_P99=$(field health-open-10000 HealthCheck p99_us)
BACKLOG_EMPTY=$(field backlog-empty empty-backlog-event items_per_s)
BACKLOG_EMPTY_LG=$(field backlog-empty empty-backlog-event loadgen_cores)
BACKLOG_EMPTY_SRV=$(field backlog-empty empty-backlog-event server_cores)
CHECKOUT=$(field checkout checkout ops_per_s)
CHECKOUT_P99=$(field checkout checkout p99_us)
R_DB=$(ratio "$INGEST" "$DB_BENCH_OPS")
R_PG=$(ratio "$INGEST" "$PG_TPS")
# HTTP (wrk) against gRPC (loadgen), same concurrency, closed loop. A figure
# with any error (wrk's non-2xx or socket errors, or an answer loyaltyd
# counted that was not 200) is FAILED and gets no ratio.
MR_CLOSED_SRV=$(field member-read-closed member-read server_cores)
MR_CLOSED_LG=$(field member-read-closed member-read loadgen_cores)
MR_CLOSED_US=$(field member-read-closed member-read server_cpu_us_per_item)
# loadgen prints the machine's busy cores in its text, not in RESULT.
MR_CLOSED_MACHINE=$(grep -o 'machine busy [0-9.]*' "$OUT/loadgen-member-read-closed.txt" 2>/dev/null | awk '{ print $3 }' | tail -n 1)
INGEST_US=$(awk -v c="$(num "$SALE_SRV")" -v r="$INGEST" 'BEGIN { if (c > 0 && r > 0) printf "%.1f", c * 1e6 / r; else print "?" }')
http_ok() {  # http_ok NAME: 1 when the HTTP figure has answers and no error
  awk -v ops="$(num "$(field "http-$1" "http-$1" ops_per_s)")" -v e="$(num "$(field "http-$1" "http-$1" errors)")" \
      -v bad="$(num "$(field "http-$1" "http-$1" server_non200)")" 'BEGIN { print (ops > 0 && e == 0 && bad == 0) ? 1 : 0 }'
}
http_line() {  # http_line NAME: the summary's text for an HTTP figure
  local n=http-$1
  if [[ -z "$(field "$n" "$n" ops_per_s)" ]]; then
    echo "not measured (see $OUT/run.log)"
    return
  fi
  local verdict=""
  [[ $(http_ok "$1") -eq 1 ]] || verdict="FAILED: "
  echo "${verdict}$(field "$n" "$n" ops_per_s)/s p50 $(ms "$(field "$n" "$n" p50_us)") ms p99 $(ms "$(field "$n" "$n" p99_us)") ms;" \
    "loyaltyd $(field "$n" "$n" server_cores) cores, $(field "$n" "$n" server_cpu_us_per_item) us per op; wrk $(field "$n" "$n" loadgen_cores) cores; machine $(field "$n" "$n" machine_busy_cores) cores busy;" \
    "non-2xx $(field "$n" "$n" non2xx), socket errors $(( $(num "$(field "$n" "$n" connect_errors)") + $(num "$(field "$n" "$n" read_errors)") + $(num "$(field "$n" "$n" write_errors)") + $(num "$(field "$n" "$n" timeouts)") ));" \
    "loyaltyd answered $(field "$n" "$n" server_200) x 200, $(field "$n" "$n" server_non200) other"
}
HTTP_MR=$(num "$(field http-member-read http-member-read ops_per_s)")
HTTP_SALE=$(num "$(field http-sale http-sale ops_per_s)")
R_HTTP_MR=n/a
R_HTTP_SALE=n/a
[[ $(http_ok member-read) -eq 1 ]] && R_HTTP_MR=$(ratio "$HTTP_MR" "$MR_CLOSED")
[[ $(http_ok sale) -eq 1 ]] && R_HTTP_SALE=$(ratio "$HTTP_SALE" "$INGEST")
R_BACKLOG=$(ratio "$BACKLOG" "$BACKLOG_EMPTY")
R_MR=$(ratio "$MR_CLOSED" "$HEALTH")
R_EVAL_P99=$(ratio "$EVAL_OPEN_P99" "$HEALTH_5K_P99")
# The evaluation's p99 counts only if it kept up with the offered 5,000/s
# without errors.
if awk -v e="$(num "$EVAL_OPEN_ERR")" -v o="$(num "$EVAL_OPEN_OPS")" 'BEGIN{exit !(e==0 && o>=4900)}'; then
  EVAL_VERDICT=$(verdict "$(awk -v r="$R_EVAL_P99" 'BEGIN{print (r!="n/a" && r<=1.15)}')")
else
  EVAL_VERDICT=FAILED
fi
# The scale run's figures (bench/scale.sh), when --scale DIR names its results.
SCALE_BACKLOG_VERDICT="-"; SCALE_FLAT_VERDICT="-"; SCALE_READ_VERDICT="-"
SCALE_BACKLOG_TEXT="not run (bench/scale.sh, then bench/run.sh --scale DIR)"; SCALE_FLAT_TEXT="$SCALE_BACKLOG_TEXT"; SCALE_READ_TEXT="$SCALE_BACKLOG_TEXT"
if [[ -n "$SCALE_DIR" && -f "$SCALE_DIR/loadgen-load.txt" ]]; then
  scale_field() { grep "^RESULT" "$1" | awk -v op="op=$2" -v key="$3" '{ hit = 0; for (i = 1; i <= NF; i++) if ($i == op) hit = 1;
      if (hit) for (i = 1; i <= NF; i++) { split($i, kv, "="); if (kv[1] == key) { print kv[2]; exit } } }'; }
  SCALE_BACKLOG=$(num "$(scale_field "$SCALE_DIR/loadgen-load.txt" backlog-event items_per_s)")
  R_SCALE_BACKLOG=$(ratio "$SCALE_BACKLOG" "$BACKLOG")
  SCALE_BACKLOG_VERDICT=$(verdict "$(awk -v r="$R_SCALE_BACKLOG" 'BEGIN{print (r!="n/a" && r>=0.70)}')")
  SCALE_BACKLOG_TEXT="$R_SCALE_BACKLOG ($SCALE_BACKLOG/s against $BACKLOG/s; $SCALE_DIR)"
  WINDOWS=$(awk '/^progress:/ { n++; v[n] = $2 } END { p = 0; for (i = 20; i <= n; i += 20) { printf "%.0f ", (v[i] - p) / 600; p = v[i] } }' "$SCALE_DIR/loadgen-load.txt")
  MIN_WINDOW=$(echo "$WINDOWS" | awk '{ m = $1; for (i = 2; i <= NF; i++) if ($i < m) m = $i; print m + 0 }')
  FIRST_WINDOW=$(echo "$WINDOWS" | awk '{ print $1 + 0 }')
  R_FLAT=$(ratio "$MIN_WINDOW" "$FIRST_WINDOW")
  SCALE_FLAT_VERDICT=$(verdict "$(awk -v r="$R_FLAT" 'BEGIN{print (r!="n/a" && r>=0.8)}')")
  SCALE_FLAT_TEXT="lowest/first $R_FLAT (events/s per 10 minutes: $WINDOWS)"
  SCALE_READ=$(num "$(scale_field "$SCALE_DIR/loadgen-read-warm.txt" member-read ops_per_s)")
  R_SCALE_READ=$(ratio "$SCALE_READ" "$MR_CLOSED")
  SCALE_READ_VERDICT=$(verdict "$(awk -v r="$R_SCALE_READ" 'BEGIN{print (r!="n/a" && r>=0.60)}')")
  SCALE_READ_TEXT="$R_SCALE_READ ($SCALE_READ/s against $MR_CLOSED/s)"
fi
if [[ $(http_ok member-read) -ne 1 ]]; then
  HTTP_MR_VERDICT=FAILED
else
  HTTP_MR_VERDICT=$(verdict "$(awk -v r="$R_HTTP_MR" 'BEGIN{print (r!="n/a" && r>=0.70)}')")
fi

{
  echo
  echo "=================== loyaltyd benchmark summary ==================="
  cat "$OUT/machine.txt"
  echo
  printf '%-58s %s\n' \
    "durable sale ingest, closed c=$CONCURRENCY (sales+returns/s)" "$INGEST  (RecordSale $SALE/s p99 $(ms "$SALE_P99") ms; loyaltyd ${SALE_SRV:-?} cores, loadgen ${SALE_LG:-?} cores)" \
    "db_bench fillrandom --sync=1 --threads=$CONCURRENCY --value_size=$VALUE_SIZE" "${DB_BENCH_OPS:-?} ops/s (p99 ${DB_BENCH_P99:-?} us; machine $DB_BENCH_BUSY cores, $DB_BENCH_CPU_US us per write)" \
    "PostgreSQL $(basename "$(dirname "$PGBIN")") pgbench -c $CONCURRENCY, synchronous_commit=on" "${PG_TPS:-?} tps (latency avg ${PG_LAT:-?} ms; machine $PG_BUSY cores, $PG_CPU_US us per transaction)" \
    "ratio ingest / db_bench" "$R_DB" \
    "ratio ingest / PostgreSQL" "$R_PG" \
    "backlog (UploadBacklog, 4 streams of 1000..$BACKLOG_MAX) events/s" "$BACKLOG" \
    "EvaluateBasket open 5000/s: achieved/s, p99" "${EVAL_OPEN_OPS:-?}/s, p99 $(ms "$EVAL_OPEN_P99") ms, errors ${EVAL_OPEN_ERR:-?}" \
    "EvaluateBasket closed c=16: ops/s" "${EVAL_CLOSED:-?}" \
    "member read open 10000/s: achieved/s, p99" "${MR_OPEN_OPS:-?}/s, p99 $(ms "$MR_OPEN_P99") ms, errors ${MR_OPEN_ERR:-?}" \
    "member read closed c=32 (GetMember 75% + ListOffers 25%)" "$MR_CLOSED/s" \
    "checkout (EvaluateBasket + RecordSale) closed c=$CONCURRENCY" "${CHECKOUT:-?}/s, p99 $(ms "$CHECKOUT_P99") ms" \
    "durable sales over HTTP, wrk c=$CONCURRENCY (POST /v1/sales)" "$(http_line sale)" \
    "member reads over HTTP, wrk c=32 (GET member 75% + offers 25%)" "$(http_line member-read)" \
    "ratio HTTP / gRPC durable sales (gRPC: sales+returns)" "$R_HTTP_SALE  (loyaltyd per op: HTTP $(field http-sale http-sale server_cpu_us_per_item) us, gRPC ${INGEST_US} us)" \
    "ratio HTTP / gRPC member reads (c=32)" "$R_HTTP_MR  (loyaltyd per op: HTTP $(field http-member-read http-member-read server_cpu_us_per_item) us, gRPC ${MR_CLOSED_US:-?} us; gRPC: loyaltyd ${MR_CLOSED_SRV:-?} cores, loadgen ${MR_CLOSED_LG:-?} cores, machine ${MR_CLOSED_MACHINE:-?} cores busy)" \
    "baseline: empty gRPC call (health check) closed c=32" "${HEALTH:-?}/s (loyaltyd ${HEALTH_SRV:-?} cores, loadgen ${HEALTH_LG:-?} cores)" \
    "baseline: empty gRPC call open 5000/s: achieved/s, p50, p99" "${HEALTH_5K_OPS:-?}/s, p50 $(ms "$HEALTH_5K_P50") ms, p99 $(ms "$HEALTH_5K_P99") ms, errors ${HEALTH_5K_ERR:-?}" \
    "baseline: empty gRPC call open 10000/s: achieved/s, p50, p99" "${HEALTH_10K_OPS:-?}/s, p50 $(ms "$HEALTH_10K_P50") ms, p99 $(ms "$HEALTH_10K_P99") ms, errors ${HEALTH_10K_ERR:-?}" \
    "baseline: empty backlog events (4 streams) events/s" "${BACKLOG_EMPTY:-?}/s (loyaltyd ${BACKLOG_EMPTY_SRV:-?} cores, loadgen ${BACKLOG_EMPTY_LG:-?} cores)"
  echo
  echo "targets: ratios to references measured in this run (issue targets; 2 cores, generator on the same machine):"
  printf '  %-66s %-8s %s\n' \
    "durable sales / db_bench synced writes (same concurrency, value) >= 0.60" "$(verdict "$(awk -v r="$R_DB" 'BEGIN{print (r!="n/a" && r>=0.60)}')")" "$R_DB" \
    "durable sales / PostgreSQL's equivalent transaction >= 3.0x" "$(verdict "$(awk -v r="$R_PG" 'BEGIN{print (r!="n/a" && r>=3.0)}')")" "${R_PG}x" \
    "backlog events / empty streamed events >= 0.10" "$(verdict "$(awk -v r="$R_BACKLOG" 'BEGIN{print (r!="n/a" && r>=0.10)}')")" "$R_BACKLOG ($BACKLOG/s against ${BACKLOG_EMPTY:-?}/s)" \
    "member reads / empty call, closed c=32 >= 0.85" "$(verdict "$(awk -v r="$R_MR" 'BEGIN{print (r!="n/a" && r>=0.85)}')")" "$R_MR ($MR_CLOSED/s against ${HEALTH:-?}/s)" \
    "evaluation p99 / empty call p99, both open 5,000/s <= 1.15" "$EVAL_VERDICT" "$R_EVAL_P99 ($(ms "$EVAL_OPEN_P99") ms against $(ms "$HEALTH_5K_P99") ms)" \
    "HTTP member reads / gRPC member reads (c=32) >= 0.70" "$HTTP_MR_VERDICT" "$R_HTTP_MR ($HTTP_MR/s against $MR_CLOSED/s)" \
    "scale backlog / this run's backlog >= 0.70" "$SCALE_BACKLOG_VERDICT" "$SCALE_BACKLOG_TEXT" \
    "scale backlog flat: no 10-minute window below 0.8 of the first" "$SCALE_FLAT_VERDICT" "$SCALE_FLAT_TEXT" \
    "member reads after the scale load (warm) / this run's >= 0.60" "$SCALE_READ_VERDICT" "$SCALE_READ_TEXT"
  echo
  echo "bytes per sale in loyaltyd's WAL: $PER_SALE ($EVENTS events sampled)"
  echo "raw RESULT lines: $OUT/results.txt; every tool's output: $OUT/"
} | tee "$OUT/summary.txt"
