#!/usr/bin/env bash
# bench/profile.sh BUILD_DIR OUT_DIR [SCENARIO...]
#
# Where loyaltyd's CPU goes, per scenario: starts BUILD_DIR/server/loyaltyd
# on a fresh data folder, enrolls members and records sales so they have a
# history, then for each scenario (default: sale backlog evaluate
# member-read) restarts loyaltyd under `perf record -e cpu-clock -g`
# (software clock: works in VMs without hardware counters), runs loadgen for
# PROFILE_SECONDS (default 8) at its closed-loop load, and writes
# OUT_DIR/perf-SCENARIO.txt (flat, by symbol), perf-SCENARIO-dso.txt (by
# library) and perf-SCENARIO-dso-symbol.txt, the perf data, and the loadgen
# output. (Debian's libraries have no frame pointers: caller chains are
# unreliable, so the reports are flat.) With
# PROFILER=callgrind it uses valgrind --tool=callgrind instead (exact
# instruction counts, about 50x slower: give it low load).
#
# Scenarios http-member-read and http-sale drive loyaltyd's HTTP/JSON edge
# with wrk and bench/http_member_read.lua or bench/http_sale.lua instead of
# loadgen (16 and 64 connections, as member-read and sale here); output in
# OUT_DIR/wrk-SCENARIO.txt.
set -euo pipefail

BUILD_DIR=$(cd "${1:?usage: bench/profile.sh BUILD_DIR OUT_DIR [SCENARIO...]}" && pwd)
OUT=${2:?usage: bench/profile.sh BUILD_DIR OUT_DIR [SCENARIO...]}
shift 2
SCENARIOS=("$@")
[[ ${#SCENARIOS[@]} -gt 0 ]] || SCENARIOS=(sale backlog evaluate member-read)
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=bench/lib.sh
source "$HERE/lib.sh"
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
SECONDS_PER=${PROFILE_SECONDS:-8}
PROFILER=${PROFILER:-perf}
MEMBERS=${PROFILE_MEMBERS:-5000}
STORES=20

WORK=$(mktemp -d /var/tmp/loyalty-profile.XXXXXX)
trap 'bench_stop_loyaltyd; rm -rf "$WORK"' EXIT
PORT=$(bench_free_port)
HTTP_PORT=$(bench_free_port)
bench_write_config "$WORK/c.textproto" "$WORK/data" "$PORT" "$STORES" 0 "$HTTP_PORT"
LG=("$BUILD_DIR/bench/loadgen" --target "127.0.0.1:$PORT" --admin-token "$BENCH_ADMIN_TOKEN"
    --terminal-token-prefix "$BENCH_TERMINAL_PREFIX" --stores "$STORES" --members "$MEMBERS" --warmup-s 1)

# History first (not profiled).
bench_start_loyaltyd "$BUILD_DIR/server/loyaltyd" "$WORK/c.textproto" "$WORK/loyaltyd.log"
"${LG[@]}" --scenario sale --concurrency 64 --duration-s 10 >"$OUT/history.txt" 2>&1
bench_stop_loyaltyd

for s in "${SCENARIOS[@]}"; do
  case "$s" in
    sale|checkout) args=(--concurrency 64) ;;
    backlog) args=(--concurrency 4 --backlog-min 1000 --backlog-max 5000) ;;
    http-member-read) args=(-c 16 -s "$HERE/http_member_read.lua") ;;
    http-sale) args=(-c 64 -s "$HERE/http_sale.lua") ;;
    *) args=(--concurrency 16) ;;
  esac
  if [[ "$PROFILER" == callgrind ]]; then
    valgrind --tool=callgrind --callgrind-out-file="$OUT/callgrind-$s.out" \
      "$BUILD_DIR/server/loyaltyd" --config "$WORK/c.textproto" >>"$WORK/loyaltyd.log" 2>&1 &
  else
    perf record -e cpu-clock -F 999 -g -o "$WORK/perf-$s.data" \
      "$BUILD_DIR/server/loyaltyd" --config "$WORK/c.textproto" >>"$WORK/loyaltyd.log" 2>&1 &
  fi
  LOYALTYD_PID=$!
  for ((i = 0; i < 600; i++)); do
    (exec 3<>"/dev/tcp/127.0.0.1/${PORT}") 2>/dev/null && break
    sleep 0.1
  done
  server_pid=$(pgrep -P "$LOYALTYD_PID" -n loyaltyd || echo "$LOYALTYD_PID")
  if [[ "$s" == http-* ]]; then
    for ((i = 0; i < 600; i++)); do
      (exec 3<>"/dev/tcp/127.0.0.1/${HTTP_PORT}") 2>/dev/null && break
      sleep 0.1
    done
    wrk -t 2 "${args[@]}" --timeout 10s -d "${SECONDS_PER}s" "http://127.0.0.1:$HTTP_PORT" -- members="$MEMBERS" \
      stores="$STORES" admin_token="$BENCH_ADMIN_TOKEN" terminal_token_prefix="$BENCH_TERMINAL_PREFIX" \
      run_id="profile-$(date +%s)" >"$OUT/wrk-$s.txt" 2>&1 || true
  else
    "${LG[@]}" --skip-enroll --scenario "$s" "${args[@]}" --duration-s "$SECONDS_PER" \
      --server-pid "$server_pid" >"$OUT/loadgen-$s.txt" 2>&1 || true
  fi
  # SIGTERM to loyaltyd itself (perf/valgrind then write their data).
  kill -TERM "$server_pid" 2>/dev/null || true
  wait "$LOYALTYD_PID" 2>/dev/null || true
  LOYALTYD_PID=""
  if [[ "$PROFILER" == callgrind ]]; then
    callgrind_annotate --inclusive=yes "$OUT/callgrind-$s.out" 2>/dev/null | head -n 80 >"$OUT/callgrind-$s.txt" || true
  else
    perf report -i "$WORK/perf-$s.data" --stdio --no-children --sort symbol -g none --percent-limit 0.7 \
      2>/dev/null | grep -v '^$' | head -n 70 >"$OUT/perf-$s.txt" || true
    perf report -i "$WORK/perf-$s.data" --stdio --no-children --sort dso -g none \
      2>/dev/null | grep -v '^$' | head -n 40 >"$OUT/perf-$s-dso.txt" || true
    perf report -i "$WORK/perf-$s.data" --stdio --no-children --sort dso,symbol -g none --percent-limit 0.3 \
      2>/dev/null | grep -v '^$' | head -n 150 >"$OUT/perf-$s-dso-symbol.txt" || true
    cp "$WORK/perf-$s.data" "$OUT/" 2>/dev/null || true
  fi
  if [[ "$s" == http-* ]]; then
    echo "profiled $s: $(grep -m1 '^WRK_RESULT' "$OUT/wrk-$s.txt" | grep -o 'requests_per_s=[0-9.]* .*p99_us=[0-9]*')"
  else
    echo "profiled $s: $(grep -m1 '^RESULT' "$OUT/loadgen-$s.txt" | grep -o 'ops_per_s=[0-9.]* .*p99_us=[0-9]*')"
  fi
done
