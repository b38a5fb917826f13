# bench/lib.sh: shared by bench/run.sh and bench/smoke_test.sh (source it).
#
#   bench_write_config FILE DATA_DIR PORT STORES WORKER_THREADS [HTTP_PORT]
#                                                HTTP_PORT 0 or none: any free port
#   bench_start_loyaltyd BINARY CONFIG LOG       sets LOYALTYD_PID, waits until it serves
#   bench_stop_loyaltyd                          SIGTERM, wait (then SIGKILL)
#
# Credentials (only their SHA-256 goes into the config, as in
# tests/e2e/loyaltyd_process.py):
#   admin:               $BENCH_ADMIN_TOKEN
#   terminal of store-K: ${BENCH_TERMINAL_PREFIX}K
BENCH_ADMIN_TOKEN=${BENCH_ADMIN_TOKEN:-bench-admin-token}
BENCH_TERMINAL_PREFIX=${BENCH_TERMINAL_PREFIX:-bench-terminal-store-}
LOYALTYD_PID=""

bench_sha256() { printf '%s' "$1" | sha256sum | cut -d' ' -f1; }

# The program of the benchmark: the default tiers and ladder, category
# multipliers, bonus-point offers (which do not change what a member pays)
# and two discount offers on the "deli" category, which only the evaluate
# and checkout scenarios put into baskets.
bench_program() {
  cat <<'EOF'
initial_program {
  currency: "EUR"
  minor_units_per_major: 100
  points_per_major_unit: 1
  pending_days: 14
  expiry_days: 365
  max_points_per_month: 5000
  category_multipliers { category: "coffee" multiplier_pct: 200 }
  category_multipliers { category: "wine" multiplier_pct: 50 }
  excluded_categories: "tobacco"
  tiers { name: "Bronze" earn_multiplier_pct: 100 }
  tiers { name: "Silver" min_spend_minor: 50000 min_visits: 12 earn_multiplier_pct: 125 perks: "free refill" }
  tiers { name: "Gold" min_spend_minor: 200000 min_visits: 36 earn_multiplier_pct: 150 perks: "priority service" }
  tier_window_days: 365
  tier_grace_days: 30
  stages { name: "new" }
  stages { name: "occasional" min_visits: 2 max_days_since_visit: 180 }
  stages { name: "regular" min_visits: 6 min_tenure_days: 60 max_days_since_visit: 90 }
  stages { name: "loyal" min_visits: 12 min_spend_minor: 30000 min_tenure_days: 180 min_categories: 2 max_days_since_visit: 60 }
  stages { name: "client" min_visits: 24 min_spend_minor: 100000 min_tenure_days: 365 min_categories: 3 max_days_since_visit: 45 }
  stage_window_days: 365
  offers { id: "deli-10" title: "10% off deli" kind: OFFER_KIND_PERCENT_OFF percent_off: 10 categories: "deli" }
  offers { id: "deli-card" title: "Every 5th deli item free" kind: OFFER_KIND_PUNCH_CARD punch_visits: 5 categories: "deli" }
  offers { id: "we-miss-you" title: "150 bonus points when you come back" kind: OFFER_KIND_WIN_BACK bonus_points: 150 lapse_pct: 200 per_member_limit: 1 }
  offers { id: "next-tier" title: "50 bonus points toward your next tier" kind: OFFER_KIND_TIER_NUDGE bonus_points: 50 per_member_limit: 2 }
  offers { id: "second-visit" title: "25 bonus points on your next visit" kind: OFFER_KIND_STAGE_NUDGE bonus_points: 25 stages: "new" per_member_limit: 1 }
  offers { id: "birthday" title: "200 birthday points" kind: OFFER_KIND_BIRTHDAY bonus_points: 200 per_member_limit: 1 }
  offers { id: "coffee-bonus" title: "20 bonus points on coffee over 10.00" kind: OFFER_KIND_BONUS_POINTS bonus_points: 20 categories: "coffee" min_basket_minor: 1000 }
  rewards { id: "free-coffee" title: "A free coffee" cost_points: 150 categories: "coffee" max_value_minor: 450 code_valid_days: 30 }
}
EOF
}

bench_write_config() {
  local file=$1 data_dir=$2 port=$3 stores=$4 workers=$5 http_port=${6:-0}
  {
    echo "grpc_listen: \"127.0.0.1:${port}\""
    echo "http_listen: \"127.0.0.1:${http_port}\""
    echo "data_dir: \"${data_dir}\""
    echo "worker_threads: ${workers}"
    echo "member_strands: 1024"
    echo "block_cache_mb: 256"
    echo "shutdown_grace_ms: 5000"
    # The bench measures the server, not its per-caller limits: one
    # credential per store sends what a whole chain would.
    echo "terminal_rate_limit { per_second: 0 }"
    echo "admin_rate_limit { per_second: 0 }"
    echo "member_rate_limit { per_second: 0 }"
    echo "member_lookup_rate_limit { per_second: 0 }"
    echo "credentials { name: \"bench admin\" role: ROLE_ADMIN token_sha256: \"$(bench_sha256 "$BENCH_ADMIN_TOKEN")\" }"
    local k
    for ((k = 1; k <= stores; k++)); do
      echo "credentials { name: \"store-${k} terminals\" role: ROLE_TERMINAL store_id: \"store-${k}\" token_sha256: \"$(bench_sha256 "${BENCH_TERMINAL_PREFIX}${k}")\" }"
    done
    bench_program
  } >"$file"
}

