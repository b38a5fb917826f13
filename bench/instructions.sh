#!/usr/bin/env bash
# bench/instructions.sh INGEST_MICRO [INGEST_MICRO...] [-- INGEST_MICRO_ARGS...]
#
# Instructions per sale of in-process ingest (bench/ingest_micro), counted by
# valgrind's callgrind. Timings on this VM move by 20-40% between runs; an
# instruction count does not, so this is how two builds are compared: build
# each, keep its ingest_micro binary, and pass both. For each binary it prints
# the instructions of the whole run (all threads: enrolment, the sales,
# RocksDB's flushes and compactions) and those inside Ingest::ApplySale, both
# per sale. Default arguments: --members 2000 --sales 6000 (1-2 minutes per
# binary). Instructions are not time (cache misses, the fsync and the
# transport are not in them), so a change is confirmed by a timed run too.
set -euo pipefail

binaries=()
while [[ $# -gt 0 && "$1" != "--" ]]; do
  binaries+=("$1")
  shift
done
[[ $# -gt 0 ]] && shift
args=("$@")
[[ ${#args[@]} -gt 0 ]] || args=(--members 2000 --sales 6000)
[[ ${#binaries[@]} -gt 0 ]] || { echo "usage: bench/instructions.sh INGEST_MICRO... [-- ARGS...]" >&2; exit 2; }
command -v valgrind >/dev/null || { echo "bench/instructions.sh: needs valgrind (apt-get install valgrind)" >&2; exit 2; }

sales=6000
for ((i = 0; i < ${#args[@]}; i++)); do
  [[ "${args[$i]}" == --sales ]] && sales=${args[$((i + 1))]}
done

work=$(mktemp -d /var/tmp/loyalty-instructions.XXXXXX)
trap 'rm -rf "$work"' EXIT
printf '%-50s %16s %14s %18s\n' binary "instructions" "per sale" "ApplySale per sale"
for bin in "${binaries[@]}"; do
  out="$work/callgrind.out"
  # ingest_micro makes its data folder under TMPDIR.
  (cd "$work" && TMPDIR="$work" valgrind --tool=callgrind --callgrind-out-file="$out" "$bin" "${args[@]}" >"$work/log" 2>&1) || {
    echo "bench/instructions.sh: $bin failed:" >&2
    tail -20 "$work/log" >&2
    exit 1
  }
  total=$(sed -n 's/.*Collected : \([0-9]*\).*/\1/p' "$work/log")
  callgrind_annotate --inclusive=yes "$out" >"$work/annotated" 2>/dev/null
  apply=$(awk '/Ingest::ApplySale\(/ && !done {gsub(",", "", $1); print $1; done = 1}' "$work/annotated")
  printf '%-50s %16s %14d %18d\n' "$bin" "$total" $((total / sales)) $((${apply:-0} / sales))
  rm -rf "${work:?}"/*
done
