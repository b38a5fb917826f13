// Property tests: random sequences of sales, returns, voids, adjustments,
// expiry runs, retries and late (out-of-order) events through the real
// ingest path and RocksDB. After every run: each balance equals its ledger,
// no batch holds more than it earned or less than nothing, no return
// reversed more than its lines earned, and replaying the event log rebuilds
// exactly the stored state.
#include <future>
#include <random>

#include <gtest/gtest.h>

#include "services/loyalty/admin_operations.h"
#include "services/loyalty/codec.h"
#include "services/loyalty/member_store.h"
#include "services/loyalty/ingest.h"
#include "storage/keys.h"
#include "tests/support/events.h"
#include "tests/support/legacy_records.h"
#include "tests/support/temp_dir.h"

namespace loyalty {
namespace {

using loyalty::testing::kNow;
using loyalty::testing::MakeReturn;
using loyalty::testing::MakeSale;
using loyalty::testing::MakeVoid;
using loyalty::testing::Ref;
using storage::Durability;

const auth::Principal kAdmin{auth::Role::kAdmin, "property-test", "", ""};

// A program with every rule switched on, so the sequences exercise them all.
engine::ProgramConfig BusyProgram() {
  engine::ProgramConfig p = engine::DefaultProgram();
  p.pending_days = 7;
  p.expiry_days = 40;
  p.max_points_per_month = 400;
  p.category_multipliers = {{"coffee", 200}};
  p.excluded_categories = {"tobacco"};
  p.promotions = {{"wk", "Weekend", kNow + 10 * engine::kDay, kNow + 20 * engine::kDay, {}, {}, 300}};
  p.tiers[1].min_visits = 4;
  p.tiers[2].min_visits = 8;
  p.tier_window_days = 30;
  p.tier_grace_days = 5;
  return p;
}

class LedgerPropertyTest : public ::testing::TestWithParam<uint64_t> {
 protected:
  void SetUp() override {
    store_ = std::move(*storage::Store::Open({.path = dir_.Sub("db")}));
    programs_ = std::move(*ProgramStore::Open(*store_, BusyProgram(), clock_));
    counters_ = std::move(*Counters::Load(*store_));
    members_ = std::make_unique<Members>(*store_, 1 << 20);
    ingest_ = std::make_unique<Ingest>(*store_, *members_, *programs_, *counters_, clock_);
    lanes_ = std::make_unique<Lanes>(2, 8);
    dry_runs_ = std::make_unique<DryRuns>(*store_, *programs_, clock_, DryRunOptions());
    admin_ = std::make_unique<AdminOperations>(*store_, *members_, *lanes_, clock_, *programs_, *dry_runs_);
    for (int i = 0; i < kMembers; ++i) {
      v1::EnrollMemberRequest r;
      r.set_member_id("m-" + std::to_string(i));
      r.mutable_enrolled_at()->set_seconds(kNow - 100 * engine::kDay);
      ASSERT_TRUE(admin_->EnrollMember(kAdmin, r).ok());
    }
  }

  static constexpr int kMembers = 4;
  loyalty::testing::TempDir dir_;
  ManualClock clock_{kNow};
  std::unique_ptr<storage::Store> store_;
  std::unique_ptr<ProgramStore> programs_;
  std::unique_ptr<Counters> counters_;
  std::unique_ptr<Members> members_;
  std::unique_ptr<Ingest> ingest_;
  std::unique_ptr<Lanes> lanes_;
  std::unique_ptr<DryRuns> dry_runs_;
  std::unique_ptr<AdminOperations> admin_;
};

TEST_P(LedgerPropertyTest, InvariantsHoldAndReplayRebuildsTheSameState) {
  std::mt19937_64 rng(GetParam());
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<uint64_t>(n)); };
  const char* categories[] = {"coffee", "bakery", "tobacco", "dairy"};
  std::vector<v1::Sale> sales;
  std::vector<std::function<absl::StatusOr<Applied>()>> done_events;  // for retries
  int accepted = 0;

