// Unit tests of personal offers, stacking and basket evaluation, one rule
// each, with explicit times.
#include "services/loyalty/engine/offers.h"

#include <gtest/gtest.h>

namespace loyalty::engine {
namespace {

constexpr Seconds kT0 = 1'767'225'600;  // 2026-01-01T00:00:00Z

ProgramConfig Base() {
  ProgramConfig p;
  p.expiry_days = 0;
  return p;
}

OfferTemplate Offer(std::string id, OfferKind kind) {
  OfferTemplate o;
  o.id = std::move(id);
  o.title = o.id;
  o.kind = kind;
  return o;
}

SaleLine Line(int64_t net_minor, std::string category = "coffee", int32_t quantity = 1) {
  return SaleLine{"sku-" + category, std::move(category), quantity, net_minor};
}

// Records `n` visits buying `category`, a day apart, starting at `from`.
void Visits(const ProgramConfig& p, MemberState& s, int n, Seconds from, const std::string& category = "coffee") {
  std::vector<Entry> e;
  for (int i = 0; i < n; ++i) {
    RecordSale(p, s, SaleInput{"store-1", from + i * kDay, {Line(500, category)}}, 1000 + s.visits_total,
               from + i * kDay, e);
  }
}

// One discount per line: the largest wins; points are earned on what is paid.
TEST(OffersTest, LargestDiscountPerLineAndPointsOnWhatIsPaid) {
  ProgramConfig p = Base();
  OfferTemplate ten = Offer("ten", OfferKind::kPercentOff);
  ten.percent_off = 10;
  OfferTemplate coffee = Offer("coffee-2", OfferKind::kAmountOff);
  coffee.amount_off_minor = 200;
  coffee.categories = {"coffee"};
  p.offers = {ten, coffee};
  MemberState s;
  auto r = EvaluateBasket(p, s, {}, SaleInput{"store-1", kT0, {Line(1000), Line(5000, "bakery")}}, {}, kT0);
  ASSERT_EQ(r.discounts.size(), 2u);
  EXPECT_EQ(r.discounts[0].discount_minor, 200);  // 2.00 off beats 10% of 10.00
  EXPECT_EQ(r.discounts[0].source_id, "coffee-2");
  EXPECT_EQ(r.discounts[1].discount_minor, 500);
  EXPECT_EQ(r.discounts[1].source_id, "ten");
  EXPECT_EQ(r.discount_total_minor, 700);
  EXPECT_EQ(r.earn.points, 8 + 45);
}

// Targeting: validity window, stores, tiers, minimum basket, per-member limit, budget.
TEST(OffersTest, TargetingAndLimits) {
  ProgramConfig p = Base();
  p.tiers = {{"Bronze", 0, 0, 100, {}}, {"Gold", 100'00, 0, 100, {}}};
  OfferTemplate o = Offer("gold-bonus", OfferKind::kBonusPoints);
  o.bonus_points = 50;
  o.tiers = {"Gold"};
  o.starts_at = kT0;
  o.ends_at = kT0 + 10 * kDay;
  o.stores = {"store-1"};
  o.min_basket_minor = 20'00;
  o.per_member_limit = 1;
  o.budget_redemptions = 100;
  p.offers = {o};
  MemberState s;
  const SaleInput basket{"store-1", kT0 + kDay, {Line(25'00)}};
  EXPECT_EQ(EvaluateBasket(p, s, {}, basket, {}, kT0 + kDay).bonus_points, 0);  // Bronze
  Visits(p, s, 1, kT0 - kDay);
  s.tier = 1;
  EXPECT_EQ(EvaluateBasket(p, s, {}, SaleInput{"store-1", kT0, {Line(25'00)}}, {}, kT0 - 1).bonus_points, 0);
  EXPECT_EQ(EvaluateBasket(p, s, {}, SaleInput{"store-2", kT0 + kDay, {Line(25'00)}}, {}, kT0 + kDay).bonus_points, 0);
  EXPECT_EQ(EvaluateBasket(p, s, {}, SaleInput{"store-1", kT0 + kDay, {Line(15'00)}}, {}, kT0 + kDay).bonus_points, 0);
  OfferContext spent;
  spent.budget_used["gold-bonus"] = 100;
  EXPECT_EQ(EvaluateBasket(p, s, spent, basket, {}, kT0 + kDay).bonus_points, 0);
  std::vector<Entry> e;
  auto r = RecordBasketSale(p, s, {}, basket, {}, 77, kT0 + kDay, e);
  EXPECT_EQ(r.bonus_points, 50);
  EXPECT_EQ(r.points_total, 25 + 50);
  EXPECT_EQ(s.offer_uses["gold-bonus"], 1);
  EXPECT_EQ(EvaluateBasket(p, s, {}, basket, {}, kT0 + kDay).bonus_points, 0);  // limit reached
}

// A punch card gives a free unit on the Nth qualifying visit, then starts over.
TEST(OffersTest, PunchCard) {
  ProgramConfig p = Base();
  OfferTemplate card = Offer("tenth-coffee", OfferKind::kPunchCard);
  card.punch_visits = 3;
  card.categories = {"coffee"};
  p.offers = {card};
  MemberState s;
  std::vector<Entry> e;
  for (int visit = 1; visit <= 4; ++visit) {
    const Seconds t = kT0 + visit * kDay;
    auto r = RecordBasketSale(p, s, {}, SaleInput{"store-1", t, {Line(900, "coffee", 3)}}, {}, visit, t, e);
    EXPECT_EQ(r.discount_total_minor, visit == 3 ? 300 : 0) << "visit " << visit;
  }
  EXPECT_EQ(s.punches["tenth-coffee"], 1);
  auto offers = PersonalOffers(p, s, {}, kT0 + 5 * kDay);
  ASSERT_EQ(offers.size(), 1u);
  EXPECT_EQ(offers[0].reason, "1 more visit and the next one is free: tenth-coffee.");
}

// A win-back reaches a member late against their own rhythm, and says so.
TEST(OffersTest, WinBackFollowsTheMembersOwnRhythm) {
  ProgramConfig p = Base();
  OfferTemplate back = Offer("come-back", OfferKind::kWinBack);
  back.bonus_points = 100;
  back.lapse_pct = 200;
  p.offers = {back};
  MemberState s;
  for (int i = 0; i < 5; ++i) Visits(p, s, 1, kT0 + i * 7 * kDay);  // weekly
  EXPECT_EQ(CadenceDays(s), 7);
  const Seconds last = kT0 + 28 * kDay;
  EXPECT_TRUE(PersonalOffers(p, s, {}, last + 14 * kDay).empty());  // 14 days: not late enough
  auto offers = PersonalOffers(p, s, {}, last + 15 * kDay);
  ASSERT_EQ(offers.size(), 1u);
  EXPECT_EQ(offers[0].reason, "We miss you! You usually visit every 7 days and it has been 15.");
}

// Nudges say how close the next tier is; birthdays come in their week.
TEST(OffersTest, NudgesAndBirthdays) {
  ProgramConfig p = Base();
  p.tiers = {{"Bronze", 0, 0, 100, {}}, {"Gold", 0, 5, 100, {}}};
  OfferTemplate nudge = Offer("reach-gold", OfferKind::kTierNudge);
  nudge.bonus_points = 20;
  OfferTemplate birthday = Offer("birthday", OfferKind::kBirthday);
  birthday.bonus_points = 200;
  p.offers = {nudge, birthday};
  MemberState s;
  s.birthday_mmdd = "01-04";
  Visits(p, s, 1, kT0);
  EXPECT_TRUE(PersonalOffers(p, s, {}, kT0).empty());  // 4 visits to go: not close yet
  Visits(p, s, 2, kT0 + kDay);
  auto offers = PersonalOffers(p, s, {}, kT0 + 3 * kDay + 3600);
  ASSERT_EQ(offers.size(), 2u);
  EXPECT_EQ(offers[0].offer->id, "reach-gold");
  EXPECT_EQ(offers[0].reason, "You are 2 visits from Gold.");
  EXPECT_EQ(offers[1].reason, "Happy birthday! Enjoy 200 bonus points on your next visit.");
  EXPECT_EQ(PersonalOffers(p, s, {}, kT0 + 11 * kDay).size(), 1u);  // birthday week over
}

// Stage targeting and the stage nudge: only members at the named stages, with
// the concrete next step as the reason.
TEST(OffersTest, StageTargetingAndNudge) {
  ProgramConfig p = Base();
  p.stages = {{"new"}, {"occasional", 2, 0, 0, 0, 180, 0}};
  OfferTemplate nudge = Offer("second-visit", OfferKind::kStageNudge);
  nudge.bonus_points = 25;
  nudge.stages = {"new"};
  p.offers = {nudge};
  MemberState s;
  s.enrolled_at = kT0;
  Visits(p, s, 1, kT0);
  auto offers = PersonalOffers(p, s, {}, kT0 + kDay);
  ASSERT_EQ(offers.size(), 1u);
  EXPECT_EQ(offers[0].reason, "Visit 1 more time to become occasional.");
  std::vector<Entry> e;
  auto r = RecordBasketSale(p, s, {}, SaleInput{"store-1", kT0 + kDay, {Line(500)}}, {}, 9, kT0 + kDay, e);
  EXPECT_EQ(r.bonus_points, 25);
  EXPECT_EQ(s.stage, 1);
  EXPECT_TRUE(PersonalOffers(p, s, {}, kT0 + kDay).empty());  // no longer "new"
}

// Affinity: a category offer is ranked by what the member buys, decayed by time.
TEST(OffersTest, AffinityRanksOffers) {
  ProgramConfig p = Base();
  OfferTemplate coffee = Offer("coffee", OfferKind::kPercentOff);
  coffee.percent_off = 10;
  coffee.categories = {"coffee"};
  OfferTemplate wine = Offer("wine", OfferKind::kPercentOff);
  wine.percent_off = 10;
  wine.categories = {"wine"};
  p.offers = {coffee, wine};
  MemberState s;
  Visits(p, s, 20, kT0, "wine");
  Visits(p, s, 3, kT0 + 697 * kDay, "coffee");
  // wine: 100.00 bought ~680 days ago weighs 11.68; coffee: 15.00 this week weighs 15.00.
  auto offers = PersonalOffers(p, s, {}, kT0 + 700 * kDay);
  ASSERT_EQ(offers.size(), 2u);
  EXPECT_EQ(offers[0].offer->id, "coffee");  // recent beats old, though less spend
  EXPECT_EQ(offers[0].reason, "Because you often buy coffee.");
}

// A reward code takes one unit of the cheapest matching line, up to its value;
// a code with nothing to apply to is reported unusable.
TEST(OffersTest, RewardCodes) {
  ProgramConfig p = Base();
  Reward coffee{"free-coffee", "Free coffee", 150, {"coffee"}, 400, 0, 30};
  MemberState s;
  auto r = EvaluateBasket(p, s, {}, SaleInput{"store-1", kT0, {Line(1000, "coffee", 2), Line(300, "coffee")}},
                          {&coffee, &coffee}, kT0);
  ASSERT_EQ(r.discounts.size(), 2u);
  EXPECT_EQ(r.discounts[0].line, 1u);
  EXPECT_EQ(r.discounts[0].discount_minor, 300);
  EXPECT_EQ(r.discounts[1].line, 0u);
  EXPECT_EQ(r.discounts[1].discount_minor, 400);  // capped at the reward's value
  EXPECT_EQ(r.unusable_rewards, 0);
  auto none = EvaluateBasket(p, s, {}, SaleInput{"store-1", kT0, {Line(300, "bakery")}}, {&coffee}, kT0);
  EXPECT_EQ(none.unusable_rewards, 1);
}

}  // namespace
}  // namespace loyalty::engine
