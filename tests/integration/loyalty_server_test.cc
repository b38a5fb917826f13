// Integration tests of the member and admin APIs through a real gRPC channel:
// program configuration (validation, versions, audit, dry run), tiers and
// stages as members see them, expiry, adjustments and their authorisation.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cerrno>
#include "tests/support/server_fixture.h"

namespace loyalty {
namespace {

using loyalty::testing::kNow;
using loyalty::testing::MakeReturn;
using loyalty::testing::MakeSale;
using loyalty::testing::Ref;

class LoyaltyServerTest : public loyalty::testing::ServerFixture {
 protected:
  engine::ProgramConfig Program() const override {
    engine::ProgramConfig program = engine::DefaultProgram();
    program.pending_days = 14;
    program.expiry_days = 90;
    return program;
  }

  void SetUp() override {
    ServerFixture::SetUp();
    Enroll("m-1", "", kNow - 400 * engine::kDay);
    Enroll("m-2", "", kNow - 400 * engine::kDay);
  }

  v1::EventOutcome Sale(const std::string& txn, const std::string& member, int64_t amount_minor,
                        int64_t at = kNow) {
    v1::RecordSaleRequest req;
    *req.mutable_sale() = MakeSale(txn, member, {{1, amount_minor}}, at);
    v1::EventOutcome out;
    grpc::Status s = pos_->RecordSale(As("terminal").get(), req, &out);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return out;
  }

