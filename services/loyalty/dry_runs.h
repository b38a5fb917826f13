// services/loyalty/dry_runs.h: dry runs of proposed programs, as background
// jobs.
//
// A dry run replays the whole stored history under a proposed program
// (replay.h) and compares every member's tier, stage and points with the
// published program's. On a large history that takes minutes and more memory
// than a server should lend one request, so a dry run is a job: queued, run
// on this component's own thread one at a time, followed through its
// progress, kept for a while once finished.
//
// Bounded memory: a pass's replay counts the state it holds and stops past
// the budget; the job then replays the members in more parts (by a hash of
// the member id), one pass per part, the number of parts extrapolated from
// how far the stopped pass got. Offer budgets are shared by all members, so
// with more than one part a budget that runs out costs another round of
// passes (replay.h, ReplayOptions::offer_exhausted_after); the report is the
// same as one pass over every member would give.
//
// Thread-safety: every method may be called from any thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "base/component.h"
#include "loyalty/v1/admin.pb.h"
#include "services/common/clock.h"
#include "services/loyalty/program_store.h"
#include "storage/store.h"

namespace loyalty {

struct DryRunOptions {
  size_t memory_budget_bytes = size_t{512} << 20;  // one pass's replay state
  size_t max_pending_jobs = 4;     // queued or running; more: RESOURCE_EXHAUSTED
  size_t kept_finished_jobs = 16;  // the oldest finished job is forgotten first
};

class DryRuns final : public Component {
 public:
  // `done` gets the report, or why there is none.
  using Done = std::function<void(absl::StatusOr<v1::DryRunReport>)>;

  DryRuns(const storage::Store& store, const ProgramStore& programs, const Clock& clock, DryRunOptions options);
  ~DryRuns() override;

  // Queues a dry run of `proposed` (checked by ProgramStore::Check) against
  // the program published when it runs. `done`, if given, runs on this
  // component's thread when the job ends.
  absl::StatusOr<v1::DryRunJob> Start(ProgramPtr proposed, std::string author, Done done = {});
  // NOT_FOUND for an unknown or forgotten job.
  absl::StatusOr<v1::DryRunJob> Get(const std::string& job_id) const;

  std::string_view name() const override { return "dry runs"; }
  // Cancels the queued and the running job (their `done` gets UNAVAILABLE)
  // and joins the thread.
  void Stop(Deadline deadline) override;

 private:
  struct Job {
    v1::DryRunJob view;
    ProgramPtr proposed;
    Done done;
  };

  void Run();
  // The report of one job; updates its view's progress as it goes.
  absl::StatusOr<v1::DryRunReport> Compute(Job& job);
  void Progress(Job& job, uint32_t round, uint32_t pass, uint32_t passes, double fraction);
  bool stopping_requested() const;
  void Forget();  // drops the oldest finished jobs past the limit; under mu_

  const storage::Store& store_;
  const ProgramStore& programs_;
  const Clock& clock_;
  const DryRunOptions options_;

  mutable std::mutex mu_;
  std::condition_variable wake_;
  std::map<std::string, std::shared_ptr<Job>> jobs_;  // by id
  std::deque<std::shared_ptr<Job>> queue_;            // waiting, oldest first
  std::deque<std::string> finished_;                  // ids, oldest first
  size_t pending_ = 0;                                // queued or running
  bool stopping_ = false;
  std::atomic<bool> cancel_{false};                   // stops the running replay
  std::thread thread_;
};

}  // namespace loyalty
