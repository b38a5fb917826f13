// Integration tests of dry runs as jobs: a history replayed in many passes
// within a small memory budget gives exactly the report of one pass over
// every member, offer budgets shared across the passes included; jobs show
// progress, are limited in number, and end when the server stops.
#include <future>

#include <google/protobuf/util/message_differencer.h>

#include "services/loyalty/dry_runs.h"
#include "tests/support/server_fixture.h"

namespace loyalty {
namespace {

using loyalty::testing::kAdmin;
using loyalty::testing::kNow;
using loyalty::testing::MakeReturn;
using loyalty::testing::MakeSale;
using loyalty::testing::MakeVoid;
using loyalty::testing::Ref;

constexpr int kMembers = 40;

// The default ladder with two offers on a budget shared by all members.
engine::ProgramConfig BudgetProgram(int64_t coffee_budget, int64_t bakery_budget) {
  engine::ProgramConfig p = engine::DefaultProgram();
  engine::OfferTemplate coffee;
  coffee.id = "coffee-bonus";
  coffee.title = "50 bonus points with a coffee";
  coffee.kind = engine::OfferKind::kBonusPoints;
  coffee.bonus_points = 50;
  coffee.categories = {"coffee"};
  coffee.budget_redemptions = coffee_budget;
  engine::OfferTemplate bakery;
  bakery.id = "bakery-bonus";
  bakery.title = "30 bonus points with bread";
  bakery.kind = engine::OfferKind::kBonusPoints;  // no discount: recorded totals need no evaluation
  bakery.bonus_points = 30;
  bakery.categories = {"bakery"};
  bakery.budget_redemptions = bakery_budget;
  p.offers = {coffee, bakery};
  return p;
}

class DryRunTest : public loyalty::testing::ServerFixture {
 protected:
  engine::ProgramConfig Program() const override { return BudgetProgram(6, 0); }

  // Members with sales over a year (some with coffee, for the offer), an
  // anonymous sale claimed by a member, returns and voids.
  void SetUp() override {
    ServerFixture::SetUp();
    for (int m = 0; m < kMembers; ++m) Enroll("m-" + std::to_string(m), "", kNow - 400 * 86400);
    int txn = 0;
    for (int m = 0; m < kMembers; ++m) {
      const std::string member = "m-" + std::to_string(m);
      const int sales = 1 + m % 7;
      for (int i = 0; i < sales; ++i) {
        const std::string category = (m + i) % 3 == 0 ? "coffee" : ((m + i) % 3 == 1 ? "bakery" : "dairy");
        v1::Sale sale = MakeSale("t-" + std::to_string(++txn), member,
                                 {{1 + i % 2, 4000 + 1500 * (m % 5), 0, category}, {1, 250, 0, "dairy"}},
                                 kNow - (sales - i) * 20 * 86400);
        Record(sale);
        if (m % 9 == 0 && i == 0) Return(MakeReturn("r-" + std::to_string(txn), sale.ref(), {{0, 1}}, sale.occurred_at().seconds() + 60));
        if (m % 11 == 1 && i == 1) Void(MakeVoid("v-" + std::to_string(txn), sale.ref(), sale.occurred_at().seconds() + 30));
      }
    }
    // Anonymous sales, one of them claimed later by a member.
    for (int i = 0; i < 5; ++i) {
      v1::Sale sale = MakeSale("anon-" + std::to_string(i), "", {{2, 5000, 0, "coffee"}}, kNow - 3600);
      const v1::EventOutcome recorded = Record(sale);
      if (i == 2) {
        v1::ClaimReceiptRequest claim;
        claim.set_member_id("m-3");
        *claim.mutable_sale() = sale.ref();
        claim.set_total_minor(sale.total_minor());
        claim.set_receipt_code(recorded.receipt_code());
        v1::ClaimReceiptResponse out;
        grpc::Status s = member_->ClaimReceipt(As(kAdmin).get(), claim, &out);
        ASSERT_TRUE(s.ok()) << s.error_message();
      }
    }
  }

