// services/loyalty/engine/program.h: the program's configuration as the
// engine sees it: earn rules, promotions, tiers and relationship stages.
// Plain values; marketing edits them through the admin API, which converts
// from the contract's messages and calls Validate() before publishing.
//
// Percentages are integers: 100 = x1, 150 = x1.5, 200 = double points.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace loyalty::engine {

using Seconds = int64_t;  // Unix time, UTC
inline constexpr Seconds kDay = 86'400;

struct CategoryMultiplier {
  std::string category;
  int32_t multiplier_pct = 100;
};

// A time-boxed promotion: [starts_at, ends_at), optionally limited to stores
// and categories (empty = all).
struct Promotion {
  std::string id;
  std::string name;
  Seconds starts_at = 0;
  Seconds ends_at = 0;
  std::vector<std::string> stores;
  std::vector<std::string> categories;
  int32_t multiplier_pct = 100;
};

// A reward tier. A member qualifies when, over the tier window, their spend
// reaches min_spend_minor OR their visits reach min_visits (a threshold of 0
// is not used, except for the first tier, which everyone holds).
struct Tier {
  std::string name;
  int64_t min_spend_minor = 0;
  int32_t min_visits = 0;
  int32_t earn_multiplier_pct = 100;
  std::vector<std::string> perks;
};

// A step of the customer-to-client ladder. A member is at the highest stage
// whose every threshold is met (0 = not used); the first stage has none.
struct Stage {
  std::string name;
  int32_t min_visits = 0;              // visits within the stage window
  int64_t min_spend_minor = 0;         // spend within the stage window
  int32_t min_tenure_days = 0;         // days since enrolment
  int32_t min_categories = 0;          // distinct categories within the window
  int32_t max_days_since_visit = 0;    // recency: last visit at most this long ago
  int32_t min_engagements = 0;         // offers redeemed, receipts claimed
};

enum class OfferKind { kPercentOff, kAmountOff, kBonusPoints, kPunchCard, kBirthday, kWinBack, kTierNudge, kStageNudge };

// An offer template marketing configures; the engine picks who gets it.
struct OfferTemplate {
  std::string id;
  std::string title;
  OfferKind kind = OfferKind::kBonusPoints;
  int32_t percent_off = 0;          // kPercentOff: 1..100 of matching lines
  int64_t amount_off_minor = 0;     // kAmountOff: off the matching lines, in line order
  int64_t bonus_points = 0;         // bonus kinds: extra points for a qualifying sale
  std::vector<std::string> categories;  // matching lines; empty: every line
  std::vector<std::string> skus;
  int32_t punch_visits = 0;         // kPunchCard: every Nth visit buying in categories, one unit free
  int64_t min_basket_minor = 0;     // matching lines must add up to this
  std::vector<std::string> tiers;   // targeting; empty: all
  std::vector<std::string> stages;
  std::string affinity_category;    // only members who bought this category
  int32_t lapse_pct = 150;          // kWinBack: late by this share of their rhythm
  Seconds starts_at = 0;
  Seconds ends_at = 0;              // 0: open-ended
  std::vector<std::string> stores;
  int64_t budget_redemptions = 0;   // in total; 0: unlimited
  int32_t per_member_limit = 0;     // 0: unlimited
};

// A reward bought with points, as a one-time code used at the terminal.
struct Reward {
  std::string id;
  std::string title;
  int64_t cost_points = 0;
  std::vector<std::string> categories;  // the unit it makes free; empty: any
  int64_t max_value_minor = 0;          // at most this much off
  int64_t stock = 0;                    // codes that can be issued; 0: unlimited
  int32_t code_valid_days = 30;
};

struct ProgramConfig {
  uint64_t version = 0;
  std::string currency = "EUR";
  int64_t minor_units_per_major = 100;

  // Earning.
  int64_t points_per_major_unit = 1;
  std::vector<CategoryMultiplier> category_multipliers;
  std::vector<std::string> excluded_categories;  // earn nothing, no tier credit
  std::vector<std::string> excluded_skus;
  std::vector<Promotion> promotions;
  int64_t max_points_per_month = 0;  // per member per calendar month (UTC); 0 = no cap
  bool returns_at_any_store = false;  // else a sale is returned where it was sold
  // What a terminal needs from the member to spend their points (Redeem).
  enum class TillProof { kAppCode, kPin, kAppCodeOrPin };
  TillProof till_proof = TillProof::kAppCode;
  int32_t pending_days = 0;          // points stay pending for the return window
  int32_t expiry_days = 365;         // points expire this long after they are earned; 0 = never

  // Tiers, lowest first. Empty: a single implicit tier "Member".
  std::vector<Tier> tiers;
  int32_t tier_window_days = 365;
  int32_t tier_grace_days = 30;

  // Stages, lowest first. Empty: a single implicit stage "new".
  std::vector<Stage> stages;
  int32_t stage_window_days = 365;

  std::vector<OfferTemplate> offers;
  std::vector<Reward> rewards;
};

// Limits on a configuration, each enforced by Validate().
inline constexpr int32_t kMaxMultiplierPct = 1000;
inline constexpr int64_t kMaxPointsPerMajorUnit = 1000;
inline constexpr size_t kMaxTiers = 10;
inline constexpr size_t kMaxStages = 10;
inline constexpr size_t kMaxPromotions = 100;
inline constexpr size_t kMaxRuleEntries = 500;  // category multipliers, exclusions
inline constexpr int32_t kMaxWindowDays = 3 * 365;
inline constexpr size_t kMaxOffers = 200;
inline constexpr size_t kMaxRewards = 200;

// The first problem found, as "field: reason" (e.g. "tiers[2].min_spend_minor:
// must be above tiers[1]'s 50000, got 40000"), or empty if valid.
std::string Validate(const ProgramConfig& config);

// The default program: 1 point per 1.00, Bronze/Silver/Gold, a five-step
// ladder new -> occasional -> regular -> loyal -> client.
ProgramConfig DefaultProgram(std::string currency = "EUR");

}  // namespace loyalty::engine
