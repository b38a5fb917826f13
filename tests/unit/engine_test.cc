// Unit tests of the loyalty engine, one rule each, with explicit times.
#include "services/loyalty/engine/engine.h"

#include <gtest/gtest.h>

namespace loyalty::engine {
namespace {

constexpr Seconds kT0 = 1'767'225'600;  // 2026-01-01T00:00:00Z

ProgramConfig Plain() {
  ProgramConfig p;  // 1 point per 1.00, no tiers, no stages, no expiry, no pending
  p.expiry_days = 0;
  return p;
}

SaleInput Sale(std::vector<SaleLine> lines, Seconds at = kT0, std::string store = "store-1") {
  return SaleInput{std::move(store), at, std::move(lines)};
}

SaleLine Line(int64_t net_minor, std::string category = "coffee", std::string sku = "sku") {
  return SaleLine{std::move(sku), std::move(category), 1, net_minor};
}

// Category multipliers and exclusions apply per line; rounding is down.
TEST(EngineTest, CategoryMultipliersAndExclusions) {
  ProgramConfig p = Plain();
  p.category_multipliers = {{"coffee", 200}};
  p.excluded_categories = {"tobacco"};
  p.excluded_skus = {"gift-card"};
  MemberState s;
  auto q = QuoteSale(p, s, Sale({Line(999, "coffee"), Line(999, "bakery"), Line(5000, "tobacco"),
                                 Line(5000, "bakery", "gift-card")}));
  EXPECT_EQ(q.lines[0].points, 19);  // floor(9.99 x 2)
  EXPECT_EQ(q.lines[1].points, 9);
  EXPECT_TRUE(q.lines[2].excluded);
  EXPECT_EQ(q.lines[2].credit_minor, 0);
  EXPECT_TRUE(q.lines[3].excluded);
  EXPECT_EQ(q.points, 28);
}

// Points are per line, rounded down; the largest valid line at the highest
// rate does not overflow.
TEST(EngineTest, RoundingDownPerLineWithoutOverflow) {
  ProgramConfig p = Plain();
  MemberState s;
  EXPECT_EQ(QuoteSale(p, s, Sale({Line(499), Line(500), Line(99)})).points, 4 + 5 + 0);
  p.points_per_major_unit = 10;
  EXPECT_EQ(QuoteSale(p, s, Sale({Line(499)})).points, 49);
  p.points_per_major_unit = 1000;
  p.minor_units_per_major = 1;
  p.category_multipliers = {{"coffee", kMaxMultiplierPct}};
  EXPECT_EQ(QuoteSale(p, s, Sale({Line(kMaxLineNetMinor)})).points, kMaxLineNetMinor * 1000 * 10);
}

// The tier's multiplier applies to the tier held when the sale is recorded.
TEST(EngineTest, TierMultiplierUsesTheTierHeld) {
  ProgramConfig p = Plain();
  p.tiers = {{"Bronze", 0, 0, 100, {}}, {"Gold", 100'00, 0, 150, {}}};
  MemberState s;
  std::vector<Entry> e;
  // This sale qualifies for Gold but earns at Bronze; the upgrade is immediate.
  EXPECT_EQ(RecordSale(p, s, Sale({Line(100'00)}), 1, kT0, e).points, 100);
  EXPECT_EQ(s.tier, 1);
  EXPECT_EQ(RecordSale(p, s, Sale({Line(10'00)}), 2, kT0 + 60, e).points, 15);
}

// The best running promotion applies (no stacking), limited by time, store and category.
TEST(EngineTest, PromotionsByTimeStoreAndCategory) {
  ProgramConfig p = Plain();
  p.promotions = {{"double", "Double points", kT0, kT0 + 7 * kDay, {"store-1"}, {"coffee"}, 200},
                  {"triple", "Triple", kT0 + kDay, kT0 + 2 * kDay, {}, {}, 300}};
  MemberState s;
  EXPECT_EQ(QuoteSale(p, s, Sale({Line(10'00)}, kT0)).points, 20);
  EXPECT_EQ(QuoteSale(p, s, Sale({Line(10'00)}, kT0, "store-2")).points, 10);
  EXPECT_EQ(QuoteSale(p, s, Sale({Line(10'00, "bakery")}, kT0)).points, 10);
  EXPECT_EQ(QuoteSale(p, s, Sale({Line(10'00)}, kT0 + 7 * kDay)).points, 10);  // ended (end exclusive)
  auto q = QuoteSale(p, s, Sale({Line(10'00)}, kT0 + kDay + 1));
  EXPECT_EQ(q.points, 30);
  EXPECT_EQ(q.lines[0].promotion_id, "triple");
}

// The monthly cap cuts lines in basket order and resets with the month.
TEST(EngineTest, MonthlyCap) {
  ProgramConfig p = Plain();
  p.max_points_per_month = 25;
  MemberState s;
  std::vector<Entry> e;
  auto first = RecordSale(p, s, Sale({Line(10'00), Line(10'00)}), 1, kT0, e);
  EXPECT_EQ(first.points, 20);
  auto second = RecordSale(p, s, Sale({Line(3'00), Line(10'00)}), 2, kT0 + kDay, e);
  EXPECT_EQ(second.lines[0].points, 3);
  EXPECT_EQ(second.lines[1].points, 2);
  EXPECT_EQ(second.capped_points, 8);
  const Seconds february = kT0 + 31 * kDay;
  EXPECT_EQ(RecordSale(p, s, Sale({Line(10'00)}, february), 3, february, e).points, 10);
}

// Points stay pending for the return window, then become available.
TEST(EngineTest, PendingThenAvailable) {
  ProgramConfig p = Plain();
  p.pending_days = 14;
  MemberState s;
  std::vector<Entry> e;
  RecordSale(p, s, Sale({Line(50'00)}), 1, kT0, e);
  EXPECT_EQ(BalanceAt(s, kT0).pending, 50);
  EXPECT_EQ(BalanceAt(s, kT0).available, 0);
  EXPECT_EQ(BalanceAt(s, kT0 + 14 * kDay).available, 50);
  EXPECT_EQ(BalanceAt(s, kT0 + 14 * kDay).pending, 0);
  EXPECT_FALSE(Spend(p, s, 10, kT0 + kDay, e));  // pending points cannot be spent
}

// Spending draws from the batch that expires first; expiry is idempotent.
TEST(EngineTest, SpendFirstExpiringThenExpire) {
  ProgramConfig p = Plain();
  p.expiry_days = 100;
  MemberState s;
  std::vector<Entry> e;
  RecordSale(p, s, Sale({Line(30'00)}, kT0), 1, kT0, e);               // expires kT0+100d
  RecordSale(p, s, Sale({Line(50'00)}, kT0 + 10 * kDay), 2, kT0 + 10 * kDay, e);  // expires kT0+110d
  ASSERT_TRUE(Spend(p, s, 40, kT0 + 20 * kDay, e));
  // 30 came from batch 1, 10 from batch 2.
  e.clear();
  Expire(p, s, kT0 + 100 * kDay, e);
  EXPECT_TRUE(e.empty());  // batch 1 is empty: nothing to expire
  Expire(p, s, kT0 + 110 * kDay, e);
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0].kind, EntryKind::kExpire);
  EXPECT_EQ(e[0].points, -40);
  e.clear();
  Expire(p, s, kT0 + 110 * kDay, e);
  EXPECT_TRUE(e.empty());
  EXPECT_EQ(LedgerTotal(s), 0);
}

// A return of spent points creates debt that later earnings repay first.
TEST(EngineTest, ReturnOfSpentPointsBecomesDebt) {
  ProgramConfig p = Plain();
  MemberState s;
  std::vector<Entry> e;
  RecordSale(p, s, Sale({Line(50'00)}), 1, kT0, e);
  ASSERT_TRUE(Spend(p, s, 40, kT0, e));
  RecordReversal(p, s, Reversal{1, kT0, 50, 50'00, false}, kT0 + kDay, e);
  EXPECT_EQ(BalanceAt(s, kT0 + kDay).available, -40);
  EXPECT_EQ(s.debt, 40);
  RecordSale(p, s, Sale({Line(100'00)}, kT0 + 2 * kDay), 2, kT0 + 2 * kDay, e);
  EXPECT_EQ(s.debt, 0);
  EXPECT_EQ(BalanceAt(s, kT0 + 2 * kDay).available, 60);
}

// A return takes back tier credit: a member who drops below keeps the tier
// through the grace period, then goes down.
TEST(EngineTest, DowngradeOnlyAfterGrace) {
  ProgramConfig p = Plain();
  p.tiers = {{"Bronze", 0, 0, 100, {}}, {"Silver", 100'00, 0, 100, {}}};
  p.tier_grace_days = 30;
  MemberState s;
  std::vector<Entry> e;
  RecordSale(p, s, Sale({Line(120'00)}), 1, kT0, e);
  EXPECT_EQ(s.tier, 1);
  RecordReversal(p, s, Reversal{1, kT0, 120, 120'00, false}, kT0 + kDay, e);
  EXPECT_EQ(s.tier, 1);
  EXPECT_EQ(s.grace_until, kT0 + kDay + 30 * kDay);
  auto progress = TierProgressAt(p, s, kT0 + kDay);
  EXPECT_TRUE(progress.keeping);
  EXPECT_EQ(progress.message, "Spend 100.00 EUR by 2026-02-01 to keep Silver.");
  Refresh(p, s, kT0 + 30 * kDay);
  EXPECT_EQ(s.tier, 1);
  Refresh(p, s, kT0 + 31 * kDay);
  EXPECT_EQ(s.tier, 0);
}

// Qualification is over a rolling window: old credit stops counting.
TEST(EngineTest, TierWindowRolls) {
  ProgramConfig p = Plain();
  p.tiers = {{"Bronze", 0, 0, 100, {}}, {"Silver", 0, 3, 100, {}}};
  p.tier_window_days = 30;
  p.tier_grace_days = 0;
  MemberState s;
  std::vector<Entry> e;
  for (int i = 0; i < 3; ++i) RecordSale(p, s, Sale({Line(100)}, kT0 + i * kDay), i + 1, kT0 + i * kDay, e);
  EXPECT_EQ(s.tier, 1);
  Refresh(p, s, kT0 + 29 * kDay);
  EXPECT_EQ(s.tier, 1);
  Refresh(p, s, kT0 + 30 * kDay);  // the first visit left the window
  Refresh(p, s, kT0 + 30 * kDay);  // grace 0: the second refresh downgrades
  EXPECT_EQ(s.tier, 0);
}

// Progress to the next tier says what and by when.
TEST(EngineTest, TierProgressMessage) {
  ProgramConfig p = DefaultProgram();
  MemberState s;
  std::vector<Entry> e;
  RecordSale(p, s, Sale({Line(460'00)}), 1, kT0, e);
  auto progress = TierProgressAt(p, s, kT0);
  EXPECT_EQ(progress.next, "Silver");
  EXPECT_EQ(progress.spend_needed_minor, 40'00);
  EXPECT_EQ(progress.visits_needed, 11);
  EXPECT_EQ(progress.message, "Spend 40.00 EUR or visit 11 more times by 2026-12-31 to reach Silver.");
}

// Stages climb with visits, spend, breadth and tenure, fall with lapse, and
// every change is recorded with its time.
TEST(EngineTest, StageLadderAndHistory) {
  ProgramConfig p = Plain();
  p.stages = {{"new"}, {"occasional", 2, 0, 0, 0, 180, 0}, {"regular", 4, 0, 0, 2, 60, 0}};
  MemberState s;
  s.enrolled_at = kT0;
  std::vector<Entry> e;
  RecordSale(p, s, Sale({Line(500)}, kT0), 1, kT0, e);
  EXPECT_EQ(s.stage, 0);
  EXPECT_EQ(StageProgressAt(p, s, kT0).next_step, "Visit 1 more time to become occasional.");
  RecordSale(p, s, Sale({Line(500)}, kT0 + kDay), 2, kT0 + kDay, e);
  EXPECT_EQ(s.stage, 1);
  EXPECT_EQ(StageProgressAt(p, s, kT0 + kDay).next_step, "Visit 2 more times and try 1 more category to become regular.");
  RecordSale(p, s, Sale({Line(500, "bakery")}, kT0 + 2 * kDay), 3, kT0 + 2 * kDay, e);
  RecordSale(p, s, Sale({Line(500)}, kT0 + 3 * kDay), 4, kT0 + 3 * kDay, e);
  EXPECT_EQ(s.stage, 2);
  Refresh(p, s, kT0 + 100 * kDay);  // lapsed more than 60 days
  EXPECT_EQ(s.stage, 1);
  ASSERT_EQ(s.stage_history.size(), 3u);
  EXPECT_EQ(s.stage_history[0].to, 1);
  EXPECT_EQ(s.stage_history[0].at, kT0 + kDay);
  EXPECT_EQ(s.stage_history[2].from, 2);
  EXPECT_EQ(s.stage_history[2].at, kT0 + 100 * kDay);
}

// A negative adjustment takes available points first, then becomes debt.
TEST(EngineTest, NegativeAdjustmentBecomesDebt) {
  ProgramConfig p = Plain();
  MemberState s;
  std::vector<Entry> e;
  Adjust(p, s, 10, 1, kT0, e);
  Adjust(p, s, -25, 2, kT0, e);
  EXPECT_EQ(s.debt, 15);
  EXPECT_EQ(LedgerTotal(s), -15);
}

// Configuration validation names the field and the reason.
TEST(EngineTest, ValidationNamesTheField) {
  ProgramConfig p = DefaultProgram();
  EXPECT_EQ(Validate(p), "");
  p.tiers[2].min_spend_minor = 400'00;
  EXPECT_EQ(Validate(p), "tiers[2].min_spend_minor: must be above tiers[1]'s 50000, got 40000");
  p = DefaultProgram();
  p.tiers[0].min_visits = 1;
  EXPECT_EQ(Validate(p), "tiers[0]: the first tier is everyone's; its thresholds must be 0");
  p = DefaultProgram();
  p.tiers[1].name = "Bronze";
  EXPECT_EQ(Validate(p), "tiers[1].name: 'Bronze' is used twice");
  p = DefaultProgram();
  p.promotions = {{"x", "X", kT0, kT0, {}, {}, 200}};
  EXPECT_EQ(Validate(p), "promotions[0].ends_at: must be after starts_at");
  p = DefaultProgram();
  p.category_multipliers = {{"coffee", 5000}};
  EXPECT_EQ(Validate(p), "category_multipliers[0].multiplier_pct: must be between 0 and 1000, got 5000");
  p = DefaultProgram();
  p.stages[3].min_visits = 1;
  EXPECT_EQ(Validate(p), "stages[3].min_visits: must not be below stages[2]'s");
}

// Dates and money print the way members read them.
TEST(EngineTest, Formatting) {
  EXPECT_EQ(FormatDate(kT0), "2026-01-01");
  EXPECT_EQ(FormatDate(kT0 + 59 * kDay), "2026-03-01");
  EXPECT_EQ(FormatMoney(4005, Plain()), "40.05 EUR");
  EXPECT_EQ(MonthIndex(kT0), (2026 - 1970) * 12);
}

}  // namespace
}  // namespace loyalty::engine
