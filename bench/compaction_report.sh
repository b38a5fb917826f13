#!/usr/bin/env bash
# bench/compaction_report.sh DATA_DIR/LOG
#
# What RocksDB's background work cost, per column family, from the events
# RocksDB writes to its info LOG: compactions (count, CPU-seconds, bytes
# written) and memtable flushes (bytes written). At scale, compaction is a
# large share of the server's CPU (docs/BENCHMARKS.md); this says which
# family it goes to. Only the current LOG is read (RocksDB keeps older ones as
# LOG.old.*), so run it on a server's data folder before it restarts.
set -euo pipefail
[[ $# -eq 1 && -r "$1" ]] || { echo "usage: $0 DATA_DIR/LOG" >&2; exit 2; }
perl -ne '
  # "[members] [JOB 27] Compacting 4@0 + 1@1 files to L1": the job'"'"'s family.
  if (/\[(\w+)\] \[JOB (\d+)\] Compacting/) { $family{$2} = $1; next }
  if (/"event": "compaction_finished"/) {
    my ($job) = /"job": (\d+)/;
    my ($cpu) = /"compaction_time_cpu_micros": (\d+)/;
    my ($out) = /"total_output_size": (\d+)/;
    my $f = $family{$job} // "?";
    $cpu{$f} += $cpu; $out{$f} += $out; $count{$f}++; $flushed{$f} += 0;
    $total_cpu += $cpu; $total_out += $out;
    next;
  }
  # "[members] [JOB 9] Level-0 flush table #31: 13954120 bytes OK"
  if (/\[(\w+)\] \[JOB \d+\] Level-0 flush table #\d+: (\d+) bytes/) {
    $flushed{$1} += $2; $cpu{$1} += 0; $total_flushed += $2;
  }
  END {
    printf "%-12s %11s %13s %14s %13s\n", "family", "compactions", "CPU-seconds", "GB compacted", "GB flushed";
    for my $f (sort { $cpu{$b} <=> $cpu{$a} } keys %cpu) {
      printf "%-12s %11d %13.1f %14.2f %13.2f\n", $f, $count{$f} // 0, $cpu{$f} / 1e6, ($out{$f} // 0) / 1e9,
             $flushed{$f} / 1e9;
    }
    printf "%-12s %11s %13.1f %14.2f %13.2f\n", "all", "", $total_cpu / 1e6, $total_out / 1e9, $total_flushed / 1e9;
  }' "$1"
