// Tests of Ingest against a real RocksDB in a temporary folder: idempotency
// decisions, earning, line-level returns, voids, and the ledger invariant.
#include "services/loyalty/ingest.h"

#include <gtest/gtest.h>

#include "services/loyalty/admin_operations.h"
#include "services/loyalty/codec.h"
#include "services/loyalty/member_store.h"
#include "tests/support/programs.h"
#include "storage/keys.h"
#include "tests/support/events.h"
#include "tests/support/temp_dir.h"

namespace loyalty::pos {
namespace {

using loyalty::testing::kNow;
using loyalty::testing::MakeReturn;
using loyalty::testing::MakeSale;
using loyalty::testing::MakeVoid;
using loyalty::testing::Ref;
using storage::Durability;

class IngestTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = storage::Store::Open({.path = dir_.Sub("db")});
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
    programs_ = std::move(*ProgramStore::Open(*store_, loyalty::testing::PlainProgram(), clock_));
    counters_ = std::move(*Counters::Load(*store_));
    members_ = std::make_unique<Members>(*store_, 1 << 20);
    ingest_ = std::make_unique<Ingest>(*store_, *members_, *programs_, *counters_, clock_);
    Lanes lanes(1, 1);
    DryRuns dry_runs(*store_, *programs_, clock_, DryRunOptions());
    AdminOperations admin(*store_, *members_, lanes, clock_, *programs_, dry_runs);
    v1::EnrollMemberRequest r;
    r.set_member_id("m-1");
    ASSERT_TRUE(admin.EnrollMember({auth::Role::kAdmin, "test", "", ""}, r).ok());
  }

  int64_t Balance() { return BalanceOf(*ReadMember(*store_, "m-1"), clock_.NowUnixSeconds()).available_points(); }
  void ExpectLedgerMatchesBalance() {
    auto sum = SumLedger(*store_, "m-1");
    ASSERT_TRUE(sum.ok());
    auto member = ReadMember(*store_, "m-1");
    EXPECT_EQ(sum->points, member->ledger_total_points());
    EXPECT_EQ(sum->points, engine::LedgerTotal(codec::FromProto(member->engine())));
    EXPECT_EQ(sum->entries, member->ledger_entries());
  }

  loyalty::testing::TempDir dir_;
  ManualClock clock_{kNow};
  std::unique_ptr<storage::Store> store_;
  std::unique_ptr<ProgramStore> programs_;
  std::unique_ptr<Counters> counters_;
  std::unique_ptr<Members> members_;  // one cache, shared like in the server
  std::unique_ptr<Ingest> ingest_;
};

// A new sale earns points per line, rounded down, and is recorded once.
TEST_F(IngestTest, SaleEarnsPerLineRoundedDown) {
  // 2 x 3.50 = 7.00 -> 7 points; 1 x 1.99 - 0.50 = 1.49 -> 1 point.
  auto r = ingest_->ApplySale(MakeSale("tx-1", "m-1", {{2, 350}, {1, 199, 50}}), "m-1", Durability::kSynced);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE(r->replayed);
  EXPECT_EQ(r->outcome.points_earned(), 8);
  EXPECT_EQ(r->outcome.net_amount_minor(), 849);
  EXPECT_EQ(r->outcome.balance().available_points(), 8);
  EXPECT_EQ(Balance(), 8);
  ExpectLedgerMatchesBalance();
}

// A retry with the same content returns the first answer and changes nothing.
TEST_F(IngestTest, IdenticalRetryReturnsFirstAnswer) {
  auto sale = MakeSale("tx-1", "m-1", {{1, 1000}});
  auto first = ingest_->ApplySale(sale, "m-1", Durability::kSynced);
  auto again = ingest_->ApplySale(sale, "m-1", Durability::kSynced);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->replayed);
  EXPECT_EQ(again->outcome.SerializeAsString(), first->outcome.SerializeAsString());
  EXPECT_EQ(Balance(), 10);
  ExpectLedgerMatchesBalance();
}