  v1::EventOutcome Record(const v1::Sale& sale) {
    v1::RecordSaleRequest req;
    *req.mutable_sale() = sale;
    v1::EventOutcome out;
    grpc::Status s = pos_->RecordSale(As(loyalty::testing::kTerminal).get(), req, &out);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return out;
  }
  void Return(const v1::Return& r) {
    v1::RecordReturnRequest req;
    *req.mutable_return_() = r;
    v1::EventOutcome out;
    grpc::Status s = pos_->RecordReturn(As(loyalty::testing::kTerminal).get(), req, &out);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  void Void(const v1::Void& v) {
    v1::VoidSaleRequest req;
    *req.mutable_void_() = v;
    v1::EventOutcome out;
    grpc::Status s = pos_->VoidSale(As(loyalty::testing::kTerminal).get(), req, &out);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }

  // The report of one pass over every member (the server's own dry run).
  v1::DryRunReport OnePass(const engine::ProgramConfig& proposal) {
    v1::UpdateProgramRequest request;
    *request.mutable_program() = codec::ToProto(proposal);
    v1::DryRunReport report;
    grpc::Status s = admin_->DryRunProgram(As(kAdmin).get(), request, &report);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return report;
  }

  // The same dry run as a job of a DryRuns with `budget_bytes` of memory.
  std::pair<v1::DryRunJob, absl::Status> InParts(const engine::ProgramConfig& proposal, size_t budget_bytes) {
    DryRunOptions options;
    options.memory_budget_bytes = budget_bytes;
    DryRuns dry_runs(server_->store(), server_->programs(), clock_, options);
    engine::ProgramConfig numbered = proposal;
    numbered.version = server_->programs().Current()->version + 1;
    std::promise<absl::Status> ended;
    auto started = dry_runs.Start(std::make_shared<const engine::ProgramConfig>(numbered), "test",
                                  [&ended](absl::StatusOr<v1::DryRunReport> r) { ended.set_value(r.status()); });
    EXPECT_TRUE(started.ok()) << started.status();
    if (!started.ok()) return {v1::DryRunJob(), started.status()};
    const absl::Status status = ended.get_future().get();
    auto job = dry_runs.Get(started->job_id());
    EXPECT_TRUE(job.ok()) << job.status();
    return {job.value_or(v1::DryRunJob()), status};
  }

  static std::string Diff(const v1::DryRunReport& a, const v1::DryRunReport& b) {
    std::string diff;
    google::protobuf::util::MessageDifferencer differencer;
    differencer.ReportDifferencesToString(&diff);
    return differencer.Compare(a, b) ? "" : diff;
  }
};

TEST_F(DryRunTest, ManyPassesInASmallBudgetGiveTheOnePassReport) {
  engine::ProgramConfig proposal = BudgetProgram(6, 0);
  proposal.tiers[1].min_spend_minor = 80'00;   // Silver far easier: many move up
  proposal.stages[2].min_visits = 3;
  const v1::DryRunReport expected = OnePass(proposal);
  ASSERT_GT(expected.members_changing_tier(), 0u) << "the proposal must move members for the comparison to matter";
  ASSERT_EQ(expected.members(), static_cast<uint64_t>(kMembers));

  auto [job, status] = InParts(proposal, 8 << 10);  // 8 KiB: a few members a pass
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_EQ(job.state(), v1::DRY_RUN_STATE_DONE);
  EXPECT_GT(job.parts(), 4u) << "the budget is far below the history's state";
  EXPECT_EQ(job.passes(), job.parts() + 1) << "one pass to find the sales referred to, one per part";
  EXPECT_LE(job.peak_state_bytes(), 8u << 10);
  EXPECT_DOUBLE_EQ(job.progress(), 1.0);
  EXPECT_EQ(Diff(expected, job.report()), "");
}

// The coffee budget of 6 runs out part way through the history; the
// proposal adds a bakery budget of 4 that runs out too. Counted per pass they
// would be exceeded; the job finds where each ran out and replays again.
TEST_F(DryRunTest, OfferBudgetsHoldAcrossPasses) {
  engine::ProgramConfig proposal = BudgetProgram(6, 4);
  const v1::DryRunReport expected = OnePass(proposal);

  auto [job, status] = InParts(proposal, 8 << 10);
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_GT(job.parts(), 4u);
  EXPECT_EQ(job.round(), 3u) << "one more round for each budget that ran out";
  EXPECT_EQ(Diff(expected, job.report()), "");

  // The same without the rounds would differ: the budgets make a difference.
  engine::ProgramConfig unlimited = BudgetProgram(0, 0);
  EXPECT_NE(Diff(expected, OnePass(unlimited)), "");
}

TEST_F(DryRunTest, ABudgetTooSmallForOneMemberFailsClearly) {
  auto [job, status] = InParts(BudgetProgram(6, 0), 64);
  EXPECT_TRUE(absl::IsResourceExhausted(status)) << status;
  EXPECT_EQ(job.state(), v1::DRY_RUN_STATE_FAILED);
  EXPECT_NE(job.error().find("dry_run_memory_mb"), std::string::npos) << job.error();
}

TEST_F(DryRunTest, JobsThroughTheApiShowProgressThenTheReport) {
  engine::ProgramConfig proposal = BudgetProgram(6, 0);
  proposal.tiers[1].min_spend_minor = 80'00;
  v1::UpdateProgramRequest request;
  *request.mutable_program() = codec::ToProto(proposal);
  v1::DryRunJob job;
  ASSERT_TRUE(admin_->StartDryRun(As(kAdmin).get(), request, &job).ok());
  EXPECT_TRUE(job.job_id().rfind("dr-", 0) == 0) << job.job_id();
  EXPECT_EQ(job.author(), kAdmin);
  for (int i = 0; i < 500 && job.state() != v1::DRY_RUN_STATE_DONE; ++i) {
    ASSERT_NE(job.state(), v1::DRY_RUN_STATE_FAILED) << job.error();
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    v1::GetDryRunRequest get;
    get.set_job_id(job.job_id());
    ASSERT_TRUE(admin_->GetDryRun(As(kAdmin).get(), get, &job).ok());
  }
  ASSERT_EQ(job.state(), v1::DRY_RUN_STATE_DONE);
  EXPECT_EQ(job.parts(), 1u);
  EXPECT_EQ(job.passes(), 2u);
  EXPECT_EQ(job.compared_with_version(), server_->programs().Current()->version);
  EXPECT_EQ(Diff(OnePass(proposal), job.report()), "");

  // Unknown jobs, other roles, a bad proposal.
  v1::GetDryRunRequest unknown;
  unknown.set_job_id("dr-nope");
  v1::DryRunJob none;
  grpc::Status s = admin_->GetDryRun(As(kAdmin).get(), unknown, &none);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_NE(s.error_message().find("job_id"), std::string::npos) << s.error_message();
  EXPECT_EQ(admin_->StartDryRun(As(loyalty::testing::kMember).get(), request, &none).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  request.mutable_program()->mutable_tiers(1)->set_min_spend_minor(-1);
  s = admin_->StartDryRun(As(kAdmin).get(), request, &none);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("program.tiers[1]"), std::string::npos) << s.error_message();
}

TEST_F(DryRunTest, TooManyWaitingJobsAreRefusedAndStopEndsThem) {
  DryRunOptions options;
  options.max_pending_jobs = 2;
  options.memory_budget_bytes = 1 << 20;
  auto dry_runs = std::make_unique<DryRuns>(server_->store(), server_->programs(), clock_, options);
  auto proposal = std::make_shared<const engine::ProgramConfig>(BudgetProgram(6, 0));
  constexpr int kTries = 6;
  std::vector<std::promise<absl::Status>> ended(kTries);
  std::vector<int> started;
  int refused = 0;
  for (int i = 0; i < kTries; ++i) {
    auto job = dry_runs->Start(proposal, "test", [&ended, i](absl::StatusOr<v1::DryRunReport> r) {
      ended[i].set_value(r.status());
    });
    if (job.ok()) started.push_back(i);
    if (absl::IsResourceExhausted(job.status())) ++refused;
  }
  // A job may finish before the next is asked for; at most two wait at once.
  EXPECT_GE(started.size(), 2u);
  EXPECT_GE(refused, 1);
  dry_runs->Stop(Component::Deadline::max());
  for (int i : started) {
    const absl::Status s = ended[i].get_future().get();
    EXPECT_TRUE(s.ok() || absl::IsUnavailable(s)) << s;
  }
  EXPECT_TRUE(absl::IsUnavailable(dry_runs->Start(proposal, "test").status()));
}

}  // namespace
}  // namespace loyalty
