// bench/ingest_micro.cc: what one event costs the server without any
// transport: Ingest::ApplySale on a real RocksDB, in-process, one thread.
//
//   ingest_micro --config bench-config.textproto [--members 20000] [--sales 200000]
//
// It enrolls the members, records sales with the load generator's workload
// (heavy-tailed visits, 1-10 line baskets), and prints the CPU time per sale
// in windows, so the growth of a member's history shows. Commits are
// buffered with one WAL sync per window: the fsync is not what it measures.
// At the end it prints the stored member records' mean and largest size.
// Run it under `perf record` or `valgrind --tool=callgrind` to see where the
// time goes (bench/profile.sh profiles the whole server instead).
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>

#include "bench/workload.h"
#include "server/config.h"
#include "services/loyalty/admin_operations.h"
#include "services/loyalty/counters.h"
#include "services/loyalty/program_store.h"
#include "services/loyalty/ingest.h"

namespace loyalty::bench {
namespace {

// who: RUSAGE_SELF (the process, RocksDB's flush and compaction threads
// included) or RUSAGE_THREAD (the applying thread alone: steadier for A/B).
double CpuSeconds(int who = RUSAGE_SELF) {
  rusage ru{};
  getrusage(who, &ru);
  return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

int Main(int argc, char** argv) {
  std::string config_path;
  int members = 20000;
  int sales = 200000;
  int windows = 10;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--config") config_path = argv[i + 1];
    else if (flag == "--members") members = std::stoi(argv[i + 1]);
    else if (flag == "--sales") sales = std::stoi(argv[i + 1]);
    else if (flag == "--windows") windows = std::stoi(argv[i + 1]);
    else {
      std::fprintf(stderr, "usage: ingest_micro --config FILE [--members N] [--sales N] [--windows N]\n");
      return 2;
    }
  }
  internal::ServerConfig config;
  if (!config_path.empty()) {
    auto loaded = server::LoadConfigFile(config_path);
    if (!loaded.ok()) {
      std::fprintf(stderr, "ingest_micro: %s\n", loaded.status().ToString().c_str());
      return 2;
    }
    config = std::move(*loaded);
  }
  const std::string dir = std::filesystem::temp_directory_path() / ("ingest_micro." + std::to_string(getpid()));
  auto store = storage::Store::Open({.path = dir});
  if (!store.ok()) {
    std::fprintf(stderr, "ingest_micro: %s\n", store.status().ToString().c_str());
    return 1;
  }
  SystemClock clock;
  engine::ProgramConfig program = engine::DefaultProgram("EUR");
  if (config.has_initial_program()) program = *ProgramStore::Check(config.initial_program());
  auto programs = std::move(*ProgramStore::Open(**store, program, clock));
  auto counters = std::move(*Counters::Load(**store));
  Members member_store(**store, (getenv("MEMBER_CACHE_MB") ? atoll(getenv("MEMBER_CACHE_MB")) : 256) << 20);
  Lanes lanes(1, 1);
  DryRuns dry_runs(**store, *programs, clock, DryRunOptions());
  AdminOperations admin(**store, member_store, lanes, clock, *programs, dry_runs, counters.get());
  Ingest ingest(**store, member_store, *programs, *counters, clock);

  WorkloadOptions wo;
  wo.members = members;
  wo.run_id = "micro";
  Workload work(wo);
  const auth::Principal admin_principal{auth::Role::kAdmin, "bench", "", ""};
  for (int m = 0; m < members; ++m) {
    auto r = admin.EnrollMember(admin_principal, work.Enrollment(m));
    if (!r.ok()) {
      std::fprintf(stderr, "ingest_micro: enroll: %s\n", r.status().ToString().c_str());
      return 1;
    }
  }
  std::printf("enrolled %d members; %d sales in %d windows\n", members, sales, windows);
  std::printf("%8s %12s %14s %14s\n", "sales", "cpu us/sale", "wall us/sale", "apply us/sale");
  const int per_window = sales / windows;
  for (int w = 0; w < windows; ++w) {
    const double cpu0 = CpuSeconds();
    const double thread0 = CpuSeconds(RUSAGE_THREAD);
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < per_window; ++i) {
      const int member = Chance(wo.anonymous_share) ? -1 : work.PickMember();
      const v1::Sale sale = work.MakeSale(work.PickStore(member), member, 0);
      auto r = ingest.ApplySale(sale, member < 0 ? "" : Workload::MemberId(member), storage::Durability::kBuffered);
      if (!r.ok()) {
        std::fprintf(stderr, "ingest_micro: sale: %s\n", r.status().ToString().c_str());
        return 1;
      }
    }
    if (auto s = (*store)->SyncWal(); !s.ok()) return 1;
    const double cpu = CpuSeconds() - cpu0;
    const double thread = CpuSeconds(RUSAGE_THREAD) - thread0;
    const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("%8d %12.1f %14.1f %14.1f\n", (w + 1) * per_window, cpu * 1e6 / per_window, wall * 1e6 / per_window,
                thread * 1e6 / per_window);
    std::fflush(stdout);
  }
  // Every event rewrites its member's record: its size is paid per event.
  uint64_t records = 0;
  uint64_t record_bytes = 0;
  uint64_t largest = 0;
  auto it = (*store)->NewCursor(storage::Cf::kMembers);
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    ++records;
    record_bytes += it->value().size();
    largest = std::max<uint64_t>(largest, it->value().size());
  }
  it.reset();
  std::printf("member records: %llu, mean %.0f bytes, largest %llu bytes\n",
              static_cast<unsigned long long>(records),
              records > 0 ? static_cast<double>(record_bytes) / static_cast<double>(records) : 0.0,
              static_cast<unsigned long long>(largest));
  (void)(*store)->Close();
  std::filesystem::remove_all(dir);
  return 0;
}

}  // namespace
}  // namespace loyalty::bench

int main(int argc, char** argv) { return loyalty::bench::Main(argc, argv); }