  for (int step = 0; step < 250; ++step) {
    clock_.AdvanceSeconds(pick(3) == 0 ? pick(3 * 86400) : pick(600));
    const int64_t now = clock_.NowUnixSeconds();
    const std::string id = "e-" + std::to_string(step);
    const int op = pick(100);
    if (op < 50 || sales.empty()) {
      std::vector<loyalty::testing::LineSpec> lines;
      for (int l = 0, n = 1 + pick(4); l < n; ++l) {
        lines.push_back({1 + pick(3), 50 + pick(3000), 0, categories[pick(4)]});
      }
      const bool anonymous = pick(5) == 0;
      const std::string member = anonymous ? "" : "m-" + std::to_string(pick(kMembers));
      // A quarter of the sales arrive late (offline backlog).
      const int64_t at = pick(4) == 0 ? now - pick(20 * 86400) : now;
      v1::Sale sale = MakeSale(id, member, lines, at);
      auto r = ingest_->ApplySale(sale, member, Durability::kBuffered);
      ASSERT_TRUE(r.ok()) << r.status();
      sales.push_back(sale);
      done_events.push_back([this, sale, member] { return ingest_->ApplySale(sale, member, Durability::kBuffered); });
      ++accepted;
    } else if (op < 72) {
      const v1::Sale& sale = sales[pick(static_cast<int>(sales.size()))];
      const uint32_t line = static_cast<uint32_t>(pick(sale.lines_size()));
      v1::Return ret = MakeReturn(id, sale.ref(), {{line, 1 + pick(2)}}, now);
      auto r = ingest_->ApplyReturn(ret, Durability::kBuffered);
      // Over-returns and returns of voided sales are refused; both are fine.
      if (r.ok()) {
        done_events.push_back([this, ret] { return ingest_->ApplyReturn(ret, Durability::kBuffered); });
        ++accepted;
      } else {
        ASSERT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition) << r.status();
      }
    } else if (op < 78) {
      const v1::Sale& sale = sales[pick(static_cast<int>(sales.size()))];
      v1::Void v = MakeVoid(id, sale.ref(), now);
      auto r = ingest_->ApplyVoid(v, Durability::kBuffered);
      if (r.ok()) {
        done_events.push_back([this, v] { return ingest_->ApplyVoid(v, Durability::kBuffered); });
      } else {
        ASSERT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition) << r.status();
      }
    } else if (op < 86) {
      v1::AdjustPointsRequest adj;
      adj.set_member_id("m-" + std::to_string(pick(kMembers)));
      adj.set_points(pick(2) ? 1 + pick(50) : -(1 + pick(80)));
      adj.set_reason("property test");
      adj.set_request_id(id);
      std::promise<absl::StatusOr<v1::AdjustPointsResponse>> p;
      admin_->AdjustPoints(kAdmin, adj, [&](auto r) { p.set_value(std::move(r)); });
      ASSERT_TRUE(p.get_future().get().ok());
    } else if (op < 93) {
      std::promise<absl::StatusOr<v1::RunExpiryResponse>> p;
      admin_->RunExpiry(kAdmin, [&](auto r) { p.set_value(std::move(r)); });
      ASSERT_TRUE(p.get_future().get().ok());
    } else if (op < 96) {
      // A member claims a random sale: only an anonymous, unreturned, recent one succeeds.
      const v1::Sale& sale = sales[pick(static_cast<int>(sales.size()))];
      v1::ClaimReceiptRequest claim;
      claim.set_member_id("m-" + std::to_string(pick(kMembers)));
      *claim.mutable_sale() = sale.ref();
      claim.set_total_minor(sale.total_minor());
      claim.set_receipt_code(ingest_->ReceiptCode(sale.ref()));
      auto r = ingest_->ApplyClaim(claim, Durability::kBuffered);
      if (!r.ok()) {
        ASSERT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition) << r.status();
      }
    } else if (!done_events.empty()) {
      // A retry replays the first answer and changes nothing.
      auto r = done_events[pick(static_cast<int>(done_events.size()))]();
      ASSERT_TRUE(r.ok()) << r.status();
      EXPECT_TRUE(r->replayed);
    }
  }
  EXPECT_GT(accepted, 100);

  // Every balance equals its ledger, and replay rebuilds the stored state.
  v1::VerifyLedgerRequest verify_request;
  verify_request.set_replay_events(true);
  auto verify = admin_->VerifyLedger(kAdmin, verify_request);
  ASSERT_TRUE(verify.ok()) << verify.status();
  EXPECT_EQ(verify->members_checked(), static_cast<uint64_t>(kMembers));
  EXPECT_EQ(verify->mismatches(), 0u);
  EXPECT_EQ(verify->replay_mismatches(), 0u);
  EXPECT_GT(verify->events_replayed(), 150u);

  // No batch is spent twice (or below zero) or holds more than it earned.
  for (int i = 0; i < kMembers; ++i) {
    auto member = ReadMember(*store_, "m-" + std::to_string(i));
    ASSERT_TRUE(member.ok());
    const engine::MemberState state = codec::FromProto(member->engine());
    EXPECT_GE(state.debt, 0);
    for (const auto& b : state.batches) {
      EXPECT_GE(b.remaining, 0);
      EXPECT_LE(b.remaining, b.points);
    }
  }
  // Records in the form written before the packed columns still verify and
  // still match the replay.
  {
    storage::WriteSet legacy;
    for (int i = 0; i < kMembers; ++i) {
      auto member = ReadMember(*store_, "m-" + std::to_string(i));
      ASSERT_TRUE(member.ok());
      internal::MemberRecord old_form = *member;
      *old_form.mutable_engine() = loyalty::testing::LegacyEngineState(codec::FromProto(member->engine()));
      legacy.PutRaw(storage::Cf::kMembers, storage::MemberKey(old_form.member_id()), old_form.SerializeAsString());
    }
    ASSERT_TRUE(store_->Commit(legacy, Durability::kSynced).ok());
    auto again = admin_->VerifyLedger(kAdmin, verify_request);
    ASSERT_TRUE(again.ok()) << again.status();
    EXPECT_EQ(again->members_checked(), static_cast<uint64_t>(kMembers));
    EXPECT_EQ(again->mismatches(), 0u);
    EXPECT_EQ(again->replay_mismatches(), 0u);
  }

  // No return reversed more than its lines earned, or returned more than was sold.
  // (A sale's state is in its idempotency record.)
  uint64_t sales_seen = 0;
  auto it = store_->NewCursor(storage::Cf::kTxn);
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    internal::IdempotencyRecord record;
    ASSERT_TRUE(record.ParseFromArray(it->value().data(), static_cast<int>(it->value().size())));
    if (!record.has_sale()) continue;
    ++sales_seen;
    const internal::SaleState& sale = record.sale();
    for (const auto& line : sale.lines()) {
      EXPECT_LE(line.reversed_points(), line.points());
      EXPECT_LE(line.returned_quantity(), line.quantity());
      EXPECT_LE(line.reversed_credit_minor(), line.credit_minor());
      if (sale.voided()) {
        EXPECT_EQ(line.reversed_points(), line.points());
      }
    }
  }
  EXPECT_GT(sales_seen, 0u);
}

// A damaged member record stops a scan with DATA_LOSS naming the member,
// taken from its key since the record itself cannot be read.
TEST_F(LedgerPropertyTest, ScanOfADamagedRecordNamesTheMember) {
  storage::WriteSet writes;
  writes.PutRaw(storage::Cf::kMembers, storage::MemberKey("m-2"), "\xff\xff not a record");
  ASSERT_TRUE(store_->Commit(writes, Durability::kSynced).ok());
  const absl::Status s = admin_->VerifyLedger(kAdmin, v1::VerifyLedgerRequest()).status();
  EXPECT_TRUE(absl::IsDataLoss(s)) << s;
  EXPECT_NE(s.message().find("'m-2'"), std::string_view::npos) << s;
}

INSTANTIATE_TEST_SUITE_P(Seeds, LedgerPropertyTest, ::testing::Values(1, 2, 3, 4, 5, 6, 7, 8));

}  // namespace
}  // namespace loyalty
