// Integration tests: the real server in-process on 127.0.0.1:0 with RocksDB
// in a temporary folder, called through a real gRPC channel.
#include <algorithm>
#include <filesystem>
#include <future>
#include <map>
#include <random>
#include <thread>

#include "services/common/lanes.h"
#include "services/loyalty/member_store.h"
#include "services/pos/validation.h"
#include "tests/support/server_fixture.h"

namespace loyalty {
namespace {

using loyalty::testing::kNow;
using loyalty::testing::MakeReturn;
using loyalty::testing::MakeSale;
using loyalty::testing::MakeVoid;
using loyalty::testing::Ref;

constexpr const char* kTerminal1 = loyalty::testing::kTerminal;
using loyalty::testing::kAdmin;
using loyalty::testing::kTerminal2;
constexpr const char* kMember1 = loyalty::testing::kMember;

class PosServerTest : public loyalty::testing::ServerFixture {
 protected:
  void SetUp() override {
    ServerFixture::SetUp();
    Enroll("m-1", "4000000000000001");
    Enroll("m-2", "4000000000000002");
  }

  grpc::Status Sale(const v1::Sale& sale, v1::EventOutcome* out, const std::string& token = kTerminal1,
                    bool* replayed = nullptr) {
    v1::RecordSaleRequest req;
    *req.mutable_sale() = sale;
    auto ctx = As(token);
    grpc::Status s = pos_->RecordSale(ctx.get(), req, out);
    if (replayed) {
      auto it = ctx->GetServerTrailingMetadata().find("x-idempotent-replay");
      *replayed = it != ctx->GetServerTrailingMetadata().end() && it->second == "true";
    }
    return s;
  }

