#include "services/loyalty/dry_runs.h"

#include <openssl/rand.h>

#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstdio>

#include "base/log.h"
#include "base/str_cat.h"
#include "loyalty/internal/records.pb.h"
#include "services/common/status_macros.h"
#include "services/loyalty/codec.h"
#include "services/loyalty/engine/engine.h"
#include "services/loyalty/member_store.h"
#include "services/loyalty/replay.h"
#include "storage/keys.h"
#include "storage/scans.h"

namespace loyalty {
namespace {

// Members named per move in a report (the first in id order).
constexpr int kSampleMembers = 5;
// A stopped pass's projection of the state is raised by this much when the
// parts are chosen: members do not spread over the parts exactly evenly.
constexpr double kPartHeadroom = 1.25;
// At most this many parts: past it the budget is too small for the members.
constexpr uint32_t kMaxParts = 4096;

std::string NewJobId() {
  unsigned char bytes[8];
  const int ok = RAND_bytes(bytes, sizeof(bytes));
  assert(ok == 1);
  (void)ok;
  char text[2 * sizeof(bytes) + 1];
  for (size_t i = 0; i < sizeof(bytes); ++i) std::snprintf(text + 2 * i, 3, "%02x", bytes[i]);
  return loyalty::StrCat("dr-", text);
}

// Which part a member falls in (FNV-1a: the same on every run).
uint32_t PartOf(std::string_view member_id, uint32_t parts) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : member_id) h = (h ^ c) * 1099511628211ull;
  return static_cast<uint32_t>(h % parts);
}

// The report's sums over members, added to pass after pass.
class ReportBuilder {
 public:
  ReportBuilder(const engine::ProgramConfig& current, const engine::ProgramConfig& proposed, engine::Seconds now)
      : current_(current), proposed_(proposed), now_(now) {}

  void Add(const std::string& member_id, engine::MemberState before, engine::MemberState after) {
    engine::Refresh(current_, before, now_);
    engine::Refresh(proposed_, after, now_);
    report_.set_members(report_.members() + 1);
    const std::string tier_before = engine::TierName(current_, before.tier);
    const std::string tier_after = engine::TierName(proposed_, after.tier);
    if (tier_before != tier_after) {
      report_.set_members_changing_tier(report_.members_changing_tier() + 1);
      AddMove(tier_moves_, tier_before, tier_after, member_id);
    }
    const std::string stage_before = engine::StageName(current_, before.stage);
    const std::string stage_after = engine::StageName(proposed_, after.stage);
    if (stage_before != stage_after) {
      report_.set_members_changing_stage(report_.members_changing_stage() + 1);
      AddMove(stage_moves_, stage_before, stage_after, member_id);
    }
    report_.set_liability_points_before(report_.liability_points_before() + engine::LedgerTotal(before));
    report_.set_liability_points_after(report_.liability_points_after() + engine::LedgerTotal(after));
    ++(*report_.mutable_members_per_tier_after())[tier_after];
    ++(*report_.mutable_members_per_stage_after())[stage_after];
  }

  v1::DryRunReport Finish(uint64_t events_replayed) && {
    report_.set_events_replayed(events_replayed);
    Emit(tier_moves_, report_.mutable_tier_moves());
    Emit(stage_moves_, report_.mutable_stage_moves());
    return std::move(report_);
  }

 private:
  using Moves = std::map<std::pair<std::string, std::string>, v1::DryRunMove>;

  static void AddMove(Moves& into, const std::string& from, const std::string& to, const std::string& member_id) {
    v1::DryRunMove& move = into[{from, to}];
    move.set_from_name(from);
    move.set_to_name(to);
    move.set_members(move.members() + 1);
    // The first ids in order, whatever order the passes visit members in.
    auto* ids = move.mutable_sample_member_ids();
    const auto index = std::lower_bound(ids->begin(), ids->end(), member_id) - ids->begin();
    if (index >= kSampleMembers) return;
    ids->Add(std::string(member_id));
    std::rotate(ids->begin() + index, ids->end() - 1, ids->end());
    if (ids->size() > kSampleMembers) ids->RemoveLast();
  }

