// Integration tests of offers, rewards and redemption through the real
// server: evaluation agrees with recording, codes are used exactly once even
// when terminals race, the last points can be spent only once, voids give
// codes back, stock and budgets hold.
#include <random>
#include <thread>

#include "base/str_cat.h"
#include "storage/keys.h"
#include "tests/support/server_fixture.h"

namespace loyalty {
namespace {

using loyalty::testing::kNow;
using loyalty::testing::MakeSale;
using loyalty::testing::MakeVoid;
using loyalty::testing::Ref;

engine::ProgramConfig OffersProgram() {
  engine::ProgramConfig p = engine::DefaultProgram();
  engine::OfferTemplate bakery;
  bakery.id = "bakery-10";
  bakery.title = "10% off bakery";
  bakery.kind = engine::OfferKind::kPercentOff;
  bakery.percent_off = 10;
  bakery.categories = {"bakery"};
  engine::OfferTemplate bonus;
  bonus.id = "coffee-bonus";
  bonus.title = "20 bonus points with a coffee";
  bonus.kind = engine::OfferKind::kBonusPoints;
  bonus.bonus_points = 20;
  bonus.categories = {"coffee"};
  bonus.budget_redemptions = 1;  // the first sale only, across all members
  engine::OfferTemplate dairy;
  dairy.id = "dairy-1eur";
  dairy.title = "1.00 off dairy";
  dairy.kind = engine::OfferKind::kAmountOff;
  dairy.amount_off_minor = 100;
  dairy.categories = {"dairy"};
  p.offers = {bakery, bonus, dairy};
  p.rewards = {{"free-coffee", "Free coffee", 150, {"coffee"}, 400, 0, 30},
               {"mug", "Loyalty mug", 10, {}, 1000, 1, 30}};
  return p;
}

class OffersServerTest : public loyalty::testing::ServerFixture {
 protected:
  engine::ProgramConfig Program() const override { return OffersProgram(); }

  void SetUp() override {
    ServerFixture::SetUp();
    Enroll("m-1");
    Enroll("m-2");
  }

  void Give(const std::string& member, int64_t points, const std::string& id) {
    v1::AdjustPointsRequest adj;
    adj.set_member_id(member);
    adj.set_points(points);
    adj.set_reason("test");
    adj.set_request_id(id);
    v1::AdjustPointsResponse out;
    ASSERT_TRUE(admin_->AdjustPoints(As("admin").get(), adj, &out).ok());
  }

  static v1::RedeemRequest Redemption(const std::string& member, const std::string& reward,
                                      const std::string& request_id) {
    v1::RedeemRequest r;
    r.set_member_id(member);
    r.set_reward_id(reward);
    r.set_request_id(request_id);
    return r;
  }

  std::string RedeemCode(const std::string& member, const std::string& reward, const std::string& request_id) {
    const v1::RedeemRequest r = Redemption(member, reward, request_id);
    v1::RedeemResponse out;
    grpc::Status s = member_->Redeem(As("admin").get(), r, &out);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return out.code();
  }

  v1::EvaluateBasketRequest EvaluationOf(const v1::Sale& sale) {
    v1::EvaluateBasketRequest e;
    e.set_store_id(sale.ref().store_id());
    *e.mutable_member() = sale.member();
    e.set_currency(sale.currency());
    *e.mutable_lines() = sale.lines();
    *e.mutable_at() = sale.occurred_at();
    *e.mutable_redemption_codes() = sale.redemption_codes();
    return e;
  }

  grpc::Status Record(v1::Sale sale, v1::EventOutcome* out) {
    v1::RecordSaleRequest req;
    *req.mutable_sale() = std::move(sale);
    return pos_->RecordSale(As("terminal").get(), req, out);
  }