  int64_t Balance(const std::string& member_id) { return View(member_id).balance().available_points(); }
};

// A sale by card earns points; its retry replays the first answer; the same
// id with other content is ALREADY_EXISTS.
TEST_F(PosServerTest, SaleRetryAndConflict) {
  v1::Sale sale = MakeSale("tx-1", "", {{2, 450}});
  sale.mutable_member()->set_card_number("4000000000000001");
  v1::EventOutcome first, again, conflict;
  bool replayed = true;
  ASSERT_TRUE(Sale(sale, &first, kTerminal1, &replayed).ok());
  EXPECT_FALSE(replayed);
  EXPECT_EQ(first.member_id(), "m-1");
  EXPECT_EQ(first.points_earned(), 9);
  ASSERT_TRUE(Sale(sale, &again, kTerminal1, &replayed).ok());
  EXPECT_TRUE(replayed);
  EXPECT_EQ(again.SerializeAsString(), first.SerializeAsString());
  sale.mutable_lines(0)->set_quantity(3);
  sale.set_total_minor(1350);
  grpc::Status s = Sale(sale, &conflict);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_EQ(Balance("m-1"), 9);
}

// Bad input is INVALID_ARGUMENT naming the field, and records nothing.
TEST_F(PosServerTest, InvalidSaleIsRefusedWithTheField) {
  v1::Sale sale = MakeSale("tx-1", "m-1", {{0, 450}});
  v1::EventOutcome out;
  grpc::Status s = Sale(sale, &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(s.error_message(), "sale.lines[0].quantity: must be between 1 and 9999, got 0");
  // The id is still free: a corrected sale with it is recorded.
  ASSERT_TRUE(Sale(MakeSale("tx-1", "m-1", {{1, 450}}), &out).ok());
  EXPECT_EQ(out.points_earned(), 4);
}

// An unknown card or member id is NOT_FOUND, naming the field, and records
// nothing: the transaction id stays free.
TEST_F(PosServerTest, UnknownMemberIsNotFound) {
  v1::Sale sale = MakeSale("tx-1", "", {{1, 450}});
  sale.mutable_member()->set_card_number("9999999999");
  v1::EventOutcome out;
  grpc::Status s = Sale(sale, &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(s.error_message(), "sale.member.card_number: no member has this card");

  sale.mutable_member()->set_member_id("m-nobody");
  s = Sale(sale, &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(s.error_message(), "sale.member.member_id: no member 'm-nobody'");

  ASSERT_TRUE(Sale(MakeSale("tx-1", "m-1", {{1, 450}}), &out).ok());
  EXPECT_EQ(out.member_id(), "m-1");
}

// A terminal of another store cannot take a return of a sale (a store-2
// terminal stamping the return with store-2 returned store-1's sale), as it
// cannot void one; unless the program allows returns at any store.
TEST_F(PosServerTest, ReturnsOnlyAtTheSellingStoreUnlessTheProgramAllowsAny) {
  v1::EventOutcome out;
  ASSERT_TRUE(Sale(MakeSale("tx-1", "m-1", {{4, 250}}), &out).ok());
  ASSERT_EQ(Balance("m-1"), 10);
  v1::RecordReturnRequest ret;
  *ret.mutable_return_() = MakeReturn("r-1", Ref("tx-1"), {{0, 2}});
  ret.mutable_return_()->mutable_ref()->set_store_id("store-2");
  grpc::Status s = pos_->RecordReturn(As(kTerminal2).get(), ret, &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(s.error_message(),
            "return.original.store_id: a sale can only be returned in its own store (the program does not allow "
            "returns at any store)");
  EXPECT_EQ(Balance("m-1"), 10) << "nothing changed";

  v1::Program program;
  ASSERT_TRUE(admin_->GetProgram(As(kAdmin).get(), v1::GetProgramRequest(), &program).ok());
  v1::UpdateProgramRequest update;
  *update.mutable_program() = program;
  update.mutable_program()->set_returns_at_any_store(true);
  update.set_expected_version(program.version());
  ASSERT_TRUE(admin_->UpdateProgram(As(kAdmin).get(), update, &program).ok());
  EXPECT_TRUE(program.returns_at_any_store());
  s = pos_->RecordReturn(As(kTerminal2).get(), ret, &out);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(out.points_reversed(), 5);
  EXPECT_EQ(Balance("m-1"), 5);
}

// Return part of a sale, then an over-return is refused; a void takes the rest.
TEST_F(PosServerTest, PartialReturnOverReturnAndVoid) {
  v1::EventOutcome out;
  ASSERT_TRUE(Sale(MakeSale("tx-1", "m-1", {{4, 250}, {1, 1000}}), &out).ok());
  EXPECT_EQ(out.points_earned(), 20);

  v1::RecordReturnRequest ret;
  *ret.mutable_return_() = MakeReturn("r-1", Ref("tx-1"), {{0, 2}});
  ASSERT_TRUE(pos_->RecordReturn(As(kTerminal1).get(), ret, &out).ok());
  EXPECT_EQ(out.points_reversed(), 5);
  EXPECT_EQ(out.balance().available_points(), 15);

  *ret.mutable_return_() = MakeReturn("r-2", Ref("tx-1"), {{0, 3}});
  grpc::Status over = pos_->RecordReturn(As(kTerminal1).get(), ret, &out);
  EXPECT_EQ(over.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(over.error_message(), "return.lines[0].quantity: only 2 of 4 units of line 0 remain unreturned, got 3");

  v1::VoidSaleRequest v;
  *v.mutable_void_() = MakeVoid("v-1", Ref("tx-1"));
  ASSERT_TRUE(pos_->VoidSale(As(kTerminal1).get(), v, &out).ok());
  EXPECT_EQ(out.points_reversed(), 15);
  EXPECT_EQ(Balance("m-1"), 0);
  grpc::Status twice = pos_->VoidSale(As(kTerminal1).get(), [&] {
    v1::VoidSaleRequest v2;
    *v2.mutable_void_() = MakeVoid("v-2", Ref("tx-1"));
    return v2;
  }(), &out);
  EXPECT_EQ(twice.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
}

// A stream of more events than an upload may carry is refused whole with
// RESOURCE_EXHAUSTED (the operation's rule, as over HTTP); the valid sale in
// it is not recorded.
TEST_F(PosServerTest, BacklogOverTheEventLimitIsRefusedWhole) {
  auto ctx = As(kTerminal1);
  v1::BacklogResult result;
  auto writer = pos_->UploadBacklog(ctx.get(), &result);
  v1::BacklogEvent sale;
  *sale.mutable_sale() = MakeSale("lim-1", "m-1", {{1, 1000}});
  ASSERT_TRUE(writer->Write(sale));
  v1::BacklogEvent empty;
  for (size_t i = 0; i < pos::kMaxBacklogEvents; ++i) {
    if (!writer->Write(empty)) break;  // the server may end the call once it has refused it
  }
  writer->WritesDone();
  grpc::Status s = writer->Finish();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_NE(s.error_message().find("at most 10000 events; nothing was recorded"), std::string::npos) << s.error_message();
  EXPECT_EQ(Balance("m-1"), 0);
}

// A backlog out of order (returns before their sales, times shuffled) is
// applied and each event answered in stream order; a bad event is answered
// with its error without stopping the rest.
TEST_F(PosServerTest, BacklogOutOfOrder) {
  std::vector<v1::BacklogEvent> events(5);
  *events[0].mutable_return_() = MakeReturn("r-1", Ref("b-2"), {{0, 1}}, kNow - 100);
  *events[1].mutable_sale() = MakeSale("b-2", "m-1", {{2, 1000}}, kNow - 3000);
  *events[2].mutable_sale() = MakeSale("b-1", "m-1", {{1, 500}}, kNow - 5000);
  *events[3].mutable_sale() = MakeSale("b-3", "m-1", {{0, 500}}, kNow - 4000);  // invalid
  *events[4].mutable_void_() = MakeVoid("v-1", Ref("b-1"), kNow - 50);

  auto ctx = As(kTerminal1);
  v1::BacklogResult result;
  auto writer = pos_->UploadBacklog(ctx.get(), &result);
  for (const auto& e : events) ASSERT_TRUE(writer->Write(e));
  writer->WritesDone();
  grpc::Status s = writer->Finish();
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_EQ(result.results_size(), 5);
  EXPECT_EQ(result.accepted(), 4u);
  EXPECT_EQ(result.rejected(), 1u);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(result.results(i).index(), static_cast<uint32_t>(i));
  EXPECT_EQ(result.results(0).code(), 0) << result.results(0).message();
  EXPECT_EQ(result.results(0).outcome().points_reversed(), 10);
  EXPECT_EQ(result.results(3).code(), static_cast<int>(grpc::StatusCode::INVALID_ARGUMENT));
  EXPECT_EQ(result.results(3).message(), "sale.lines[0].quantity: must be between 1 and 9999, got 0");
  EXPECT_EQ(result.results(4).outcome().points_reversed(), 5);
  EXPECT_EQ(Balance("m-1"), 10);  // 20 + 5 - 10 - 5

  // Uploading the same backlog again replays every accepted event.
  auto ctx2 = As(kTerminal1);
  v1::BacklogResult again;
  auto writer2 = pos_->UploadBacklog(ctx2.get(), &again);
  for (const auto& e : events) ASSERT_TRUE(writer2->Write(e));
  writer2->WritesDone();
  ASSERT_TRUE(writer2->Finish().ok());
  EXPECT_EQ(again.accepted(), 4u);
  for (int i : {0, 1, 2, 4}) {
    EXPECT_TRUE(again.results(i).replayed());
    EXPECT_EQ(again.results(i).outcome().SerializeAsString(), result.results(i).outcome().SerializeAsString());
  }
  EXPECT_EQ(Balance("m-1"), 10);
}

// A backlog larger than one routing chunk (its events are routed in
// parallel on the lane pool): every event is answered in stream order, bad
// ones with their error, and each member's events still apply in event-time
// order, sales before returns, however the upload was shuffled.
TEST_F(PosServerTest, LargeShuffledBacklogKeepsEachMembersTimeOrder) {
  constexpr int kSales = 1000;
  constexpr int kReturns = 300;
  std::vector<v1::BacklogEvent> events;
  std::vector<bool> valid;
  std::map<std::string, int64_t> expected_points;
  for (int i = 0; i < kSales; ++i) {
    const std::string member = i % 3 == 0 ? "m-2" : "m-1";
    v1::BacklogEvent e;
    *e.mutable_sale() = MakeSale("s-" + std::to_string(i), member, {{1, 200}}, kNow - 20000 + 10 * i);
    const bool ok = i % 97 != 5;
    if (!ok) e.mutable_sale()->mutable_lines(0)->set_quantity(0);
    if (ok) expected_points[member] += 2;
    events.push_back(e);
    valid.push_back(ok);
  }
  for (int i = 0; i < kReturns; ++i) {
    if (!valid[i]) continue;
    v1::BacklogEvent e;
    *e.mutable_return_() = MakeReturn("r-" + std::to_string(i), Ref("s-" + std::to_string(i)), {{0, 1}},
                                      kNow - 20000 + 10 * i + 5);
    expected_points[i % 3 == 0 ? "m-2" : "m-1"] -= 2;
    events.push_back(e);
    valid.push_back(true);
  }
  std::vector<size_t> order(events.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::mt19937 shuffle(42);
  std::shuffle(order.begin(), order.end(), shuffle);

  auto ctx = As(kTerminal1);
  v1::BacklogResult result;
  auto writer = pos_->UploadBacklog(ctx.get(), &result);
  for (size_t i : order) ASSERT_TRUE(writer->Write(events[i]));
  writer->WritesDone();
  grpc::Status s = writer->Finish();
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_EQ(result.results_size(), static_cast<int>(events.size()));
  uint32_t expected_accepted = 0;
  for (size_t k = 0; k < order.size(); ++k) {
    const auto& r = result.results(static_cast<int>(k));
    EXPECT_EQ(r.index(), k);
    if (valid[order[k]]) {
      ++expected_accepted;
      EXPECT_EQ(r.code(), 0) << r.message();
    } else {
      EXPECT_EQ(r.code(), static_cast<int>(grpc::StatusCode::INVALID_ARGUMENT));
      EXPECT_EQ(r.message(), "sale.lines[0].quantity: must be between 1 and 9999, got 0");
    }
  }
  EXPECT_EQ(result.accepted(), expected_accepted);
  EXPECT_EQ(result.rejected(), events.size() - expected_accepted);
  EXPECT_EQ(Balance("m-1"), expected_points["m-1"]);
  EXPECT_EQ(Balance("m-2"), expected_points["m-2"]);

  // In the event log (sequence order), each member's sales are in time
  // order, then its returns in time order.
  std::map<std::string, int64_t> last_sale_at, last_return_at;
  std::map<std::string, int> sales_seen, returns_seen;
  auto it = server_->store().NewCursor(storage::Cf::kEvents);
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    internal::EventRecord e;
    ASSERT_TRUE(e.ParseFromArray(it->value().data(), static_cast<int>(it->value().size())));
    if (e.has_sale()) {
      const int64_t at = e.sale().occurred_at().seconds();
      EXPECT_EQ(returns_seen[e.member_id()], 0) << "a sale after a return of " << e.member_id();
      EXPECT_GE(at, last_sale_at[e.member_id()]) << e.sale().ref().transaction_id();
      last_sale_at[e.member_id()] = at;
      ++sales_seen[e.member_id()];
    } else if (e.has_return_()) {
      const int64_t at = e.return_().occurred_at().seconds();
      EXPECT_GE(at, last_return_at[e.member_id()]) << e.return_().ref().transaction_id();
      last_return_at[e.member_id()] = at;
      ++returns_seen[e.member_id()];
    }
  }
  EXPECT_EQ(sales_seen["m-1"] + sales_seen["m-2"], static_cast<int>(expected_accepted) - returns_seen["m-1"] -
                                                       returns_seen["m-2"]);
  EXPECT_GT(returns_seen["m-1"], 0);
  EXPECT_GT(returns_seen["m-2"], 0);
}

// Every authentication and authorisation rule, through the real transport.
TEST_F(PosServerTest, AuthRules) {
  v1::EventOutcome out;
  v1::Sale sale = MakeSale("tx-1", "m-1", {{1, 100}});
  EXPECT_EQ(Sale(sale, &out, "").error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(Sale(sale, &out, "wrong-token").error_code(), grpc::StatusCode::UNAUTHENTICATED);
  grpc::Status other_store = Sale(sale, &out, kTerminal2);
  EXPECT_EQ(other_store.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(other_store.error_message(),
            "this terminal credential is bound to store 'store-2' and may not record for store 'store-1'");
  EXPECT_EQ(Sale(sale, &out, kMember1).error_code(), grpc::StatusCode::PERMISSION_DENIED);

  v1::GetMemberRequest own, other;
  own.set_member_id("m-1");
  other.set_member_id("m-2");
  v1::MemberView view;
  EXPECT_TRUE(member_->GetMember(As(kMember1).get(), own, &view).ok());
  EXPECT_EQ(member_->GetMember(As(kMember1).get(), other, &view).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(member_->GetMember(As(kTerminal1).get(), own, &view).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(member_->GetMember(As("").get(), own, &view).error_code(), grpc::StatusCode::UNAUTHENTICATED);

  v1::EnrollMemberRequest enroll;
  enroll.set_member_id("m-3");
  v1::EnrollMemberResponse enrolled;
  EXPECT_EQ(admin_->EnrollMember(As(kTerminal1).get(), enroll, &enrolled).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(admin_->EnrollMember(As(kMember1).get(), enroll, &enrolled).error_code(), grpc::StatusCode::PERMISSION_DENIED);

  v1::LookupMemberRequest lookup;
  lookup.mutable_member()->set_card_number("4000000000000002");
  v1::MemberSummary summary;
  ASSERT_TRUE(pos_->LookupMember(As(kTerminal2).get(), lookup, &summary).ok());
  EXPECT_EQ(summary.member_id(), "m-2");
  EXPECT_EQ(pos_->LookupMember(As(kMember1).get(), lookup, &summary).error_code(), grpc::StatusCode::PERMISSION_DENIED);

  // Nothing above recorded anything.
  EXPECT_EQ(Balance("m-1"), 0);
}

// Many concurrent sales for one member from many threads: each applied once,
// in its own order, and the balance equals the ledger.
TEST_F(PosServerTest, ConcurrentSalesForOneMemberAllCount) {
  constexpr int kThreads = 8, kPerThread = 25;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        v1::EventOutcome out;
        const std::string id = "c-" + std::to_string(t) + "-" + std::to_string(i);
        if (!Sale(MakeSale(id, i % 2 ? "m-1" : "m-2", {{1, 300}}), &out).ok()) ++failures;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(Balance("m-1") + Balance("m-2"), kThreads * kPerThread * 3);
  v1::VerifyLedgerResponse verify;
  ASSERT_TRUE(admin_->VerifyLedger(As(kAdmin).get(), {}, &verify).ok());
  EXPECT_EQ(verify.members_checked(), 2u);
  EXPECT_EQ(verify.mismatches(), 0u);
  EXPECT_EQ(verify.ledger_entries(), static_cast<uint64_t>(kThreads * kPerThread));
}

// History pages newest first, each entry naming the sale that caused it.
TEST_F(PosServerTest, HistoryPagesNewestFirst) {
  v1::EventOutcome out;
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(Sale(MakeSale("h-" + std::to_string(i), "m-1", {{1, 100 * (i + 1)}}), &out).ok());
  }
  v1::ListHistoryRequest req;
  req.set_member_id("m-1");
  req.set_page_size(3);
  v1::ListHistoryResponse page1, page2;
  ASSERT_TRUE(member_->ListHistory(As(kMember1).get(), req, &page1).ok());
  ASSERT_EQ(page1.entries_size(), 3);
  EXPECT_EQ(page1.entries(0).cause().transaction_id(), "h-4");
  EXPECT_EQ(page1.entries(0).points(), 5);
  req.set_page_token(page1.next_page_token());
  ASSERT_TRUE(member_->ListHistory(As(kMember1).get(), req, &page2).ok());
  ASSERT_EQ(page2.entries_size(), 2);
  EXPECT_EQ(page2.entries(1).cause().transaction_id(), "h-0");
  EXPECT_TRUE(page2.next_page_token().empty());
}

}  // namespace
}  // namespace loyalty

namespace loyalty {
namespace {

// A checkpoint taken through the admin API is a backup a second server can
// start from, with the same balances.
TEST_F(PosServerTest, CheckpointRestoresIntoAnotherServer) {
  v1::EventOutcome out;
  ASSERT_TRUE(Sale(MakeSale("tx-1", "m-1", {{3, 1000}}), &out).ok());
  v1::CreateCheckpointRequest req;
  req.set_name("backup-1");
  v1::CreateCheckpointResponse resp;
  ASSERT_TRUE(admin_->CreateCheckpoint(As(kAdmin).get(), req, &resp).ok());
  EXPECT_GE(resp.last_event_seq(), out.event_seq());
  EXPECT_EQ(resp.dir(), dir_.Sub("db") + "-checkpoints/backup-1") << "beside the data folder by default";
  v1::CreateCheckpointResponse again;
  grpc::Status s = admin_->CreateCheckpoint(As(kAdmin).get(), req, &again);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_EQ(s.error_message(), "name: a checkpoint named backup-1 exists");
  // The caller names a folder, never a place: paths and escapes are refused
  // and nothing is written.
  for (const std::string name : std::vector<std::string>{"/tmp/elsewhere", "../escape", "..", "a/b", "", ".hidden", std::string(65, 'x')}) {
    req.set_name(name);
    s = admin_->CreateCheckpoint(As(kAdmin).get(), req, &again);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << name;
    EXPECT_EQ(s.error_message().rfind("name: must be 1 to 64 characters", 0), 0u) << s.error_message();
  }
  EXPECT_FALSE(std::filesystem::exists(dir_.Sub("db") + "-checkpoints/../escape"));
  EXPECT_FALSE(std::filesystem::exists("/tmp/elsewhere"));

  internal::ServerConfig config;
  config.set_grpc_listen("127.0.0.1:0");
  config.set_data_dir(resp.dir());
  server::ApplyDefaults(config);
  auto restored = server::LoyaltyServer::Start(config, clock_);
  ASSERT_TRUE(restored.ok()) << restored.status();
  EXPECT_EQ(ReadMember((*restored)->store(), "m-1")->ledger_total_points(), 30);
}

}  // namespace
}  // namespace loyalty

namespace loyalty {
namespace {

// Back-pressure through the real server: with the member lanes at
// lane_queue_limit, a sale and a backlog are refused at once (UNAVAILABLE,
// with RetryInfo and the limit's name) and change nothing; once the lanes
// drain, the same sale is recorded as new (not a replay).
class BackPressureTest : public PosServerTest {
 protected:
  void Configure(internal::ServerConfig& config) const override { config.set_lane_queue_limit(2); }
};

TEST_F(BackPressureTest, FullLanesRefuseWritesAtOnceAndChangeNothing) {
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::promise<void> started;
  Lanes& lanes = server_->lanes();
  lanes.Post("blocker", [released, &started] { started.set_value(); released.wait(); });
  started.get_future().wait();
  lanes.Post("blocker", [] {});  // queued behind the blocker: 2 waiting
  lanes.Post("blocker", [] {});
  ASSERT_EQ(lanes.queued_tasks(), 2u);

  v1::Sale sale = MakeSale("tx-busy", "m-1", {{1, 1000}});
  v1::EventOutcome out;
  grpc::Status s = Sale(sale, &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(s.error_message(), "server busy: 2 events wait in the member lanes (lane_queue_limit 2); retry shortly");
  EXPECT_NE(s.error_details().find("RetryInfo"), std::string::npos) << "a retry hint travels with it";
  {
    auto ctx = As(kTerminal1);
    v1::BacklogResult result;
    auto stream = pos_->UploadBacklog(ctx.get(), &result);
    v1::BacklogEvent event;
    *event.mutable_sale() = MakeSale("tx-busy-backlog", "m-1", {{1, 500}});
    ASSERT_TRUE(stream->Write(event));
    stream->WritesDone();
    s = stream->Finish();
    EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
  }
  EXPECT_EQ(Balance("m-1"), 0) << "nothing recorded";

  release.set_value();
  while (lanes.queued_tasks() != 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  bool replayed = true;
  s = Sale(sale, &out, kTerminal1, &replayed);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_FALSE(replayed) << "the refused sale was not recorded";
  EXPECT_EQ(Balance("m-1"), 10);
}

}  // namespace
}  // namespace loyalty
