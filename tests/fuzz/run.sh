#!/usr/bin/env bash
# tests/fuzz/run.sh: builds the libFuzzer targets (clang-14, ASan + UBSan,
# LOYALTY_FUZZ=ON in ./build-fuzz) if needed and runs each one over a copy
# of its seeds in tests/fuzz/corpus/<target>/, so the repository is never
# written to. Exits non-zero if any target crashed (a sanitizer report, a
# failed FUZZ_CHECK, a leak, a timeout or running out of memory); the input
# that did it is kept in build-fuzz/fuzz-findings/<target>/.
#
#   tests/fuzz/run.sh                 each target for 20 s (the test suite's run)
#   tests/fuzz/run.sh --time S        each target for S seconds
#   tests/fuzz/run.sh --long N        each target to N executions, one after the
#                                     other, then a table of executions, exec/s,
#                                     coverage (cov, ft) and crashes per target
#   tests/fuzz/run.sh --seeds         writes tests/fuzz/corpus anew from the
#                                     fixtures (make_corpus.cc), then exits
#   tests/fuzz/run.sh ... TARGET...   only these targets (fuzz_http_request, ...)
#
# Every target is a tests/fuzz/fuzz_*.cc; docs/FUZZING.md says what each covers.
set -euo pipefail
cd "$(dirname "$0")/../.."

BUILD=${LOYALTY_FUZZ_BUILD:-build-fuzz}
NICE=(nice -n 15)
mode=time
seconds=20
runs=0
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --time) mode=time; seconds="$2"; shift 2 ;;
    --long) mode=long; runs="$2"; shift 2 ;;
    --seeds) mode=seeds; shift ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    fuzz_*) targets+=("$1"); shift ;;
    *) echo "run.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
if [ ${#targets[@]} -eq 0 ]; then
  for src in tests/fuzz/fuzz_*.cc; do targets+=("$(basename "$src" .cc)"); done
fi

# The largest input each target is given: enough for its seeds (a sale of
# 200 lines, the demo program, a request with a body), small enough to stay fast.
max_len() {
  case "$1" in
    fuzz_event_validation) echo 8192 ;;
    fuzz_stored_records) echo 4096 ;;
    fuzz_http_request) echo 8192 ;;
    *) echo 4096 ;;
  esac
}

if [ ! -f "$BUILD/build.ninja" ]; then
  CXX=clang++-14 "${NICE[@]}" cmake -S . -B "$BUILD" -G Ninja -DLOYALTY_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi

if [ "$mode" = seeds ]; then
  "${NICE[@]}" cmake --build "$BUILD" -j2 --target fuzz_make_corpus
  rm -rf tests/fuzz/corpus
  "$BUILD/tests/fuzz/fuzz_make_corpus" tests/fuzz/corpus
  echo "run.sh: seeds written to tests/fuzz/corpus ($(find tests/fuzz/corpus -type f | wc -l) files, $(du -sk tests/fuzz/corpus | cut -f1) KiB)"
  exit 0
fi

"${NICE[@]}" cmake --build "$BUILD" -j2 --target "${targets[@]}"

work=$(mktemp -d "${TMPDIR:-/tmp}/loyalty-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT
logs="$BUILD/fuzz-logs"
mkdir -p "$logs"
failed=0
passed=0
table=()
for t in "${targets[@]}"; do
  mkdir -p "$work/$t/corpus" "$work/$t/artifacts"
  if [ -d "tests/fuzz/corpus/$t" ]; then cp -r "tests/fuzz/corpus/$t/." "$work/$t/corpus/"; fi
  args=("$work/$t/corpus" -timeout=5 -rss_limit_mb=2048 -max_len="$(max_len "$t")"
        -artifact_prefix="$work/$t/artifacts/" -print_final_stats=1)
  if [ -f "tests/fuzz/$t.dict" ]; then args+=(-dict="tests/fuzz/$t.dict"); fi
  if [ "$mode" = long ]; then args+=(-runs="$runs"); else args+=(-max_total_time="$seconds"); fi
  log="$logs/$t.log"
  start=$(date +%s)
  rc=0
  "${NICE[@]}" "$BUILD/tests/fuzz/$t" "${args[@]}" >"$log" 2>&1 || rc=$?
  elapsed=$(( $(date +%s) - start ))
  crashes=$(find "$work/$t/artifacts" -type f | wc -l)
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1 || true)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1 || true)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2 || true)
  ft=$(grep -o 'ft: [0-9]*' "$log" | tail -1 | cut -d' ' -f2 || true)
  if [ "$rc" -ne 0 ] || [ "$crashes" -ne 0 ]; then
    failed=$((failed + 1))
    kept="$BUILD/fuzz-findings/$t"
    mkdir -p "$kept"
    cp -r "$work/$t/artifacts/." "$kept/" 2>/dev/null || true
    echo "run.sh: $t FAILED (exit $rc, $crashes crash inputs kept in $kept); the report:" >&2
    grep -E -A30 'ERROR: |FUZZ_CHECK failed|runtime error|==ERROR' "$log" | head -60 >&2 || tail -40 "$log" >&2
  fi
  if [ "$rc" -eq 0 ] && [ "$crashes" -eq 0 ]; then passed=$((passed + 1)); fi
  echo "run.sh: $t: ${execs:-?} executions in ${elapsed} s (${rate:-?}/s), cov ${cov:-?}, ft ${ft:-?}, crashes $crashes (log $log)"
  table+=("| $t | ${execs:-?} | ${rate:-?} | ${cov:-?} | ${ft:-?} | $crashes | $elapsed |")
done

if [ "$mode" = long ]; then
  echo
  echo "| target | executions | exec/s | cov | ft | crashes | time (s) |"
  echo "|---|---:|---:|---:|---:|---:|---:|"
  printf '%s\n' "${table[@]}"
fi
echo "fuzz: $passed passed, $failed failed"
if [ "$failed" -ne 0 ]; then exit 1; fi