  v1::Program Published() {
    v1::Program p;
    EXPECT_TRUE(admin_->GetProgram(As("admin").get(), {}, &p).ok());
    return p;
  }
};

// A member sees pending and available points, tier progress and the next
// step on the ladder, in words.
TEST_F(LoyaltyServerTest, MemberSeesBalanceTierAndStage) {
  Sale("s-1", "m-1", 460'00);
  v1::MemberView view = View("m-1", "member");
  EXPECT_EQ(view.balance().pending_points(), 460);
  EXPECT_EQ(view.balance().available_points(), 0);
  EXPECT_EQ(view.tier().current_tier(), "Bronze");
  EXPECT_EQ(view.tier().next_tier(), "Silver");
  EXPECT_EQ(view.tier().spend_needed_minor(), 40'00);
  EXPECT_EQ(view.tier().message(), "Spend 40.00 EUR or visit 11 more times by 2027-10-31 to reach Silver.");
  EXPECT_EQ(view.stage().current_stage(), "new");
  EXPECT_EQ(view.stage().next_step(), "Visit 1 more time to become occasional.");
  clock_.AdvanceSeconds(14 * engine::kDay);
  view = View("m-1");
  EXPECT_EQ(view.balance().available_points(), 460);
  EXPECT_EQ(view.balance().pending_points(), 0);
  // Crossing the threshold upgrades at once; the next sale earns x1.25.
  Sale("s-2", "m-1", 40'00, clock_.NowUnixSeconds());
  EXPECT_EQ(View("m-1").tier().current_tier(), "Silver");
  EXPECT_EQ(Sale("s-3", "m-1", 100'00, clock_.NowUnixSeconds()).points_earned(), 125);
  EXPECT_EQ(View("m-1").stage().current_stage(), "occasional");
}

// A return takes back the tier credit; the member keeps the tier for the
// grace period and is told what keeps it.
TEST_F(LoyaltyServerTest, ReturnTakesBackTierCreditWithGrace) {
  Sale("s-1", "m-1", 600'00);
  EXPECT_EQ(View("m-1").tier().current_tier(), "Silver");
  v1::RecordReturnRequest ret;
  *ret.mutable_return_() = MakeReturn("r-1", Ref("s-1"), {{0, 1}});
  v1::EventOutcome out;
  ASSERT_TRUE(pos_->RecordReturn(As("terminal").get(), ret, &out).ok());
  EXPECT_EQ(out.points_reversed(), 600);
  v1::MemberView view = View("m-1");
  EXPECT_EQ(view.tier().current_tier(), "Silver");
  EXPECT_EQ(view.tier().message(), "Spend 500.00 EUR or visit 11 more times by 2026-12-01 to keep Silver.");
  clock_.AdvanceSeconds(31 * engine::kDay);
  EXPECT_EQ(View("m-1").tier().current_tier(), "Bronze");
}

// Publishing validates with the field and reason, versions every change,
// refuses a stale expected_version, and audits author and time.
TEST_F(LoyaltyServerTest, ProgramUpdatesAreValidatedVersionedAndAudited) {
  v1::Program p = Published();
  EXPECT_EQ(p.version(), 1u);
  v1::UpdateProgramRequest update;
  *update.mutable_program() = p;
  update.mutable_program()->mutable_tiers(2)->set_min_spend_minor(100'00);
  update.set_expected_version(1);
  v1::Program published;
  grpc::Status bad = admin_->UpdateProgram(As("admin").get(), update, &published);
  EXPECT_EQ(bad.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(bad.error_message(), "program.tiers[2].min_spend_minor: must be above tiers[1]'s 50000, got 10000");

  *update.mutable_program() = p;
  update.mutable_program()->set_points_per_major_unit(2);
  ASSERT_TRUE(admin_->UpdateProgram(As("admin").get(), update, &published).ok());
  EXPECT_EQ(published.version(), 2u);
  EXPECT_EQ(Published().points_per_major_unit(), 2);
  EXPECT_EQ(admin_->UpdateProgram(As("admin").get(), update, &published).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);  // version 1 is stale now
  EXPECT_EQ(Sale("s-1", "m-1", 10'00).points_earned(), 20);

  v1::ListAuditRequest audit_request;
  v1::ListAuditResponse audit;
  ASSERT_TRUE(admin_->ListAudit(As("admin").get(), audit_request, &audit).ok());
  ASSERT_EQ(audit.entries_size(), 2);
  EXPECT_EQ(audit.entries(0).version(), 2u);
  EXPECT_EQ(audit.entries(0).author(), "admin");
  EXPECT_EQ(audit.entries(0).at().seconds(), kNow);
  EXPECT_EQ(audit.entries(0).program().points_per_major_unit(), 2);
  EXPECT_EQ(admin_->UpdateProgram(As("terminal").get(), update, &published).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
}

// GetProgram and UpdateProgram say who published the current version and
// when (they came back unset, only ListAudit had them).
TEST_F(LoyaltyServerTest, ProgramSaysWhoPublishedItAndWhen) {
  v1::Program initial = Published();
  EXPECT_EQ(initial.published_by(), "loyaltyd");
  EXPECT_EQ(initial.published_at().seconds(), kNow);
  clock_.AdvanceSeconds(60);
  v1::UpdateProgramRequest update;
  *update.mutable_program() = initial;
  update.mutable_program()->set_points_per_major_unit(3);
  update.set_expected_version(1);
  v1::Program published;
  ASSERT_TRUE(admin_->UpdateProgram(As("admin").get(), update, &published).ok());
  EXPECT_EQ(published.published_by(), "admin");
  EXPECT_EQ(published.published_at().seconds(), kNow + 60);
  const v1::Program read = Published();
  EXPECT_EQ(read.version(), 2u);
  EXPECT_EQ(read.published_by(), "admin");
  EXPECT_EQ(read.published_at().seconds(), kNow + 60);
}

// A dry run replays history under the proposal and reports changes without
// publishing anything.
TEST_F(LoyaltyServerTest, DryRunReportsWithoutPublishing) {
  Sale("s-1", "m-1", 300'00);
  Sale("s-2", "m-2", 100'00);
  v1::UpdateProgramRequest proposal;
  *proposal.mutable_program() = Published();
  proposal.mutable_program()->mutable_tiers(1)->set_min_spend_minor(250'00);  // m-1 would be Silver
  proposal.mutable_program()->set_points_per_major_unit(3);
  v1::DryRunReport report;
  ASSERT_TRUE(admin_->DryRunProgram(As("admin").get(), proposal, &report).ok());
  EXPECT_EQ(report.members(), 2u);
  EXPECT_EQ(report.members_changing_tier(), 1u);
  EXPECT_EQ(report.liability_points_before(), 400);
  EXPECT_EQ(report.liability_points_after(), 1200);
  EXPECT_EQ(report.members_per_tier_after().at("Silver"), 1u);
  // Counts per move, with who moves.
  ASSERT_EQ(report.tier_moves_size(), 1);
  EXPECT_EQ(report.tier_moves(0).from_name(), "Bronze");
  EXPECT_EQ(report.tier_moves(0).to_name(), "Silver");
  EXPECT_EQ(report.tier_moves(0).members(), 1u);
  ASSERT_EQ(report.tier_moves(0).sample_member_ids_size(), 1);
  EXPECT_EQ(report.tier_moves(0).sample_member_ids(0), "m-1");
  uint64_t stage_movers = 0;
  for (const auto& move : report.stage_moves()) stage_movers += move.members();
  EXPECT_EQ(stage_movers, report.members_changing_stage());
  EXPECT_EQ(Published().version(), 1u);
  proposal.mutable_program()->mutable_tiers(1)->set_earn_multiplier_pct(5000);
  EXPECT_EQ(admin_->DryRunProgram(As("admin").get(), proposal, &report).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

// Expiry runs on demand, is idempotent, and writes EXPIRE ledger entries.
TEST_F(LoyaltyServerTest, ExpiryOnDemandIsIdempotent) {
  Sale("s-1", "m-1", 50'00);
  clock_.AdvanceSeconds(91 * engine::kDay);
  v1::RunExpiryResponse first, second;
  ASSERT_TRUE(admin_->RunExpiry(As("admin").get(), {}, &first).ok());
  EXPECT_EQ(first.members_checked(), 2u);
  EXPECT_EQ(first.points_expired(), 50);
  ASSERT_TRUE(admin_->RunExpiry(As("admin").get(), {}, &second).ok());
  EXPECT_EQ(second.points_expired(), 0);
  EXPECT_EQ(View("m-1").balance().available_points(), 0);
  v1::ListHistoryRequest h;
  h.set_member_id("m-1");
  v1::ListHistoryResponse history;
  ASSERT_TRUE(member_->ListHistory(As("member").get(), h, &history).ok());
  ASSERT_EQ(history.entries_size(), 2);
  EXPECT_EQ(history.entries(0).kind(), v1::LEDGER_ENTRY_KIND_EXPIRE);
  EXPECT_EQ(history.entries(0).points(), -50);
  EXPECT_EQ(admin_->RunExpiry(As("member").get(), {}, &first).error_code(), grpc::StatusCode::PERMISSION_DENIED);
}

// Manual adjustments need a reason, are idempotent by request id, and are
// recorded with their author.
TEST_F(LoyaltyServerTest, AdjustmentsAreAuditedAndIdempotent) {
  v1::AdjustPointsRequest adj;
  adj.set_member_id("m-2");
  adj.set_points(75);
  adj.set_request_id("goodwill-1");
  v1::AdjustPointsResponse out;
  grpc::Status no_reason = admin_->AdjustPoints(As("admin").get(), adj, &out);
  EXPECT_EQ(no_reason.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(no_reason.error_message(), "reason: is required, at most 256 bytes");
  adj.set_reason("late delivery");
  ASSERT_TRUE(admin_->AdjustPoints(As("admin").get(), adj, &out).ok());
  EXPECT_EQ(out.entry().author(), "admin");
  EXPECT_EQ(out.entry().reason(), "late delivery");
  EXPECT_EQ(out.balance().available_points(), 75);
  ASSERT_TRUE(admin_->AdjustPoints(As("admin").get(), adj, &out).ok());
  EXPECT_EQ(out.balance().available_points(), 75);  // replayed, not applied twice
  adj.set_points(80);
  EXPECT_EQ(admin_->AdjustPoints(As("admin").get(), adj, &out).error_code(), grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_EQ(admin_->AdjustPoints(As("terminal").get(), adj, &out).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
}

// Figures count members per tier and stage, movements per week and the
// points liability; VerifyLedger with replay finds the state rebuildable.
TEST_F(LoyaltyServerTest, FiguresAndRebuild) {
  Sale("s-1", "m-1", 600'00);
  Sale("s-2", "m-1", 10'00, kNow + 60);
  v1::ProgramFigures figures;
  ASSERT_TRUE(admin_->GetFigures(As("admin").get(), {}, &figures).ok());
  EXPECT_EQ(figures.members(), 2u);
  EXPECT_EQ(figures.members_per_tier().at("Silver"), 1u);
  EXPECT_EQ(figures.members_per_tier().at("Bronze"), 1u);
  EXPECT_EQ(figures.members_per_stage().at("occasional"), 1u);
  EXPECT_EQ(figures.liability_points(), 600 + 12);
  ASSERT_EQ(figures.stage_movements_size(), 1);
  EXPECT_EQ(figures.stage_movements(0).from_stage(), "new");
  EXPECT_EQ(figures.stage_movements(0).to_stage(), "occasional");
  EXPECT_EQ(figures.stage_movements(0).week_start(), "2026-10-26");
  v1::VerifyLedgerRequest verify;
  verify.set_replay_events(true);
  v1::VerifyLedgerResponse result;
  ASSERT_TRUE(admin_->VerifyLedger(As("admin").get(), verify, &result).ok());
  EXPECT_EQ(result.mismatches(), 0u);
  EXPECT_EQ(result.replay_mismatches(), 0u);
  EXPECT_EQ(result.events_replayed(), 4u);
}

// A receipt bought without the card can be claimed once, by one member, with
// the right total; it then earns, and later returns take back from the member.
TEST_F(LoyaltyServerTest, ClaimReceiptOnce) {
  v1::RecordSaleRequest anonymous;
  *anonymous.mutable_sale() = MakeSale("anon-1", "", {{2, 20'00}});
  v1::EventOutcome recorded;
  ASSERT_TRUE(pos_->RecordSale(As("terminal").get(), anonymous, &recorded).ok());
  EXPECT_EQ(recorded.points_earned(), 0);

  EXPECT_EQ(recorded.receipt_code().size(), 12u) << "an anonymous sale's receipt carries a code";
  v1::ClaimReceiptRequest claim;
  claim.set_member_id("m-1");
  *claim.mutable_sale() = Ref("anon-1");
  claim.set_total_minor(39'99);
  claim.set_receipt_code(recorded.receipt_code());
  v1::ClaimReceiptResponse claimed;
  grpc::Status wrong_total = member_->ClaimReceipt(As("member").get(), claim, &claimed);
  EXPECT_EQ(wrong_total.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(wrong_total.error_message(), "sale: no receipt with this reference, receipt_code and total_minor");
  claim.set_total_minor(40'00);
  ASSERT_TRUE(member_->ClaimReceipt(As("member").get(), claim, &claimed).ok());
  EXPECT_EQ(claimed.points_earned(), 40);
  EXPECT_EQ(claimed.balance().pending_points(), 40);
  ASSERT_TRUE(member_->ClaimReceipt(As("member").get(), claim, &claimed).ok());  // retry: same answer
  EXPECT_EQ(claimed.points_earned(), 40);
  EXPECT_EQ(View("m-1").balance().pending_points(), 40);

  claim.set_member_id("m-2");
  EXPECT_EQ(member_->ClaimReceipt(As("member").get(), claim, &claimed).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);  // a member claims only for itself
  EXPECT_EQ(member_->ClaimReceipt(As("admin").get(), claim, &claimed).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);  // already m-1's

  v1::RecordReturnRequest ret;
  *ret.mutable_return_() = MakeReturn("r-1", Ref("anon-1"), {{0, 1}});
  v1::EventOutcome returned;
  ASSERT_TRUE(pos_->RecordReturn(As("terminal").get(), ret, &returned).ok());
  EXPECT_EQ(returned.member_id(), "m-1");
  EXPECT_EQ(returned.points_reversed(), 20);

  ExpectLedgerAndReplayAgree();

  // Too old to claim.
  *anonymous.mutable_sale() = MakeSale("anon-2", "", {{1, 5'00}}, kNow - 31 * engine::kDay);
  ASSERT_TRUE(pos_->RecordSale(As("terminal").get(), anonymous, &recorded).ok());
  claim.set_member_id("m-1");
  *claim.mutable_sale() = Ref("anon-2");
  claim.set_total_minor(5'00);
  claim.set_receipt_code(recorded.receipt_code());
  grpc::Status old = member_->ClaimReceipt(As("member").get(), claim, &claimed);
  EXPECT_EQ(old.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(old.error_message(), "sale: receipts can be claimed within 30 days");
}

// Guessing a receipt fails: the claim needs the receipt's code, a wrong
// reference and a wrong code answer alike, and after 5 failures a member's
// claims are refused for a while (finding: 4,322 guesses of the total in
// 1.6 s claimed another buyer's receipt).
TEST_F(LoyaltyServerTest, ReceiptClaimsCannotBeGuessed) {
  v1::RecordSaleRequest anonymous;
  *anonymous.mutable_sale() = MakeSale("anon-g", "", {{1, 12'00}});
  v1::EventOutcome recorded;
  ASSERT_TRUE(pos_->RecordSale(As("terminal").get(), anonymous, &recorded).ok());
  v1::ClaimReceiptRequest claim;
  claim.set_member_id("m-1");
  *claim.mutable_sale() = Ref("anon-g");
  claim.set_total_minor(12'00);  // the total is known: it is not the proof
  v1::ClaimReceiptResponse claimed;
  claim.set_receipt_code("");
  EXPECT_EQ(member_->ClaimReceipt(As("member").get(), claim, &claimed).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  for (int guess = 0; guess < 5; ++guess) {
    claim.set_receipt_code("GUESS" + std::to_string(1000000 + guess));
    grpc::Status s = member_->ClaimReceipt(As("member").get(), claim, &claimed);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND) << s.error_message();
    EXPECT_EQ(s.error_message(), "sale: no receipt with this reference, receipt_code and total_minor");
  }
  claim.set_receipt_code(recorded.receipt_code());
  grpc::Status limited = member_->ClaimReceipt(As("member").get(), claim, &claimed);
  EXPECT_EQ(limited.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << "even the right code, once limited";
  EXPECT_NE(limited.error_message().find("receipt claims: 5 failed attempts within 600 s; try again in"),
            std::string::npos) << limited.error_message();
  EXPECT_EQ(View("m-1").balance().pending_points() + View("m-1").balance().available_points(), 0);

  // Another member is not limited by m-1's failures; a wrong reference
  // answers as a wrong code does.
  claim.set_member_id("m-2");
  *claim.mutable_sale() = Ref("no-such-sale");
  grpc::Status unknown = member_->ClaimReceipt(As("admin").get(), claim, &claimed);
  EXPECT_EQ(unknown.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(unknown.error_message(), "sale: no receipt with this reference, receipt_code and total_minor");

  clock_.AdvanceSeconds(601);
  claim.set_member_id("m-1");
  *claim.mutable_sale() = Ref("anon-g");
  ASSERT_TRUE(member_->ClaimReceipt(As("member").get(), claim, &claimed).ok()) << "the window passed";
  EXPECT_EQ(claimed.points_earned(), 12);
}

// Every admin operation refuses terminal and member credentials, and every
// call refuses a missing token.
TEST_F(LoyaltyServerTest, AdminOperationsNeedAnAdmin) {
  for (const std::string token : {"terminal", "member", ""}) {
    const auto expected = token.empty() ? grpc::StatusCode::UNAUTHENTICATED : grpc::StatusCode::PERMISSION_DENIED;
    auto ctx = [&] {
      auto c = std::make_unique<grpc::ClientContext>();
      if (!token.empty()) c->AddMetadata("authorization", "Bearer " + token);
      return c;
    };
    v1::Program program;
    EXPECT_EQ(admin_->GetProgram(ctx().get(), {}, &program).error_code(), expected) << token;
    v1::UpdateProgramRequest update;
    EXPECT_EQ(admin_->UpdateProgram(ctx().get(), update, &program).error_code(), expected) << token;
    v1::DryRunReport report;
    EXPECT_EQ(admin_->DryRunProgram(ctx().get(), update, &report).error_code(), expected) << token;
    v1::ListAuditResponse audit;
    EXPECT_EQ(admin_->ListAudit(ctx().get(), {}, &audit).error_code(), expected) << token;
    v1::ProgramFigures figures;
    EXPECT_EQ(admin_->GetFigures(ctx().get(), {}, &figures).error_code(), expected) << token;
    v1::VerifyLedgerResponse verify;
    EXPECT_EQ(admin_->VerifyLedger(ctx().get(), {}, &verify).error_code(), expected) << token;
    v1::RunExpiryResponse expiry;
    EXPECT_EQ(admin_->RunExpiry(ctx().get(), {}, &expiry).error_code(), expected) << token;
    v1::CreateCheckpointRequest checkpoint;
    checkpoint.set_name("cp-" + token);
    v1::CreateCheckpointResponse checkpointed;
    EXPECT_EQ(admin_->CreateCheckpoint(ctx().get(), checkpoint, &checkpointed).error_code(), expected) << token;
    v1::EnrollMemberRequest enroll;
    enroll.set_member_id("m-9");
    v1::EnrollMemberResponse enrolled;
    EXPECT_EQ(admin_->EnrollMember(ctx().get(), enroll, &enrolled).error_code(), expected) << token;
  }
}

// A live watch sends the member's view at once and again after each event;
// a member cannot watch another member.
TEST_F(LoyaltyServerTest, WatchMemberStreamsUpdates) {
  v1::WatchMemberRequest req;
  req.set_member_id("m-1");
  auto ctx = As("member");
  auto reader = member_->WatchMember(ctx.get(), req);
  v1::MemberView view;
  ASSERT_TRUE(reader->Read(&view));
  EXPECT_EQ(view.balance().pending_points(), 0);
  Sale("s-1", "m-1", 25'00);
  ASSERT_TRUE(reader->Read(&view));
  EXPECT_EQ(view.balance().pending_points(), 25);
  v1::AdjustPointsRequest adj;
  adj.set_member_id("m-1");
  adj.set_points(5);
  adj.set_reason("welcome");
  adj.set_request_id("w-1");
  v1::AdjustPointsResponse adjusted;
  ASSERT_TRUE(admin_->AdjustPoints(As("admin").get(), adj, &adjusted).ok());
  ASSERT_TRUE(reader->Read(&view));
  EXPECT_EQ(view.balance().available_points(), 5);
  ctx->TryCancel();
  while (reader->Read(&view)) {
  }
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);

  req.set_member_id("m-2");
  auto other_ctx = As("member");
  auto other = member_->WatchMember(other_ctx.get(), req);
  EXPECT_FALSE(other->Read(&view));
  EXPECT_EQ(other->Finish().error_code(), grpc::StatusCode::PERMISSION_DENIED);
}

// Impossible times and dates are refused, each naming its field, and change
// nothing: an enrolment in the year 292,277,026,596, a birthday on 31
// February, a basket evaluated at any time at all, a program with an offer
// kind this server does not know or a promotion dated before 2000.
TEST_F(LoyaltyServerTest, ImpossibleTimesAndDatesAreRefusedNamingTheField) {
  const auto refused = [](const grpc::Status& s, const std::string& start) {
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
    EXPECT_EQ(s.error_message().rfind(start, 0), 0u) << s.error_message();
  };
  v1::EnrollMemberRequest enroll;
  enroll.set_member_id("m-far");
  enroll.mutable_enrolled_at()->set_seconds(9'223'372'036'854'775'000LL);
  v1::EnrollMemberResponse enrolled;
  refused(admin_->EnrollMember(As(loyalty::testing::kAdmin).get(), enroll, &enrolled), "enrolled_at: must be between 2000-01-01");
  enroll.mutable_enrolled_at()->set_seconds(kNow + 86400);
  refused(admin_->EnrollMember(As(loyalty::testing::kAdmin).get(), enroll, &enrolled), "enrolled_at: is 86400 s in the future");
  enroll.clear_enrolled_at();
  enroll.set_birthday("02-31");
  refused(admin_->EnrollMember(As(loyalty::testing::kAdmin).get(), enroll, &enrolled),
          "birthday: day must be 01 to 29 in month 02, got 31");
  enroll.set_birthday("13-01");
  refused(admin_->EnrollMember(As(loyalty::testing::kAdmin).get(), enroll, &enrolled), "birthday: month must be 01 to 12");
  v1::GetMemberRequest get;
  get.set_member_id("m-far");
  v1::MemberView view;
  EXPECT_EQ(member_->GetMember(As(loyalty::testing::kAdmin).get(), get, &view).error_code(), grpc::StatusCode::NOT_FOUND)
      << "nothing was enrolled";
  enroll.set_birthday("02-29");
  EXPECT_TRUE(admin_->EnrollMember(As(loyalty::testing::kAdmin).get(), enroll, &enrolled).ok()) << "a leap day is a birthday";

  v1::EvaluateBasketRequest basket;
  basket.set_store_id("store-1");
  basket.mutable_member()->set_member_id("m-1");
  basket.set_currency("EUR");
  auto* line = basket.add_lines();
  line->set_sku("sku-1");
  line->set_category("bakery");
  line->set_quantity(1);
  line->set_unit_price_minor(500);
  basket.mutable_at()->set_seconds(-62'000'000'000LL);
  v1::BasketEvaluation evaluation;
  refused(pos_->EvaluateBasket(As(loyalty::testing::kTerminal).get(), basket, &evaluation), "at: is more than 400 days in the past");
  basket.mutable_at()->set_seconds(kNow);
  basket.mutable_at()->set_nanos(-1);
  refused(pos_->EvaluateBasket(As(loyalty::testing::kTerminal).get(), basket, &evaluation), "at: nanos must be between");
  basket.mutable_at()->set_nanos(0);
  EXPECT_TRUE(pos_->EvaluateBasket(As(loyalty::testing::kTerminal).get(), basket, &evaluation).ok());

  v1::Program program;
  ASSERT_TRUE(admin_->GetProgram(As(loyalty::testing::kAdmin).get(), v1::GetProgramRequest(), &program).ok());
  v1::UpdateProgramRequest update;
  update.set_expected_version(program.version());
  *update.mutable_program() = program;
  auto* offer = update.mutable_program()->add_offers();
  offer->set_id("mystery");
  offer->set_title("A kind from the future");
  offer->set_kind(static_cast<v1::OfferKind>(99));
  offer->set_bonus_points(10);
  v1::Program published;
  refused(admin_->UpdateProgram(As(loyalty::testing::kAdmin).get(), update, &published),
          "program.offers[" + std::to_string(program.offers_size()) + "].kind: must be one of");
  update.mutable_program()->mutable_offers()->RemoveLast();
  auto* promotion = update.mutable_program()->add_promotions();
  promotion->set_id("ancient");
  promotion->set_name("Before the program");
  promotion->mutable_starts_at()->set_seconds(-5);
  promotion->mutable_ends_at()->set_seconds(kNow);
  promotion->set_multiplier_pct(200);
  refused(admin_->UpdateProgram(As(loyalty::testing::kAdmin).get(), update, &published),
          "program.promotions[" + std::to_string(program.promotions_size()) + "].starts_at: must be between 2000-01-01");
  v1::Program after;
  ASSERT_TRUE(admin_->GetProgram(As(loyalty::testing::kAdmin).get(), v1::GetProgramRequest(), &after).ok());
  EXPECT_EQ(after.version(), program.version()) << "nothing was published";
}

// Connections that open and then say nothing (or only the HTTP/2 preface)
// are closed by the server, however many come; real calls go on.
class ConnectionLimitsTest : public loyalty::testing::ServerFixture {
 protected:
  void Configure(internal::ServerConfig& config) const override {
    config.set_grpc_max_connection_idle_ms(300);
    config.set_grpc_handshake_timeout_ms(500);
  }

  int Connect() const {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(server_->grpc_port()));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    timeval timeout{10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    return fd;
  }

  // Reads until the server closes the connection; false after 10 s.
  static bool ClosedByServer(int fd) {
    char buffer[4096];
    for (;;) {
      const ssize_t n = recv(fd, buffer, sizeof(buffer), 0);
      if (n == 0 || (n < 0 && errno == ECONNRESET)) return true;
      if (n < 0) return false;  // the timeout
    }
  }
};

TEST_F(ConnectionLimitsTest, IdleConnectionsAreClosedAndCallsGoOn) {
  static constexpr char kPreface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
  static constexpr unsigned char kEmptySettings[] = {0, 0, 0, 4, 0, 0, 0, 0, 0};
  Enroll("m-1");
  std::vector<int> silent, preface_only;
  for (int i = 0; i < 100; ++i) {
    silent.push_back(Connect());
    const int fd = Connect();
    ASSERT_EQ(send(fd, kPreface, sizeof(kPreface) - 1, 0), static_cast<ssize_t>(sizeof(kPreface) - 1));
    ASSERT_EQ(send(fd, kEmptySettings, sizeof(kEmptySettings), 0), static_cast<ssize_t>(sizeof(kEmptySettings)));
    preface_only.push_back(fd);
  }
  EXPECT_EQ(View("m-1").member_id(), "m-1") << "a real call is served beside them";
  const auto started = std::chrono::steady_clock::now();
  for (int fd : preface_only) EXPECT_TRUE(ClosedByServer(fd)) << "a connection with only the preface stays open";
  for (int fd : silent) EXPECT_TRUE(ClosedByServer(fd)) << "a silent connection stays open";
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(10));
  for (int fd : silent) close(fd);
  for (int fd : preface_only) close(fd);
  EXPECT_EQ(View("m-1").member_id(), "m-1") << "and after";
}

}  // namespace
}  // namespace loyalty