// The same transaction id with other content is refused, whatever the kind.
TEST_F(IngestTest, ConflictingRetryIsRefused) {
  ASSERT_TRUE(ingest_->ApplySale(MakeSale("tx-1", "m-1", {{1, 1000}}), "m-1", Durability::kSynced).ok());
  auto other = ingest_->ApplySale(MakeSale("tx-1", "m-1", {{1, 2000}}), "m-1", Durability::kSynced);
  EXPECT_EQ(other.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_NE(other.status().message().find("already recorded with different content"), std::string::npos);
  // A return reusing the sale's own id is a conflict too.
  v1::Return ret = MakeReturn("tx-1", Ref("tx-1"), {{0, 1}});
  EXPECT_EQ(ingest_->ApplyReturn(ret, Durability::kSynced).status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(Balance(), 10);
}

// Returns reverse exactly what the returned units earned, in any steps, and
// never more than was sold.
TEST_F(IngestTest, PartialReturnsReverseExactlyTheLinePoints) {
  // 3 x 5.99 = 17.97 -> 17 points on line 0; 1 x 2.00 -> 2 points on line 1.
  ASSERT_TRUE(ingest_->ApplySale(MakeSale("tx-1", "m-1", {{3, 599}, {1, 200}}), "m-1", Durability::kSynced).ok());
  EXPECT_EQ(Balance(), 19);
  auto r1 = ingest_->ApplyReturn(MakeReturn("r-1", Ref("tx-1"), {{0, 1}}), Durability::kSynced);
  ASSERT_TRUE(r1.ok()) << r1.status();
  EXPECT_EQ(r1->outcome.points_reversed(), 5);   // floor(17 * 1/3)
  EXPECT_EQ(r1->outcome.net_amount_minor(), 599);
  auto r2 = ingest_->ApplyReturn(MakeReturn("r-2", Ref("tx-1"), {{0, 2}, {1, 1}}), Durability::kSynced);
  ASSERT_TRUE(r2.ok()) << r2.status();
  EXPECT_EQ(r2->outcome.points_reversed(), 12 + 2);  // the rest of line 0, all of line 1
  EXPECT_EQ(Balance(), 0);
  auto over = ingest_->ApplyReturn(MakeReturn("r-3", Ref("tx-1"), {{0, 1}}), Durability::kSynced);
  EXPECT_EQ(over.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(over.status().message(),
            "return.lines[0].quantity: only 0 of 3 units of line 0 remain unreturned, got 1");
  auto bad_line = ingest_->ApplyReturn(MakeReturn("r-4", Ref("tx-1"), {{5, 1}}), Durability::kSynced);
  EXPECT_EQ(bad_line.status().code(), absl::StatusCode::kInvalidArgument);
  ExpectLedgerMatchesBalance();
}

// A return of a sale that is not recorded is refused and changes nothing.
TEST_F(IngestTest, ReturnOfUnknownSaleIsRefused) {
  auto r = ingest_->ApplyReturn(MakeReturn("r-1", Ref("nope"), {{0, 1}}), Durability::kSynced);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(r.status().message(), "return.original: sale store-1/t-1/nope is not recorded (yet)");
  EXPECT_FALSE(store_->Get(storage::Cf::kTxn, storage::TxnKey("store-1", "t-1", "r-1")).ok());
}

// A void reverses what returns have not, once; later returns are refused.
TEST_F(IngestTest, VoidReversesTheRemainderOnce) {
  ASSERT_TRUE(ingest_->ApplySale(MakeSale("tx-1", "m-1", {{2, 1000}}), "m-1", Durability::kSynced).ok());
  ASSERT_TRUE(ingest_->ApplyReturn(MakeReturn("r-1", Ref("tx-1"), {{0, 1}}), Durability::kSynced).ok());
  EXPECT_EQ(Balance(), 10);
  auto v = ingest_->ApplyVoid(MakeVoid("v-1", Ref("tx-1")), Durability::kSynced);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->outcome.points_reversed(), 10);
  EXPECT_EQ(Balance(), 0);
  EXPECT_EQ(ingest_->ApplyVoid(MakeVoid("v-2", Ref("tx-1")), Durability::kSynced).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(ingest_->ApplyVoid(MakeVoid("v-1", Ref("tx-1")), Durability::kSynced)->replayed);
  EXPECT_EQ(ingest_->ApplyReturn(MakeReturn("r-2", Ref("tx-1"), {{0, 1}}), Durability::kSynced).status().code(),
            absl::StatusCode::kFailedPrecondition);
  ExpectLedgerMatchesBalance();
}

// Policy: a return of points already spent may take the balance below zero.
TEST_F(IngestTest, ReturnAfterSpendingGoesNegative) {
  ASSERT_TRUE(ingest_->ApplySale(MakeSale("tx-1", "m-1", {{1, 5000}}), "m-1", Durability::kSynced).ok());
  Lanes lanes(1, 1);
  DryRuns dry_runs(*store_, *programs_, clock_, DryRunOptions());
  AdminOperations admin(*store_, *members_, lanes, clock_, *programs_, dry_runs);
  v1::AdjustPointsRequest spend;
  spend.set_member_id("m-1");
  spend.set_points(-40);
  spend.set_reason("test spend");
  spend.set_request_id("adj-1");
  admin.AdjustPoints({auth::Role::kAdmin, "test", "", ""}, spend, [](auto r) { ASSERT_TRUE(r.ok()); });
  lanes.Stop();
  EXPECT_EQ(Balance(), 10);
  ASSERT_TRUE(ingest_->ApplyReturn(MakeReturn("r-1", Ref("tx-1"), {{0, 1}}), Durability::kSynced).ok());
  EXPECT_EQ(Balance(), -40);
  ExpectLedgerMatchesBalance();
}

// Anonymous sales are recorded but earn nothing.
TEST_F(IngestTest, AnonymousSaleEarnsNothing) {
  auto r = ingest_->ApplySale(MakeSale("tx-1", "", {{1, 5000}}), "", Durability::kSynced);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->outcome.points_earned(), 0);
  auto record = store_->GetProto<internal::IdempotencyRecord>(storage::Cf::kTxn, storage::TxnKey("store-1", "t-1", "tx-1"));
  ASSERT_TRUE(record.ok() && record->has_value());
  ASSERT_TRUE((*record)->has_sale());
  EXPECT_EQ((*record)->sale().member_id(), "");
  EXPECT_EQ((*record)->sale().lines_size(), 1);
}

// A sale's state lives in its idempotency record: one key per sale. A
// return rewrites that record's state and keeps its fingerprint and first
// answer, so a retry of the sale is still answered as before.
TEST_F(IngestTest, SaleStateLivesInTheSalesIdempotencyRecord) {
  const v1::Sale sale = MakeSale("tx-1", "m-1", {{3, 1000}});
  auto first = ingest_->ApplySale(sale, "m-1", Durability::kSynced);
  ASSERT_TRUE(first.ok()) << first.status();
  const std::string key = storage::TxnKey("store-1", "t-1", "tx-1");
  EXPECT_TRUE(absl::IsNotFound(store_->Get(storage::Cf::kSales, key).status()));
  auto before = store_->GetProto<internal::IdempotencyRecord>(storage::Cf::kTxn, key);
  ASSERT_TRUE(before.ok() && before->has_value());
  EXPECT_EQ((*before)->sale().lines(0).returned_quantity(), 0);

  ASSERT_TRUE(ingest_->ApplyReturn(MakeReturn("r-1", Ref("tx-1"), {{0, 1}}), Durability::kSynced).ok());
  auto after = store_->GetProto<internal::IdempotencyRecord>(storage::Cf::kTxn, key);
  ASSERT_TRUE(after.ok() && after->has_value());
  EXPECT_EQ((*after)->sale().lines(0).returned_quantity(), 1);
  EXPECT_EQ((*after)->fingerprint(), (*before)->fingerprint());
  EXPECT_EQ((*after)->outcome().SerializeAsString(), (*before)->outcome().SerializeAsString());
  // The return's own record carries no sale state.
  auto ret = store_->GetProto<internal::IdempotencyRecord>(storage::Cf::kTxn, storage::TxnKey("store-1", "t-1", "r-1"));
  ASSERT_TRUE(ret.ok() && ret->has_value());
  EXPECT_FALSE((*ret)->has_sale());
  // A retry of the sale gets its first answer; a return may not name a return.
  auto again = ingest_->ApplySale(sale, "m-1", Durability::kSynced);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(again->replayed);
  EXPECT_EQ(again->outcome.SerializeAsString(), first->outcome.SerializeAsString());
  auto of_return = ingest_->ApplyReturn(MakeReturn("r-2", Ref("r-1"), {{0, 1}}), Durability::kSynced);
  EXPECT_EQ(of_return.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(of_return.status().message(), "return.original: sale store-1/t-1/r-1 is not recorded (yet)");
  EXPECT_EQ(Balance(), 20);
  ExpectLedgerMatchesBalance();
}

// A data folder written before the sale's state moved into its record keeps
// it in CF sales: returns and voids still find it, and the first change moves
// it into the record.
TEST_F(IngestTest, SaleStateOfAnOlderDataFolderIsFoundAndMoved) {
  ASSERT_TRUE(ingest_->ApplySale(MakeSale("tx-1", "m-1", {{2, 1000}}), "m-1", Durability::kSynced).ok());
  const std::string key = storage::TxnKey("store-1", "t-1", "tx-1");
  {
    // Rewrite the sale in the older layout.
    auto record = store_->GetProto<internal::IdempotencyRecord>(storage::Cf::kTxn, key);
    ASSERT_TRUE(record.ok() && record->has_value());
    internal::IdempotencyRecord old_record = **record;
    const internal::SaleState state = old_record.sale();
    old_record.clear_sale();
    storage::WriteSet older;
    older.Put(storage::Cf::kTxn, key, old_record);
    older.Put(storage::Cf::kSales, key, state);
    ASSERT_TRUE(store_->Commit(older, Durability::kSynced).ok());
  }
  auto r = ingest_->ApplyReturn(MakeReturn("r-1", Ref("tx-1"), {{0, 1}}), Durability::kSynced);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->outcome.points_reversed(), 10);
  EXPECT_TRUE(absl::IsNotFound(store_->Get(storage::Cf::kSales, key).status()));
  auto moved = store_->GetProto<internal::IdempotencyRecord>(storage::Cf::kTxn, key);
  ASSERT_TRUE(moved.ok() && moved->has_value());
  ASSERT_TRUE((*moved)->has_sale());
  EXPECT_EQ((*moved)->sale().lines(0).returned_quantity(), 1);
  // The rest of the sale can still be voided, once.
  auto v = ingest_->ApplyVoid(MakeVoid("v-1", Ref("tx-1")), Durability::kSynced);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(Balance(), 0);
  ExpectLedgerMatchesBalance();
}

// Event sequence numbers survive a reopen: new events never reuse them.
TEST_F(IngestTest, SequenceContinuesAfterReopen) {
  auto first = ingest_->ApplySale(MakeSale("tx-1", "m-1", {{1, 100}}), "m-1", Durability::kSynced);
  ASSERT_TRUE(first.ok());
  ingest_.reset();
  programs_.reset();
  ASSERT_TRUE(store_->Close().ok());
  store_ = std::move(*storage::Store::Open({.path = dir_.Sub("db")}));
  programs_ = std::move(*ProgramStore::Open(*store_, loyalty::testing::PlainProgram(), clock_));
  counters_ = std::move(*Counters::Load(*store_));
  members_ = std::make_unique<Members>(*store_, 1 << 20);
  ingest_ = std::make_unique<Ingest>(*store_, *members_, *programs_, *counters_, clock_);
  auto second = ingest_->ApplySale(MakeSale("tx-2", "m-1", {{1, 100}}), "m-1", Durability::kSynced);
  ASSERT_TRUE(second.ok());
  EXPECT_GT(second->outcome.event_seq(), first->outcome.event_seq());
  EXPECT_EQ(Balance(), 2);
}

// A checkpoint is a consistent copy that opens on its own.
TEST_F(IngestTest, CheckpointOpensWithTheSameState) {
  ASSERT_TRUE(ingest_->ApplySale(MakeSale("tx-1", "m-1", {{1, 700}}), "m-1", Durability::kSynced).ok());
  auto path = store_->Checkpoint("backup");
  ASSERT_TRUE(path.ok()) << path.status();
  EXPECT_EQ(*path, dir_.Sub("db") + "-checkpoints/backup");
  auto copy = storage::Store::Open({.path = *path, .create_if_missing = false});
  ASSERT_TRUE(copy.ok()) << copy.status();
  EXPECT_EQ(ReadMember(**copy, "m-1")->ledger_total_points(), 7);
}

}  // namespace
}  // namespace loyalty::pos