  int64_t Available(const std::string& member) { return View(member).balance().available_points(); }
};

// The member sees offers with reasons; the terminal's evaluation is exactly
// what recording then does; a stale total is refused.
TEST_F(OffersServerTest, EvaluationMatchesRecording) {
  v1::ListOffersRequest list;
  list.set_member_id("m-1");
  v1::ListOffersResponse offers;
  ASSERT_TRUE(member_->ListOffers(As("member").get(), list, &offers).ok());
  ASSERT_EQ(offers.offers_size(), 3);
  EXPECT_FALSE(offers.offers(0).reason().empty());

  v1::Sale sale = MakeSale("s-1", "m-1", {{2, 350, 0, "bakery"}, {1, 250, 0, "coffee"}, {1, 80, 0, "dairy"}});
  v1::BasketEvaluation eval;
  ASSERT_TRUE(pos_->EvaluateBasket(As("terminal").get(), EvaluationOf(sale), &eval).ok());
  EXPECT_EQ(eval.net_total_minor(), 1030);
  EXPECT_EQ(eval.discount_total_minor(), 70 + 80);  // 10% of 7.00 bakery; dairy 1.00 off capped at 0.80
  EXPECT_EQ(eval.bonus_points(), 20);
  EXPECT_EQ(eval.points_to_earn(), 6 + 2 + 0 + 20);

  v1::EventOutcome out;
  grpc::Status stale = Record(sale, &out);  // total without the discounts
  EXPECT_EQ(stale.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(stale.error_message(),
            "sale.total_minor: the loyalty discounts are 150, so the total to pay is 880, got 1030; evaluate the basket again");
  sale.set_total_minor(eval.total_to_pay_minor());
  ASSERT_TRUE(Record(sale, &out).ok());
  EXPECT_EQ(out.points_earned(), eval.points_to_earn());
  EXPECT_EQ(out.discount_total_minor(), eval.discount_total_minor());

  v1::ProgramFigures figures;
  ASSERT_TRUE(admin_->GetFigures(As("admin").get(), {}, &figures).ok());
  ASSERT_EQ(figures.offers_size(), 3);
  EXPECT_EQ(figures.offers(0).offer_id(), "bakery-10");
  EXPECT_EQ(figures.offers(0).shown(), 1u);
  EXPECT_EQ(figures.offers(0).used(), 1u);
  EXPECT_EQ(figures.offers(0).spend_minor(), 880);

  // A dry run of a program without offers replays this discounted sale too.
  v1::UpdateProgramRequest proposal;
  ASSERT_TRUE(admin_->GetProgram(As("admin").get(), {}, proposal.mutable_program()).ok());
  proposal.mutable_program()->clear_offers();
  v1::DryRunReport report;
  grpc::Status dry = admin_->DryRunProgram(As("admin").get(), proposal, &report);
  ASSERT_TRUE(dry.ok()) << dry.error_message();
  EXPECT_EQ(report.liability_points_before(), 28);
  EXPECT_EQ(report.liability_points_after(), 9);  // without discounts or bonus: 7 + 2 + 0

  // The bonus had a budget of one: the next evaluation no longer offers it.
  v1::Sale next = MakeSale("s-2", "m-2", {{1, 250, 0, "coffee"}});
  ASSERT_TRUE(pos_->EvaluateBasket(As("terminal").get(), EvaluationOf(next), &eval).ok());
  EXPECT_EQ(eval.bonus_points(), 0);
}

// Property: for random baskets and members, recording gives exactly the
// discounts and points the evaluation promised.
TEST_F(OffersServerTest, RandomBasketsEvaluateAsTheyRecord) {
  std::mt19937_64 rng(7);
  const char* categories[] = {"bakery", "coffee", "dairy", "wine"};
  for (int i = 0; i < 60; ++i) {
    std::vector<loyalty::testing::LineSpec> lines;
    for (int l = 0, n = 1 + static_cast<int>(rng() % 5); l < n; ++l) {
      lines.push_back({1 + static_cast<int32_t>(rng() % 4), 50 + static_cast<int64_t>(rng() % 2000), 0,
                       categories[rng() % 4]});
    }
    v1::Sale sale = MakeSale("p-" + std::to_string(i), rng() % 2 ? "m-1" : "m-2", lines);
    v1::BasketEvaluation eval;
    ASSERT_TRUE(pos_->EvaluateBasket(As("terminal").get(), EvaluationOf(sale), &eval).ok());
    sale.set_total_minor(eval.total_to_pay_minor());
    v1::EventOutcome out;
    grpc::Status s = Record(sale, &out);
    ASSERT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(out.points_earned(), eval.points_to_earn()) << i;
    EXPECT_EQ(out.discount_total_minor(), eval.discount_total_minor()) << i;
    EXPECT_EQ(out.applied_offer_ids_size(), eval.applicable_offer_ids_size()) << i;
    clock_.AdvanceSeconds(3600);
  }
}

// Many terminals race to use the same code: exactly one sale succeeds, the
// others get FAILED_PRECONDITION; a void gives the code back.
TEST_F(OffersServerTest, CodeUsedExactlyOnceUnderRace) {
  Give("m-1", 150, "g-1");
  const std::string code = RedeemCode("m-1", "free-coffee", "r-1");
  ASSERT_EQ(code.size(), 16u);
  EXPECT_EQ(Available("m-1"), 0);

  constexpr int kTerminals = 12;
  std::atomic<int> ok{0}, refused{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kTerminals; ++t) {
    threads.emplace_back([&, t] {
      v1::Sale sale = MakeSale("race-" + std::to_string(t), "m-1", {{1, 300, 0, "coffee"}});
      sale.add_redemption_codes(code);
      sale.set_total_minor(0);  // the coffee is free
      v1::EventOutcome out;
      grpc::Status s = Record(sale, &out);
      if (s.ok()) ++ok;
      if (s.error_code() == grpc::StatusCode::FAILED_PRECONDITION) ++refused;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 1);
  EXPECT_EQ(refused.load(), kTerminals - 1);

  // Void the sale that used it: the code works again.
  for (int t = 0; t < kTerminals; ++t) {
    v1::VoidSaleRequest v;
    *v.mutable_void_() = MakeVoid("void-" + std::to_string(t), Ref("race-" + std::to_string(t)));
    v1::EventOutcome out;
    if (pos_->VoidSale(As("terminal").get(), v, &out).ok()) break;
  }
  v1::Sale again = MakeSale("after-void", "m-1", {{1, 300, 0, "coffee"}});
  again.add_redemption_codes(code);
  again.set_total_minor(0);
  v1::EventOutcome out;
  EXPECT_TRUE(Record(again, &out).ok());
  EXPECT_EQ(Record([&] {
              v1::Sale reuse = again;
              reuse.mutable_ref()->set_transaction_id("reuse");
              return reuse;
            }(), &out).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
}

// Concurrent redemptions of the last points: exactly as many succeed as the
// points pay for; the balance matches the ledger.
TEST_F(OffersServerTest, LastPointsSpentOnce) {
  Give("m-1", 300, "g-1");
  constexpr int kCallers = 10;
  std::atomic<int> ok{0}, refused{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kCallers; ++t) {
    threads.emplace_back([&, t] {
      v1::RedeemRequest r = Redemption("m-1", "free-coffee", "redeem-" + std::to_string(t));
      v1::RedeemResponse out;
      grpc::Status s = member_->Redeem(As("member").get(), r, &out);
      if (s.ok()) ++ok;
      if (s.error_code() == grpc::StatusCode::FAILED_PRECONDITION) ++refused;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 2);  // 300 points pay for two coffees
  EXPECT_EQ(refused.load(), kCallers - 2);
  EXPECT_EQ(Available("m-1"), 0);
  ExpectLedgerAndReplayAgree();
}

// Redemption is idempotent by request id; stock runs out; a member sees what
// they can afford.
TEST_F(OffersServerTest, RedeemIdempotentAndStock) {
  Give("m-1", 20, "g-1");
  Give("m-2", 20, "g-2");
  const std::string first = RedeemCode("m-1", "mug", "r-1");
  EXPECT_EQ(RedeemCode("m-1", "mug", "r-1"), first);  // retry: the same code
  EXPECT_EQ(Available("m-1"), 10);
  v1::RedeemRequest r = Redemption("m-2", "mug", "r-2");
  v1::RedeemResponse out;
  grpc::Status s = member_->Redeem(As("admin").get(), r, &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(s.error_message(), "reward_id: 'mug' is out of stock");
  EXPECT_EQ(Available("m-2"), 20);  // nothing spent
  r.set_member_id("m-1");
  EXPECT_EQ(member_->Redeem(As("member").get(), [&] {
              v1::RedeemRequest other = r;
              other.set_member_id("m-2");
              return other;
            }(), &out).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);

  v1::ListRewardsRequest list;
  list.set_member_id("m-1");
  v1::ListRewardsResponse rewards;
  ASSERT_TRUE(member_->ListRewards(As("member").get(), list, &rewards).ok());
  ASSERT_EQ(rewards.rewards_size(), 2);
  EXPECT_EQ(rewards.rewards(0).reward_id(), "free-coffee");
  EXPECT_FALSE(rewards.rewards(0).affordable());
  EXPECT_EQ(rewards.rewards(0).points_missing(), 140);
  EXPECT_FALSE(rewards.rewards(1).in_stock());
}

// A terminal spends a member's points only with the till code the member's
// app shows (finding: a store-2 terminal turned 800 of another member's
// points into a code for itself): without it, with a wrong or used one,
// nothing is spent; five wrong codes stop a member's till codes a while.
TEST_F(OffersServerTest, TerminalRedemptionNeedsTheMembersTillCode) {
  Give("m-1", 1000, "till-give");
  v1::RedeemRequest r = Redemption("m-1", "free-coffee", "till-1");
  v1::RedeemResponse out;
  grpc::Status s = member_->Redeem(As("terminal-2").get(), r, &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(s.error_message().rfind("till_code: is required when a terminal redeems", 0), 0u) << s.error_message();
  r.set_till_code("123456");
  EXPECT_EQ(member_->Redeem(As("terminal-2").get(), r, &out).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(Available("m-1"), 1000) << "nothing spent";

  // Only the member (or an admin) gets a code.
  v1::IssueTillCodeRequest issue;
  issue.set_member_id("m-1");
  v1::TillCode code;
  EXPECT_EQ(member_->IssueTillCode(As("terminal").get(), issue, &code).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  ASSERT_TRUE(member_->IssueTillCode(As("member").get(), issue, &code).ok());
  EXPECT_EQ(code.code().size(), 6u);
  EXPECT_EQ(code.expires_at().seconds(), loyalty::testing::kNow + 120);
  r.set_till_code(code.code());
  s = member_->Redeem(As("terminal-2").get(), r, &out);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(Available("m-1"), 1000 - 150);
  ASSERT_TRUE(member_->Redeem(As("terminal-2").get(), r, &out).ok()) << "a retry of the same redemption passes";
  EXPECT_EQ(Available("m-1"), 1000 - 150);
  r.set_request_id("till-2");
  EXPECT_EQ(member_->Redeem(As("terminal-2").get(), r, &out).error_code(), grpc::StatusCode::PERMISSION_DENIED)
      << "a used code";

  // Expired after two minutes.
  ASSERT_TRUE(member_->IssueTillCode(As("member").get(), issue, &code).ok());
  clock_.AdvanceSeconds(121);
  r.set_till_code(code.code());
  EXPECT_EQ(member_->Redeem(As("terminal-2").get(), r, &out).error_code(), grpc::StatusCode::PERMISSION_DENIED);

  // Guessing: after five wrong codes (three above) even the right one waits.
  ASSERT_TRUE(member_->IssueTillCode(As("member").get(), issue, &code).ok());
  for (int i = 0; i < 2; ++i) {
    r.set_till_code(code.code() == "000000" ? "000001" : "000000");
    EXPECT_EQ(member_->Redeem(As("terminal-2").get(), r, &out).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  }
  r.set_till_code(code.code());
  s = member_->Redeem(As("terminal-2").get(), r, &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << s.error_message();
  EXPECT_EQ(Available("m-1"), 1000 - 150);
  // The member's own app needs no till code.
  r.clear_till_code();
  r.set_request_id("till-app");
  ASSERT_TRUE(member_->Redeem(As("member").get(), r, &out).ok());
  EXPECT_EQ(Available("m-1"), 1000 - 300);
}


// Where the program takes a PIN, a terminal redeems with the PIN the member
// set in the app instead of a till code: only the member sets it (an admin
// only clears it), a wrong PIN spends nothing and five in a row lock it until
// the member sets it again; the PIN is not kept with the redemption.
TEST_F(OffersServerTest, TerminalRedemptionWithThePinTheMemberSet) {
  Give("m-1", 1000, "pin-give");
  v1::RedeemRequest r = Redemption("m-1", "free-coffee", "pin-1");
  r.set_pin("48213907");
  v1::RedeemResponse out;
  // The program takes app codes only (the default): a PIN is refused by name.
  grpc::Status s = member_->Redeem(As("terminal-2").get(), r, &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(s.error_message(), "pin: is not taken by this program: give the till code the member's app shows (till_code)");

  v1::Program program;
  ASSERT_TRUE(admin_->GetProgram(As("admin").get(), v1::GetProgramRequest(), &program).ok());
  EXPECT_EQ(program.till_proof(), v1::TILL_PROOF_APP_CODE);
  v1::UpdateProgramRequest update;
  *update.mutable_program() = program;
  update.set_expected_version(program.version());
  update.mutable_program()->set_till_proof(static_cast<v1::TillProof>(9));
  s = admin_->UpdateProgram(As("admin").get(), update, &program);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(s.error_message().rfind("program.till_proof: must be one of", 0), 0u) << s.error_message();
  update.mutable_program()->set_till_proof(v1::TILL_PROOF_PIN);
  ASSERT_TRUE(admin_->UpdateProgram(As("admin").get(), update, &program).ok());
  EXPECT_EQ(program.till_proof(), v1::TILL_PROOF_PIN);

  // No PIN set yet.
  s = member_->Redeem(As("terminal-2").get(), r, &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << s.error_message();
  r.clear_pin();
  s = member_->Redeem(As("terminal-2").get(), r, &out);
  EXPECT_EQ(s.error_message(), "pin: is required when a terminal redeems: the PIN the member set");

  // Only the member sets it; an admin may clear it; a terminal neither.
  v1::SetPinRequest set;
  set.set_member_id("m-1");
  set.set_pin("1234");
  v1::SetPinResponse set_out;
  s = member_->SetPin(As("member").get(), set, &set_out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(s.error_message(), "pin: is too easy to guess (one digit repeated, or a run such as 1234)");
  set.set_pin("48213907");
  EXPECT_EQ(member_->SetPin(As("terminal").get(), set, &set_out).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(member_->SetPin(As("admin").get(), set, &set_out).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  ASSERT_TRUE(member_->SetPin(As("member").get(), set, &set_out).ok());
  EXPECT_TRUE(set_out.pin_set());

  // The till code is not taken now; the PIN is.
  v1::IssueTillCodeRequest issue;
  issue.set_member_id("m-1");
  v1::TillCode code;
  ASSERT_TRUE(member_->IssueTillCode(As("member").get(), issue, &code).ok());
  r.set_till_code(code.code());
  s = member_->Redeem(As("terminal-2").get(), r, &out);
  EXPECT_EQ(s.error_message(), "till_code: is not taken by this program: give the PIN the member set (pin)");
  r.set_pin("48213907");
  EXPECT_EQ(member_->Redeem(As("terminal-2").get(), r, &out).error_message(), "pin: give either till_code or pin, not both");
  r.clear_till_code();
  s = member_->Redeem(As("terminal-2").get(), r, &out);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(Available("m-1"), 1000 - 150);
  ASSERT_TRUE(member_->Redeem(As("terminal-2").get(), r, &out).ok()) << "a retry passes and spends nothing more";
  EXPECT_EQ(Available("m-1"), 1000 - 150);
  // The PIN is nowhere in the stored redemption (the event log keeps the request).
  for (storage::Cf cf : {storage::Cf::kEvents, storage::Cf::kTxn}) {
    auto it = server_->store().NewCursor(cf);
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      EXPECT_EQ(it->value().find("48213907"), std::string::npos) << storage::CfName(cf);
    }
  }

  // Guessing: five wrong PINs in a row lock it, even against the right one.
  r.set_request_id("pin-2");
  for (int i = 0; i < 5; ++i) {
    r.set_pin(loyalty::StrCat("4821390", i));  // 48213900 .. 48213904
    s = member_->Redeem(As(i % 2 ? "terminal" : "terminal-2").get(), r, &out);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << s.error_message();
  }
  r.set_pin("48213907");
  s = member_->Redeem(As("terminal-2").get(), r, &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(s.error_message(), "pin: locked after 5 wrong PINs in a row; the member sets a new one in the app");
  EXPECT_EQ(Available("m-1"), 1000 - 150) << "nothing spent";
  ASSERT_TRUE(member_->SetPin(As("member").get(), set, &set_out).ok());
  ASSERT_TRUE(member_->Redeem(As("terminal-2").get(), r, &out).ok()) << "set again: unlocked";
  EXPECT_EQ(Available("m-1"), 1000 - 300);

  // Either proof where the program takes both; an admin clears the PIN.
  *update.mutable_program() = program;
  update.set_expected_version(program.version());
  update.mutable_program()->set_till_proof(v1::TILL_PROOF_APP_CODE_OR_PIN);
  ASSERT_TRUE(admin_->UpdateProgram(As("admin").get(), update, &program).ok());
  r.set_request_id("pin-3");
  r.clear_pin();
  s = member_->Redeem(As("terminal-2").get(), r, &out);
  EXPECT_EQ(s.error_message().rfind("till_code: or pin is required when a terminal redeems", 0), 0u) << s.error_message();
  ASSERT_TRUE(member_->IssueTillCode(As("member").get(), issue, &code).ok());
  r.set_till_code(code.code());
  ASSERT_TRUE(member_->Redeem(As("terminal-2").get(), r, &out).ok());
  set.clear_pin();
  ASSERT_TRUE(member_->SetPin(As("admin").get(), set, &set_out).ok());
  EXPECT_FALSE(set_out.pin_set());
  r.clear_till_code();
  r.set_pin("48213907");
  r.set_request_id("pin-4");
  EXPECT_EQ(member_->Redeem(As("terminal-2").get(), r, &out).error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(Available("m-1"), 1000 - 450);
}

}  // namespace
}  // namespace loyalty
