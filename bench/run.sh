#!/usr/bin/env bash
# bench/run.sh [--quick] [--out DIR] [--concurrency N] [--duration-s S]
#
# One command for the whole benchmark, on this machine and disk:
#   1. installs what is missing (build deps, rocksdb-tools for db_bench and
#      ldb, postgresql for the comparison); runs as root;
#   2. builds loyaltyd and loadgen into build-bench (Release);
#   3. starts a real loyaltyd on a fresh data folder (config with hashed
#      credentials, default threads: one lane thread per core) and runs every
#      loadgen scenario;
#   4. measures loyaltyd's WAL bytes per recorded sale (ldb dump_wal on a
#      copy of the live WAL) and runs db_bench fillrandom --sync=1 with that
#      value size at the same concurrency: the ceiling for durable ingest;
#   5. starts PostgreSQL 15 in a temporary folder (synchronous_commit on) and
#      runs the equivalent transaction with pgbench at the same concurrency;
#   6. prints every figure, the ratios, and the product targets met or missed.
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
while [[ $# -gt 0 ]]; do
  case "$1" in
    --quick) QUICK=1; shift ;;
    --out) OUT=$2; shift 2 ;;
    --concurrency) CONCURRENCY=$2; shift 2 ;;
    --duration-s) DURATION=$2; shift 2 ;;
    --members) MEMBERS=$2; shift 2 ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
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
for p in rocksdb-tools postgresql postgresql-contrib; do
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
CONFIG=$WORK/loyaltyd.textproto
bench_write_config "$CONFIG" "$WORK/loyaltyd-data" "$PORT" "$STORES" 0
cp "$CONFIG" "$OUT/loyaltyd.textproto"
log "starting loyaltyd on 127.0.0.1:$PORT, data in $WORK/loyaltyd-data"
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

# The first run enrolls the members (concurrently); the rest reuse them.
loadgen_run sale --scenario sale --mode closed --concurrency "$CONCURRENCY"
# The WAL as the sale run left it (loyaltyd flushes it away at shutdown).
mkdir -p "$WORK/wal-copy"
cp "$WORK"/loyaltyd-data/*.log "$WORK/wal-copy/" 2>/dev/null || true
BACKLOG_MAX=10000
[[ $QUICK -eq 1 ]] && BACKLOG_MAX=2000  # streams must finish within the short run
loadgen_run backlog --scenario backlog --mode closed --concurrency 4 --backlog-min 1000 --backlog-max "$BACKLOG_MAX" --skip-enroll
loadgen_run evaluate-open --scenario evaluate --mode open --rate 5000 --skip-enroll
loadgen_run evaluate-closed --scenario evaluate --mode closed --concurrency 16 --skip-enroll
loadgen_run member-read-open --scenario member-read --mode open --rate 10000 --skip-enroll
loadgen_run member-read-closed --scenario member-read --mode closed --concurrency 32 --skip-enroll
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

# The machine's CPU while a reference runs (the references are other
# processes: db_bench's threads, PostgreSQL's backends and pgbench), from
# /proc/stat, counted as loadgen counts it (steal is busy): busy jiffies now;
# busy CPU-seconds since a reading; cores busy over a number of seconds; CPU
# per operation = busy CPU-seconds over the operations (rate x $DURATION).
# The window includes the tool's start and stop, so the figures lean high.
machine_busy_jiffies() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat; }
busy_cpu_s_since() { awk -v d=$(( $(machine_busy_jiffies) - $1 )) -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", d / hz }'; }
cores_over() { awk -v c="$1" -v t="$2" 'BEGIN { if (t > 0) printf "%.2f", c / t; else print "?" }'; }
cpu_us_per_op() { awk -v c="$1" -v r="${2:-0}" -v t="$DURATION" 'BEGIN { if (r > 0) printf "%.0f", c * 1e6 / (r * t); else print "?" }'; }

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
    "baseline: empty gRPC call (health check) closed c=32" "${HEALTH:-?}/s (loyaltyd ${HEALTH_SRV:-?} cores, loadgen ${HEALTH_LG:-?} cores)" \
    "baseline: empty gRPC call open 5000/s: achieved/s, p50, p99" "${HEALTH_5K_OPS:-?}/s, p50 $(ms "$HEALTH_5K_P50") ms, p99 $(ms "$HEALTH_5K_P99") ms, errors ${HEALTH_5K_ERR:-?}" \
    "baseline: empty gRPC call open 10000/s: achieved/s, p50, p99" "${HEALTH_10K_OPS:-?}/s, p50 $(ms "$HEALTH_10K_P50") ms, p99 $(ms "$HEALTH_10K_P99") ms, errors ${HEALTH_10K_ERR:-?}" \
    "baseline: empty backlog events (4 streams) events/s" "${BACKLOG_EMPTY:-?}/s (loyaltyd ${BACKLOG_EMPTY_SRV:-?} cores, loadgen ${BACKLOG_EMPTY_LG:-?} cores)"
  echo
  echo "targets (2 cores, generator on the same machine):"
  printf '  %-48s %-8s %s\n' \
    "durable sale ingest >= 15,000/s" "$(verdict "$(awk -v a="$INGEST" 'BEGIN{print (a>=15000)}')")" "$INGEST/s" \
    ">= 75% of db_bench synced rate" "$(verdict "$(awk -v r="$R_DB" 'BEGIN{print (r!="n/a" && r>=0.75)}')")" "$R_DB" \
    ">= 5x PostgreSQL" "$(verdict "$(awk -v r="$R_PG" 'BEGIN{print (r!="n/a" && r>=5)}')")" "${R_PG}x" \
    "backlog >= 100,000 events/s durable" "$(verdict "$(awk -v a="$BACKLOG" 'BEGIN{print (a>=100000)}')")" "$BACKLOG/s" \
    "evaluate p99 <= 1 ms at 5,000/s offered" "$(verdict "$(awk -v p="$(num "$EVAL_OPEN_P99")" -v e="$(num "$EVAL_OPEN_ERR")" -v o="$(num "$EVAL_OPEN_OPS")" 'BEGIN{print (p>0 && p<=1000 && e==0 && o>=4900)}')")" "p99 $(ms "$EVAL_OPEN_P99") ms" \
    "member read >= 40,000/s" "$(verdict "$(awk -v a="$MR_CLOSED" 'BEGIN{print (a>=40000)}')")" "$MR_CLOSED/s" \
    "member read p99 <= 1 ms at 10,000/s offered" "$(verdict "$(awk -v p="$(num "$MR_OPEN_P99")" -v e="$(num "$MR_OPEN_ERR")" -v o="$(num "$MR_OPEN_OPS")" 'BEGIN{print (p>0 && p<=1000 && e==0 && o>=9800)}')")" "p99 $(ms "$MR_OPEN_P99") ms"
  echo
  echo "bytes per sale in loyaltyd's WAL: $PER_SALE ($EVENTS events sampled)"
  echo "raw RESULT lines: $OUT/results.txt; every tool's output: $OUT/"
} | tee "$OUT/summary.txt"