  static void Emit(const Moves& from, google::protobuf::RepeatedPtrField<v1::DryRunMove>* to) {
    for (const auto& [key, move] : from) *to->Add() = move;
    std::stable_sort(to->begin(), to->end(),
                     [](const v1::DryRunMove& a, const v1::DryRunMove& b) { return a.members() > b.members(); });
  }

  const engine::ProgramConfig& current_;
  const engine::ProgramConfig& proposed_;
  const engine::Seconds now_;
  v1::DryRunReport report_;
  Moves tier_moves_, stage_moves_;
};

}  // namespace

DryRuns::DryRuns(const storage::Store& store, const ProgramStore& programs, const Clock& clock,
                 DryRunOptions options)
    : store_(store), programs_(programs), clock_(clock), options_(options) {
  assert(options_.memory_budget_bytes > 0 && options_.max_pending_jobs > 0);
  thread_ = std::thread([this] { Run(); });
}

DryRuns::~DryRuns() { Stop(Deadline::max()); }

absl::StatusOr<v1::DryRunJob> DryRuns::Start(ProgramPtr proposed, std::string author, Done done) {
  assert(proposed != nullptr);
  std::lock_guard<std::mutex> lock(mu_);
  if (stopping_) return absl::UnavailableError("dry run: the server is stopping");
  if (pending_ >= options_.max_pending_jobs) {
    return absl::ResourceExhaustedError(loyalty::StrCat("dry run: ", pending_,
                                                        " dry runs are waiting or running; try again when one ends"));
  }
  auto job = std::make_shared<Job>();
  job->view.set_job_id(NewJobId());
  job->view.set_state(v1::DRY_RUN_STATE_QUEUED);
  job->view.set_author(std::move(author));
  *job->view.mutable_created_at() = clock_.NowTimestamp();
  job->proposed = std::move(proposed);
  job->done = std::move(done);
  jobs_[job->view.job_id()] = job;
  queue_.push_back(job);
  ++pending_;
  wake_.notify_one();
  return job->view;
}

absl::StatusOr<v1::DryRunJob> DryRuns::Get(const std::string& job_id) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = jobs_.find(job_id);
  if (it == jobs_.end()) {
    return absl::NotFoundError(loyalty::StrCat("job_id: no dry run ", job_id,
                                               " (finished jobs are kept until newer ones replace them, not across a "
                                               "restart)"));
  }
  return it->second->view;
}

void DryRuns::Stop(Deadline) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cancel_.store(true, std::memory_order_release);
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void DryRuns::Run() {
  for (;;) {
    std::shared_ptr<Job> job;
    {
      std::unique_lock<std::mutex> lock(mu_);
      wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping
      job = queue_.front();
      queue_.pop_front();
      job->view.set_state(v1::DRY_RUN_STATE_RUNNING);
      *job->view.mutable_started_at() = clock_.NowTimestamp();
    }
    absl::StatusOr<v1::DryRunReport> report =
        stopping_requested() ? absl::UnavailableError("dry run: the server is stopping") : Compute(*job);
    if (absl::IsCancelled(report.status())) report = absl::UnavailableError("dry run: the server is stopping");
    if (!report.ok() && !absl::IsUnavailable(report.status())) {
      LogError(loyalty::StrCat("dry run ", job->view.job_id(), ": ", report.status().ToString()));
    }
    Done done;
    {
      std::lock_guard<std::mutex> lock(mu_);
      *job->view.mutable_finished_at() = clock_.NowTimestamp();
      if (report.ok()) {
        job->view.set_state(v1::DRY_RUN_STATE_DONE);
        job->view.set_progress(1);
        *job->view.mutable_report() = *report;
      } else {
        job->view.set_state(absl::IsUnavailable(report.status()) ? v1::DRY_RUN_STATE_CANCELLED
                                                                 : v1::DRY_RUN_STATE_FAILED);
        job->view.set_error(std::string(report.status().message()));
      }
      job->proposed.reset();
      done = std::move(job->done);
      --pending_;
      finished_.push_back(job->view.job_id());
      Forget();
    }
    if (done) done(std::move(report));
  }
}