# A loopback TCP port that was free a moment ago.
# bench_dry_run HOST:PORT PID OUT: a dry run of a program change (Silver's
# minimum spend 20% lower) over the whole history, started and followed as
# the console does (POST /v1/dry-runs, GET /v1/dry-runs/{id} every second),
# loyaltyd's resident memory sampled meanwhile. Sets DRY_S (seconds),
# DRY_FACTS (the job in words), RSS_BEFORE_DRY and RSS_DRY_PEAK (KiB); the
# job's last answer is OUT/dry-run-job.json.
bench_dry_run() {
  local http="http://$1" pid=$2 out=$3 job r d0 d1
  local auth=(-H "Authorization: Bearer $BENCH_ADMIN_TOKEN")
  curl -sf "${auth[@]}" "$http/v1/program" >"$out/program.json"
  /usr/bin/python3 - "$out/program.json" >"$out/dry-run-request.json" <<'PY'
import json, sys
program = json.load(open(sys.argv[1]))
program["tiers"][1]["min_spend_minor"] = str(int(program["tiers"][1].get("min_spend_minor", "0")) * 4 // 5)
print(json.dumps({"program": program}))
PY
  rss() { awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0; }
  RSS_BEFORE_DRY=$(rss)
  RSS_DRY_PEAK=$RSS_BEFORE_DRY
  d0=$(date +%s.%N)
  job=$(curl -sf "${auth[@]}" -H 'Content-Type: application/json' --data @"$out/dry-run-request.json" "$http/v1/dry-runs" |
        /usr/bin/python3 -c 'import json, sys; print(json.load(sys.stdin)["job_id"])')
  while :; do
    sleep 1
    r=$(rss); (( r > RSS_DRY_PEAK )) && RSS_DRY_PEAK=$r
    curl -sf "${auth[@]}" "$http/v1/dry-runs/$job" >"$out/dry-run-job.json" || break
    /usr/bin/python3 -c 'import json, sys; sys.exit(json.load(open(sys.argv[1]))["state"] in
                         ("DRY_RUN_STATE_QUEUED", "DRY_RUN_STATE_RUNNING"))' "$out/dry-run-job.json" && break
  done
  d1=$(date +%s.%N)
  DRY_S=$(awk -v a="$d0" -v b="$d1" 'BEGIN{printf "%.0f", b-a}')
  DRY_FACTS=$(/usr/bin/python3 - "$out/dry-run-job.json" <<'PY'
import json, sys
job = json.load(open(sys.argv[1]))
r = job.get("report", {})
print(f'{job["state"]}, {job.get("passes", 0)} passes (members in {job.get("parts", 0)} parts), {job.get("round", 1)} round(s), '
      f'replay state peak {int(job.get("peak_state_bytes", "0")) >> 20} MiB; {r.get("events_replayed", 0)} events, '
      f'{r.get("members", 0)} members, {r.get("members_changing_tier", 0)} change tier, '
      f'{r.get("members_changing_stage", 0)} change stage {job.get("error", "")}')
PY
)
}

bench_free_port() {
  /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

bench_start_loyaltyd() {
  local binary=$1 config=$2 log=$3 port
  port=$(sed -n 's/^grpc_listen: "127.0.0.1:\([0-9]*\)"/\1/p' "$config")
  "$binary" --config "$config" >>"$log" 2>&1 </dev/null &
  LOYALTYD_PID=$!
  local i
  for ((i = 0; i < 200; i++)); do
    if ! kill -0 "$LOYALTYD_PID" 2>/dev/null; then
      echo "loyaltyd exited while starting; log:" >&2
      tail -n 30 "$log" >&2
      LOYALTYD_PID=""
      return 1
    fi
    if (exec 3<>"/dev/tcp/127.0.0.1/${port}") 2>/dev/null; then
      return 0
    fi
    sleep 0.1
  done
  echo "loyaltyd did not listen on port ${port} within 20 s" >&2
  return 1
}

bench_stop_loyaltyd() {
  [[ -n "$LOYALTYD_PID" ]] || return 0
  kill -TERM "$LOYALTYD_PID" 2>/dev/null || true
  local i
  for ((i = 0; i < 150; i++)); do
    kill -0 "$LOYALTYD_PID" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$LOYALTYD_PID" 2>/dev/null; then
    echo "loyaltyd did not stop within 15 s; SIGKILL" >&2
    kill -KILL "$LOYALTYD_PID" 2>/dev/null || true
  fi
  wait "$LOYALTYD_PID" 2>/dev/null || true
  LOYALTYD_PID=""
}
