#include "services/loyalty/engine/program.h"

#include <set>

namespace loyalty::engine {
namespace {

std::string At(const char* list, size_t i) { return std::string(list) + "[" + std::to_string(i) + "]"; }

bool ValidName(const std::string& s) { return !s.empty() && s.size() <= 64; }

std::string CheckPct(const std::string& field, int32_t pct) {
  if (pct < 0 || pct > kMaxMultiplierPct) {
    return field + ": must be between 0 and " + std::to_string(kMaxMultiplierPct) + ", got " + std::to_string(pct);
  }
  return "";
}

}  // namespace

std::string Validate(const ProgramConfig& c) {
  if (c.currency.size() != 3) return "currency: must be an ISO 4217 code like EUR";
  if (c.minor_units_per_major != 1 && c.minor_units_per_major != 100 && c.minor_units_per_major != 1000) {
    return "minor_units_per_major: must be 1, 100 or 1000";
  }
  if (c.points_per_major_unit < 0 || c.points_per_major_unit > kMaxPointsPerMajorUnit) {
    return "points_per_major_unit: must be between 0 and " + std::to_string(kMaxPointsPerMajorUnit) + ", got " +
           std::to_string(c.points_per_major_unit);
  }
  if (c.category_multipliers.size() > kMaxRuleEntries) return "category_multipliers: at most 500";
  std::set<std::string> seen;
  for (size_t i = 0; i < c.category_multipliers.size(); ++i) {
    const auto& m = c.category_multipliers[i];
    if (!ValidName(m.category)) return At("category_multipliers", i) + ".category: must be 1 to 64 characters";
    if (!seen.insert(m.category).second) return At("category_multipliers", i) + ".category: '" + m.category + "' is listed twice";
    if (auto e = CheckPct(At("category_multipliers", i) + ".multiplier_pct", m.multiplier_pct); !e.empty()) return e;
  }
  if (c.excluded_categories.size() > kMaxRuleEntries || c.excluded_skus.size() > kMaxRuleEntries) {
    return "excluded_categories: at most 500 each of categories and skus";
  }
  if (c.promotions.size() > kMaxPromotions) return "promotions: at most 100";
  std::set<std::string> promo_ids;
  for (size_t i = 0; i < c.promotions.size(); ++i) {
    const auto& p = c.promotions[i];
    const std::string f = At("promotions", i);
    if (!ValidName(p.id)) return f + ".id: must be 1 to 64 characters";
    if (!promo_ids.insert(p.id).second) return f + ".id: '" + p.id + "' is used twice";
    if (p.ends_at <= p.starts_at) return f + ".ends_at: must be after starts_at";
    if (auto e = CheckPct(f + ".multiplier_pct", p.multiplier_pct); !e.empty()) return e;
  }
  if (c.max_points_per_month < 0) return "max_points_per_month: must not be negative";
  if (c.pending_days < 0 || c.pending_days > 365) return "pending_days: must be between 0 and 365";
  if (c.expiry_days < 0 || c.expiry_days > 10 * 365) return "expiry_days: must be between 0 (never) and 3650";
  if (c.expiry_days > 0 && c.expiry_days <= c.pending_days) return "expiry_days: must be longer than pending_days";

  if (c.tiers.size() > kMaxTiers) return "tiers: at most 10";
  std::set<std::string> tier_names;
  for (size_t i = 0; i < c.tiers.size(); ++i) {
    const auto& t = c.tiers[i];
    const std::string f = At("tiers", i);
    if (!ValidName(t.name)) return f + ".name: must be 1 to 64 characters";
    if (!tier_names.insert(t.name).second) return f + ".name: '" + t.name + "' is used twice";
    if (t.min_spend_minor < 0 || t.min_visits < 0) return f + ": thresholds must not be negative";
    if (auto e = CheckPct(f + ".earn_multiplier_pct", t.earn_multiplier_pct); !e.empty()) return e;
    if (i == 0) {
      if (t.min_spend_minor != 0 || t.min_visits != 0) return f + ": the first tier is everyone's; its thresholds must be 0";
      continue;
    }
    if (t.min_spend_minor == 0 && t.min_visits == 0) return f + ": needs a spend or a visits threshold";
    // Thresholds must rise, or a higher tier would be easier to reach.
    const auto& prev = c.tiers[i - 1];
    if (t.min_spend_minor > 0 && prev.min_spend_minor > 0 && t.min_spend_minor <= prev.min_spend_minor) {
      return f + ".min_spend_minor: must be above " + At("tiers", i - 1) + "'s " + std::to_string(prev.min_spend_minor) +
             ", got " + std::to_string(t.min_spend_minor);
    }
    if (t.min_visits > 0 && prev.min_visits > 0 && t.min_visits <= prev.min_visits) {
      return f + ".min_visits: must be above " + At("tiers", i - 1) + "'s " + std::to_string(prev.min_visits) +
             ", got " + std::to_string(t.min_visits);
    }
  }
  if (c.tier_window_days < 1 || c.tier_window_days > kMaxWindowDays) return "tier_window_days: must be between 1 and 1095";
  if (c.tier_grace_days < 0 || c.tier_grace_days > 365) return "tier_grace_days: must be between 0 and 365";

  if (c.stages.size() > kMaxStages) return "stages: at most 10";
  std::set<std::string> stage_names;
  for (size_t i = 0; i < c.stages.size(); ++i) {
    const auto& s = c.stages[i];
    const std::string f = At("stages", i);
    if (!ValidName(s.name)) return f + ".name: must be 1 to 64 characters";
    if (!stage_names.insert(s.name).second) return f + ".name: '" + s.name + "' is used twice";
    if (s.min_visits < 0 || s.min_spend_minor < 0 || s.min_tenure_days < 0 || s.min_categories < 0 ||
        s.max_days_since_visit < 0 || s.min_engagements < 0) {
      return f + ": thresholds must not be negative";
    }
    if (i == 0) {
      if (s.min_visits || s.min_spend_minor || s.min_tenure_days || s.min_categories || s.max_days_since_visit ||
          s.min_engagements) {
        return f + ": the first stage is everyone's; its thresholds must be 0";
      }
      continue;
    }
    const auto& prev = c.stages[i - 1];
    if (s.min_visits < prev.min_visits) return f + ".min_visits: must not be below " + At("stages", i - 1) + "'s";
    if (s.min_spend_minor < prev.min_spend_minor) return f + ".min_spend_minor: must not be below " + At("stages", i - 1) + "'s";
  }
  if (c.stage_window_days < 1 || c.stage_window_days > kMaxWindowDays) return "stage_window_days: must be between 1 and 1095";

  if (c.offers.size() > kMaxOffers) return "offers: at most 200";
  std::set<std::string> offer_ids;
  for (size_t i = 0; i < c.offers.size(); ++i) {
    const auto& o = c.offers[i];
    const std::string f = At("offers", i);
    if (!ValidName(o.id)) return f + ".id: must be 1 to 64 characters";
    if (!offer_ids.insert(o.id).second) return f + ".id: '" + o.id + "' is used twice";
    if (o.title.empty() || o.title.size() > 128) return f + ".title: must be 1 to 128 characters (and kind set)";
    if (o.ends_at != 0 && o.ends_at <= o.starts_at) return f + ".ends_at: must be after starts_at";
    if (o.budget_redemptions < 0 || o.per_member_limit < 0 || o.min_basket_minor < 0) {
      return f + ": limits must not be negative";
    }
    for (const auto& t : o.tiers) {
      if (!tier_names.count(t)) return f + ".tiers: no tier named '" + t + "'";
    }
    for (const auto& s : o.stages) {
      if (!stage_names.count(s)) return f + ".stages: no stage named '" + s + "'";
    }
    switch (o.kind) {
      case OfferKind::kPercentOff:
        if (o.percent_off < 1 || o.percent_off > 100) return f + ".percent_off: must be between 1 and 100";
        break;
      case OfferKind::kAmountOff:
        if (o.amount_off_minor < 1) return f + ".amount_off_minor: must be positive";
        break;
      case OfferKind::kPunchCard:
        if (o.punch_visits < 2 || o.punch_visits > 100) return f + ".punch_visits: must be between 2 and 100";
        break;
      default:
        if (o.bonus_points < 1 || o.bonus_points > 100'000) return f + ".bonus_points: must be between 1 and 100000";
        break;
    }
    if (o.kind == OfferKind::kWinBack && (o.lapse_pct < 100 || o.lapse_pct > 1000)) {
      return f + ".lapse_pct: must be between 100 and 1000";
    }
  }
  if (c.rewards.size() > kMaxRewards) return "rewards: at most 200";
  std::set<std::string> reward_ids;
  for (size_t i = 0; i < c.rewards.size(); ++i) {
    const auto& r = c.rewards[i];
    const std::string f = At("rewards", i);
    if (!ValidName(r.id)) return f + ".id: must be 1 to 64 characters";
    if (!reward_ids.insert(r.id).second) return f + ".id: '" + r.id + "' is used twice";
    if (r.title.empty() || r.title.size() > 128) return f + ".title: must be 1 to 128 characters";
    if (r.cost_points < 1 || r.cost_points > 1'000'000) return f + ".cost_points: must be between 1 and 1000000";
    if (r.max_value_minor < 1) return f + ".max_value_minor: must be positive";
    if (r.stock < 0) return f + ".stock: must not be negative";
    if (r.code_valid_days < 1 || r.code_valid_days > 365) return f + ".code_valid_days: must be between 1 and 365";
  }
  return "";
}

ProgramConfig DefaultProgram(std::string currency) {
  ProgramConfig c;
  c.version = 1;
  c.currency = std::move(currency);
  c.points_per_major_unit = 1;
  c.pending_days = 0;
  c.expiry_days = 365;
  c.tiers = {
      Tier{"Bronze", 0, 0, 100, {}},
      Tier{"Silver", 500'00, 12, 125, {"free refill"}},
      Tier{"Gold", 2000'00, 36, 150, {"free refill", "priority service"}},
  };
  c.tier_window_days = 365;
  c.tier_grace_days = 30;
  c.stages = {
      Stage{"new"},
      Stage{"occasional", 2, 0, 0, 0, 180, 0},
      Stage{"regular", 6, 0, 60, 0, 90, 0},
      Stage{"loyal", 12, 300'00, 180, 2, 60, 0},
      Stage{"client", 24, 1000'00, 365, 3, 45, 0},
  };
  c.stage_window_days = 365;
  return c;
}

}  // namespace loyalty::engine