bool DryRuns::stopping_requested() const { return cancel_.load(std::memory_order_acquire); }

void DryRuns::Forget() {
  while (finished_.size() > options_.kept_finished_jobs) {
    jobs_.erase(finished_.front());
    finished_.pop_front();
  }
}

void DryRuns::Progress(Job& job, uint32_t round, uint32_t pass, uint32_t passes, double fraction) {
  std::lock_guard<std::mutex> lock(mu_);
  job.view.set_round(round);
  job.view.set_pass(pass);
  job.view.set_passes(passes);
  job.view.set_progress(std::clamp(((pass - 1) + fraction) / passes, 0.0, 1.0));
}

absl::StatusOr<v1::DryRunReport> DryRuns::Compute(Job& job) {
  const ProgramPtr current = programs_.Current();
  const ProgramPtr proposed = job.proposed;
  {
    std::lock_guard<std::mutex> lock(mu_);
    job.view.set_compared_with_version(current->version);
  }
  const engine::Seconds now = clock_.NowUnixSeconds();
  const auto snapshot = store_.GetSnapshot();
  uint64_t last_seq = 0;
  {
    auto it = store_.NewCursor(storage::Cf::kEvents, snapshot.get());
    it->SeekToLast();
    if (it->Valid()) {
      internal::EventRecord last;
      if (!last.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()))) {
        return absl::DataLossError("dry run: unparseable event record");
      }
      last_seq = last.seq();
    }
    if (absl::Status read = it->status("dry run"); !read.ok()) return read;
  }

  const auto fraction = [last_seq](uint64_t seq) { return last_seq == 0 ? 1.0 : static_cast<double>(seq) / last_seq; };
  // Pass 1: which sales later events refer to. Only their state is kept.
  uint32_t parts = 1;
  uint32_t round = 1;
  Progress(job, round, 1, parts + 1, 0);
  absl::StatusOr<SaleRefHashes> referenced = ReferencedSales(store_, snapshot.get(), [&](uint64_t seq) {
    Progress(job, round, 1, parts + 1, fraction(seq));
    return !stopping_requested();
  });
  if (!referenced.ok()) return Annotate(referenced.status(), "dry run");
  const size_t referenced_bytes = referenced->size() * kSaleRefHashBytes;
  if (referenced_bytes >= options_.memory_budget_bytes / 2) {
    return absl::ResourceExhaustedError(loyalty::StrCat(
        "dry run: the ", referenced->size(), " sales returns, voids and claims refer to need more than half the "
        "dry-run memory budget of ", options_.memory_budget_bytes, " bytes; raise dry_run_memory_mb"));
  }
  std::map<std::string, uint64_t> exhausted_after;  // offer id -> its budget's last use
  size_t peak_bytes = 0;
  for (;;) {
    ReportBuilder builder(*current, *proposed, now);
    std::map<std::string, std::vector<uint64_t>> offer_uses;
    uint64_t events = 0;
    bool restart = false;
    for (uint32_t part = 0; part < parts && !restart; ++part) {
      ReplayOptions options;
      options.what_if = true;
      options.memory_limit_bytes = options_.memory_budget_bytes - referenced_bytes;
      options.referenced_sales = &*referenced;
      if (parts > 1) {
        options.include_member = [part, parts](std::string_view id) { return PartOf(id, parts) == part; };
        options.offer_exhausted_after = exhausted_after;
      }
      uint64_t seq_reached = 0;
      size_t state_bytes = 0;
      options.progress = [&](uint64_t seq, size_t bytes) {
        seq_reached = seq;
        state_bytes = bytes;
        Progress(job, round, part + 2, parts + 1, fraction(seq));
        return !stopping_requested();
      };
      Progress(job, round, part + 2, parts + 1, 0);
      absl::StatusOr<ReplayResult> replayed = ReplayEventLog(
          store_, snapshot.get(), [&](uint64_t) -> absl::StatusOr<ProgramPtr> { return proposed; }, options);
      if (absl::IsResourceExhausted(replayed.status())) {
        // Over the budget: as many parts as the state projected to the whole
        // history needs, from the first part again. Enrolments come first in
        // a history, so a projection from early on overshoots: at least
        // twice, at most four times as many parts as before.
        const double reached = std::min(1.0, std::max(fraction(seq_reached), 1e-9));
        const double projected = static_cast<double>(state_bytes) / reached * parts;
        const double needed = std::ceil(kPartHeadroom * projected / options.memory_limit_bytes);
        const uint32_t next = static_cast<uint32_t>(std::clamp<double>(needed, 2.0 * parts, 4.0 * parts));
        if (next > kMaxParts) {
          return absl::ResourceExhaustedError(loyalty::StrCat(
              "dry run: the history needs more than ", kMaxParts, " passes within the dry-run memory budget of ",
              options_.memory_budget_bytes, " bytes; raise dry_run_memory_mb"));
        }
        LogInfo(loyalty::StrCat("dry run ", job.view.job_id(), ": over the memory budget at event ", seq_reached,
                                " of ", last_seq, " in ", parts, " part(s); replaying in ", next));
        parts = next;
        restart = true;
        break;
      }
      if (!replayed.ok()) return Annotate(replayed.status(), "dry run");
      peak_bytes = std::max(peak_bytes, replayed->peak_state_bytes + referenced_bytes);
      events = replayed->events;
      for (auto& [offer, uses] : replayed->budgeted_offer_uses) {
        auto& all = offer_uses[offer];
        all.insert(all.end(), uses.begin(), uses.end());
      }
      // Compare this part's members with their stored state.
      uint64_t scanned = 0;
      LOYALTY_RETURN_IF_ERROR(storage::ScanMembers(
          store_, snapshot.get(), "dry run",
          [&](std::string_view id, std::string_view bytes) -> absl::StatusOr<storage::ScanStep> {
            if (++scanned % 4096 == 0 && stopping_requested()) return absl::CancelledError("dry run: cancelled");
            if (parts > 1 && PartOf(id, parts) != part) return storage::ScanStep::kContinue;
            auto r = replayed->members.find(std::string(id));
            if (r == replayed->members.end()) return storage::ScanStep::kContinue;  // enrolled after the snapshot's log
            internal::MemberRecord m;
            LOYALTY_RETURN_IF_ERROR(ParseMemberRecord(bytes, m, id));
            builder.Add(std::string(id), codec::FromProto(m.engine()), std::move(r->second));
            return storage::ScanStep::kContinue;
          }));
    }
    if (restart) continue;
    {
      std::lock_guard<std::mutex> lock(mu_);
      job.view.set_peak_state_bytes(peak_bytes);
      job.view.set_parts(parts);
    }
    // With parts, budgets were not counted across them: the first budget to
    // run out (its last allowed use) is cut there, and the passes run again.
    // Up to that use every member's history is the same as with budgets
    // counted, so each round fixes one budget for good.
    std::string first_offer;
    uint64_t first_last_use = 0;
    for (const auto& o : proposed->offers) {
      if (o.budget_redemptions <= 0 || exhausted_after.count(o.id) != 0) continue;
      auto found = offer_uses.find(o.id);
      // Past the budget only if a use came after its last allowed one.
      if (found == offer_uses.end() || found->second.size() <= static_cast<size_t>(o.budget_redemptions)) continue;
      std::vector<uint64_t>& uses = found->second;
      std::nth_element(uses.begin(), uses.begin() + (o.budget_redemptions - 1), uses.end());
      const uint64_t last_use = uses[o.budget_redemptions - 1];
      if (first_offer.empty() || last_use < first_last_use) {
        first_offer = o.id;
        first_last_use = last_use;
      }
    }
    if (parts == 1 || first_offer.empty()) return std::move(builder).Finish(events);
    exhausted_after[first_offer] = first_last_use;
    ++round;
  }
}

}  // namespace loyalty
