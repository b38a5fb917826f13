#include "services/loyalty/engine/engine.h"

#include <algorithm>
#include <cassert>
#include <cstdio>

namespace loyalty::engine {
namespace {

int64_t DayOf(Seconds t) { return t >= 0 ? t / kDay : (t - kDay + 1) / kDay; }

bool Contains(const std::vector<std::string>& list, const std::string& value) {
  return std::find(list.begin(), list.end(), value) != list.end();
}

int32_t CategoryPct(const ProgramConfig& p, const std::string& category) {
  for (const auto& m : p.category_multipliers) {
    if (m.category == category) return m.multiplier_pct;
  }
  return 100;
}

int32_t TierPct(const ProgramConfig& p, int32_t tier) {
  if (tier < 0 || tier >= static_cast<int32_t>(p.tiers.size())) return 100;
  return p.tiers[tier].earn_multiplier_pct;
}

// The best running promotion for this store, category and time.
const Promotion* BestPromotion(const ProgramConfig& p, const std::string& store,
                               const std::string& category, Seconds at) {
  const Promotion* best = nullptr;
  for (const auto& promo : p.promotions) {
    if (at < promo.starts_at || at >= promo.ends_at) continue;
    if (!promo.stores.empty() && !Contains(promo.stores, store)) continue;
    if (!promo.categories.empty() && !Contains(promo.categories, category)) continue;
    if (best == nullptr || promo.multiplier_pct > best->multiplier_pct) best = &promo;
  }
  return best;
}

int64_t CapUsed(const MemberState& s, int64_t month) { return s.cap_month == month ? s.cap_points : 0; }

// Spending order: first expiring first (never-expiring last), then oldest.
bool SpentBefore(const Batch& a, const Batch& b) {
  const Seconds ea = a.expires_at == 0 ? INT64_MAX : a.expires_at;
  const Seconds eb = b.expires_at == 0 ? INT64_MAX : b.expires_at;
  return ea != eb ? ea < eb : a.id < b.id;
}

// Drops batches with nothing left that no return can still reach.
void PruneBatches(const ProgramConfig& p, std::vector<Batch>& batches, Seconds now) {
  const Seconds keep_after = now - static_cast<Seconds>(std::max(p.pending_days, 30)) * kDay;
  std::erase_if(batches, [&](const Batch& b) { return b.remaining == 0 && b.earned_at < keep_after; });
}

// Adds a batch, repaying debt from it first.
void AddBatch(const ProgramConfig& p, MemberState& s, uint64_t id, Seconds earned_at,
              Seconds available_at, int64_t points) {
  assert(points >= 0);
  Batch b;
  b.id = id;
  b.earned_at = earned_at;
  b.available_at = available_at;
  b.expires_at = p.expiry_days > 0 ? earned_at + static_cast<Seconds>(p.expiry_days) * kDay : 0;
  b.points = points;
  const int64_t repay = std::min(s.debt, points);
  s.debt -= repay;
  b.remaining = points - repay;
  // Inserted in place rather than sorted after: a regular's history holds
  // hundreds of batches, and a new one almost always goes last.
  assert(std::is_sorted(s.batches.begin(), s.batches.end(), SpentBefore));
  s.batches.insert(std::upper_bound(s.batches.begin(), s.batches.end(), b, SpentBefore), b);
}

// Takes `points` from batches matching `eligible`, in spending order; returns what was taken.
template <class Pred>
int64_t TakeFromBatches(MemberState& s, int64_t points, Pred eligible) {
  int64_t taken = 0;
  for (auto& b : s.batches) {
    if (taken == points) break;
    if (b.remaining == 0 || !eligible(b)) continue;
    const int64_t take = std::min(b.remaining, points - taken);
    b.remaining -= take;
    taken += take;
  }
  return taken;
}

int64_t LongestWindowDays(const ProgramConfig& p) {
  return std::max(p.tier_window_days, p.stage_window_days);
}

void AddCredit(const ProgramConfig& p, MemberState& s, Seconds at, int64_t spend, int32_t visits,
               Seconds now) {
  const int64_t day = DayOf(at);
  if (day <= DayOf(now) - LongestWindowDays(p)) return;  // already outside every window
  auto it = std::lower_bound(s.credits.begin(), s.credits.end(), day,
                             [](const CreditDay& c, int64_t d) { return c.day < d; });
  if (it == s.credits.end() || it->day != day) it = s.credits.insert(it, CreditDay{day, 0, 0});
  it->spend_minor = std::max<int64_t>(0, it->spend_minor + spend);
  it->visits = std::max(0, it->visits + visits);
}

struct WindowTotals {
  int64_t spend_minor = 0;
  int32_t visits = 0;
  int64_t oldest_day = -1;  // oldest day with credit in the window, -1 if none
};

WindowTotals Totals(const MemberState& s, int32_t window_days, Seconds now) {
  WindowTotals t;
  const int64_t first_day = DayOf(now) - window_days + 1;
  for (const auto& c : s.credits) {
    if (c.day < first_day || c.day > DayOf(now)) continue;
    if (c.spend_minor == 0 && c.visits == 0) continue;
    if (t.oldest_day < 0) t.oldest_day = c.day;
    t.spend_minor += c.spend_minor;
    t.visits += c.visits;
  }
  return t;
}

bool QualifiesFor(const Tier& tier, const WindowTotals& t) {
  const bool by_spend = tier.min_spend_minor > 0 && t.spend_minor >= tier.min_spend_minor;
  const bool by_visits = tier.min_visits > 0 && t.visits >= tier.min_visits;
  return by_spend || by_visits || (tier.min_spend_minor == 0 && tier.min_visits == 0);
}

int32_t QualifiedTier(const ProgramConfig& p, const WindowTotals& t) {
  int32_t best = 0;
  for (int32_t i = 1; i < static_cast<int32_t>(p.tiers.size()); ++i) {
    if (QualifiesFor(p.tiers[i], t)) best = i;
  }
  return best;
}

int32_t CategoriesSince(const MemberState& s, Seconds since) {
  int32_t n = 0;
  for (const auto& c : s.categories) n += c.last_at >= since ? 1 : 0;
  return n;
}

struct StageInputs {
  WindowTotals window;
  int32_t tenure_days = 0;
  int32_t categories = 0;
  int64_t days_since_visit = -1;  // -1: never visited
  int32_t engagements = 0;
};

StageInputs InputsAt(const ProgramConfig& p, const MemberState& s, Seconds now) {
  StageInputs in;
  in.window = Totals(s, p.stage_window_days, now);
  in.tenure_days = static_cast<int32_t>(std::max<int64_t>(0, (now - s.enrolled_at) / kDay));
  in.categories = CategoriesSince(s, now - static_cast<Seconds>(p.stage_window_days) * kDay);
  in.days_since_visit = s.last_visit_at == 0 ? -1 : std::max<int64_t>(0, (now - s.last_visit_at) / kDay);
  in.engagements = s.engagements;
  return in;
}

bool MeetsStage(const Stage& st, const StageInputs& in) {
  if (st.min_visits > 0 && in.window.visits < st.min_visits) return false;
  if (st.min_spend_minor > 0 && in.window.spend_minor < st.min_spend_minor) return false;
  if (st.min_tenure_days > 0 && in.tenure_days < st.min_tenure_days) return false;
  if (st.min_categories > 0 && in.categories < st.min_categories) return false;
  if (st.max_days_since_visit > 0 &&
      (in.days_since_visit < 0 || in.days_since_visit > st.max_days_since_visit)) {
    return false;
  }
  if (st.min_engagements > 0 && in.engagements < st.min_engagements) return false;
  return true;
}

std::string Plural(int64_t n, const char* one, const char* many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

// Howard Hinnant's civil_from_days: days since 1970-01-01 -> y, m, d.
void CivilFromDays(int64_t z, int64_t& y, unsigned& m, unsigned& d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  y = static_cast<int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  y += m <= 2;
}

}  // namespace

std::string FormatDate(Seconds t) {
  int64_t y;
  unsigned m, d;
  CivilFromDays(DayOf(t), y, m, d);
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%04lld-%02u-%02u", static_cast<long long>(y), m, d);
  return buf;
}

int64_t MonthIndex(Seconds t) {
  int64_t y;
  unsigned m, d;
  CivilFromDays(DayOf(t), y, m, d);
  return (y - 1970) * 12 + (m - 1);
}

std::string FormatMoney(int64_t minor, const ProgramConfig& p) {
  const int64_t unit = p.minor_units_per_major;
  std::string out = minor < 0 ? "-" : "";
  const int64_t abs = minor < 0 ? -minor : minor;
  out += std::to_string(abs / unit);
  if (unit > 1) {
    std::string frac = std::to_string(abs % unit);
    const size_t digits = std::to_string(unit).size() - 1;
    out += "." + std::string(digits - std::min(digits, frac.size()), '0') + frac;
  }
  return out + " " + p.currency;
}

std::string TierName(const ProgramConfig& p, int32_t tier) {
  if (p.tiers.empty()) return "Member";
  assert(tier >= 0 && tier < static_cast<int32_t>(p.tiers.size()));
  return p.tiers[tier].name;
}

std::string StageName(const ProgramConfig& p, int32_t stage) {
  if (p.stages.empty()) return "new";
  assert(stage >= 0 && stage < static_cast<int32_t>(p.stages.size()));
  return p.stages[stage].name;
}

MemberState EnrolledMember(Seconds enrolled_at) {
  MemberState s;
  s.enrolled_at = enrolled_at;
  s.tier_since = enrolled_at;
  s.stage_since = enrolled_at;
  return s;
}

SaleEarn QuoteSale(const ProgramConfig& p, const MemberState& s, const SaleInput& sale) {
  SaleEarn out;
  const int64_t month = MonthIndex(sale.occurred_at);
  int64_t cap_left = p.max_points_per_month > 0
                         ? std::max<int64_t>(0, p.max_points_per_month - CapUsed(s, month))
                         : INT64_MAX;
  const int32_t tier_pct = TierPct(p, s.tier);
  for (const auto& line : sale.lines) {
    LineEarn e;
    if (Contains(p.excluded_categories, line.category) || Contains(p.excluded_skus, line.sku)) {
      e.excluded = true;
      e.multiplier_pct = 0;
      out.lines.push_back(e);
      continue;
    }
    e.credit_minor = line.net_minor;
    const Promotion* promo = BestPromotion(p, sale.store_id, line.category, sale.occurred_at);
    const int32_t promo_pct = promo ? promo->multiplier_pct : 100;
    if (promo) e.promotion_id = promo->id;
    const int32_t cat_pct = CategoryPct(p, line.category);
    // 128-bit: net (< 2^40) x base (< 2^10) x three percentages (< 2^10 each).
    const __int128 numerator = static_cast<__int128>(line.net_minor) * p.points_per_major_unit *
                               cat_pct * tier_pct * promo_pct;
    const __int128 denominator = static_cast<__int128>(p.minor_units_per_major) * 100 * 100 * 100;
    const int64_t uncapped = static_cast<int64_t>(numerator / denominator);
    e.multiplier_pct = static_cast<int32_t>(static_cast<int64_t>(cat_pct) * tier_pct * promo_pct / 10000);
    e.points = std::min(uncapped, cap_left);
    if (cap_left != INT64_MAX) cap_left -= e.points;
    out.capped_points += uncapped - e.points;
    out.points += e.points;
    out.lines.push_back(e);
  }
  assert(out.lines.size() == sale.lines.size());
  assert(out.points >= 0 && out.capped_points >= 0);
  return out;
}

SaleEarn RecordSale(const ProgramConfig& p, MemberState& s, const SaleInput& sale, uint64_t batch_id,
                    Seconds now, std::vector<Entry>& entries, int64_t bonus_points) {
  assert(bonus_points >= 0);
  Refresh(p, s, now);  // the tier held when the sale is recorded
  SaleEarn earn = QuoteSale(p, s, sale);
  const int64_t total_before = LedgerTotal(s);
  if (earn.points + bonus_points > 0) {
    AddBatch(p, s, batch_id, sale.occurred_at,
             sale.occurred_at + static_cast<Seconds>(p.pending_days) * kDay, earn.points + bonus_points);
    entries.push_back({EntryKind::kEarn, earn.points + bonus_points});
    const int64_t month = MonthIndex(sale.occurred_at);
    if (p.max_points_per_month > 0) {
      if (s.cap_month != month) {
        // Late events of an older month do not reset the current month's use.
        if (month > s.cap_month) {
          s.cap_month = month;
          s.cap_points = 0;
        }
      }
      if (s.cap_month == month) s.cap_points += earn.points;
    }
  }
  int64_t credit = 0;
  for (size_t i = 0; i < sale.lines.size(); ++i) {
    credit += earn.lines[i].credit_minor;
    if (earn.lines[i].excluded) continue;
    const auto& cat = sale.lines[i].category;
    auto it = std::find_if(s.categories.begin(), s.categories.end(),
                           [&](const CategorySeen& c) { return c.category == cat; });
    if (it == s.categories.end()) {
      if (s.categories.size() >= kMaxCategoriesTracked) continue;
      s.categories.push_back(CategorySeen{cat, 0, 0});
      it = s.categories.end() - 1;
    }
    it->last_at = std::max(it->last_at, sale.occurred_at);
    it->spend_minor += sale.lines[i].net_minor;
  }
  AddCredit(p, s, sale.occurred_at, credit, 1, now);
  s.visits_total += 1;
  if (s.first_visit_at == 0 || sale.occurred_at < s.first_visit_at) s.first_visit_at = sale.occurred_at;
  s.last_visit_at = std::max(s.last_visit_at, sale.occurred_at);
  Refresh(p, s, now);  // an upgrade applies at once
  assert(LedgerTotal(s) == total_before + earn.points + bonus_points);
  return earn;
}

void RecordReversal(const ProgramConfig& p, MemberState& s, const Reversal& r, Seconds now,
                    std::vector<Entry>& entries) {
  assert(r.points >= 0 && r.credit_minor >= 0);
  const int64_t total_before = LedgerTotal(s);
  if (r.points > 0) {
    const int64_t taken = TakeFromBatches(s, r.points, [&](const Batch& b) { return b.id == r.batch_id; });
    // What the sale's batch no longer holds (spent, expired) becomes debt.
    s.debt += r.points - taken;
    entries.push_back({EntryKind::kReverse, -r.points});
  }
  AddCredit(p, s, r.sale_at, -r.credit_minor, r.remove_visit ? -1 : 0, now);
  PruneBatches(p, s.batches, now);
  Refresh(p, s, now);
  assert(LedgerTotal(s) == total_before - r.points);
}

bool Spend(const ProgramConfig& p, MemberState& s, int64_t points, Seconds now, std::vector<Entry>& entries) {
  assert(points > 0);
  if (BalanceAt(s, now).available < points) return false;
  const int64_t taken = TakeFromBatches(s, points, [&](const Batch& b) { return b.available_at <= now; });
  assert(taken == points);
  entries.push_back({EntryKind::kRedeem, -points});
  PruneBatches(p, s.batches, now);
  return true;
}

void Adjust(const ProgramConfig& p, MemberState& s, int64_t delta, uint64_t batch_id, Seconds now,
            std::vector<Entry>& entries) {
  assert(delta != 0);
  const int64_t total_before = LedgerTotal(s);
  if (delta > 0) {
    AddBatch(p, s, batch_id, now, now, delta);
  } else {
    const int64_t want = -delta;
    int64_t taken = TakeFromBatches(s, want, [&](const Batch& b) { return b.available_at <= now; });
    taken += TakeFromBatches(s, want - taken, [](const Batch&) { return true; });
    s.debt += want - taken;
    PruneBatches(p, s.batches, now);
  }
  entries.push_back({EntryKind::kAdjust, delta});
  assert(LedgerTotal(s) == total_before + delta);
}

void Expire(const ProgramConfig& p, MemberState& s, Seconds now, std::vector<Entry>& entries) {
  int64_t expired = 0;
  for (auto& b : s.batches) {
    if (b.expires_at == 0 || b.expires_at > now || b.remaining == 0) continue;
    expired += b.remaining;
    b.remaining = 0;
  }
  if (expired > 0) entries.push_back({EntryKind::kExpire, -expired});
  PruneBatches(p, s.batches, now);
}

void Refresh(const ProgramConfig& p, MemberState& s, Seconds now) {
  // Prune credit no window can see any more.
  const int64_t oldest_kept = DayOf(now) - LongestWindowDays(p) + 1;
  std::erase_if(s.credits, [&](const CreditDay& c) { return c.day < oldest_kept; });

  if (!p.tiers.empty()) {
    s.tier = std::clamp<int32_t>(s.tier, 0, static_cast<int32_t>(p.tiers.size()) - 1);
    const int32_t qualified = QualifiedTier(p, Totals(s, p.tier_window_days, now));
    if (qualified > s.tier) {
      s.tier = qualified;
      s.tier_since = now;
      s.grace_until = 0;
    } else if (qualified == s.tier) {
      s.grace_until = 0;
    } else if (s.grace_until == 0) {
      s.grace_until = now + static_cast<Seconds>(p.tier_grace_days) * kDay;
    } else if (now >= s.grace_until) {
      s.tier = qualified;
      s.tier_since = now;
      s.grace_until = 0;
    }
  } else {
    s.tier = 0;
  }

  int32_t stage = 0;
  if (!p.stages.empty()) {
    const StageInputs in = InputsAt(p, s, now);
    for (int32_t i = 1; i < static_cast<int32_t>(p.stages.size()); ++i) {
      if (MeetsStage(p.stages[i], in)) stage = i;
    }
  }
  if (stage != s.stage) {
    s.stage_history.push_back(StageChange{s.stage, stage, now});
    if (s.stage_history.size() > kMaxStageHistory) s.stage_history.erase(s.stage_history.begin());
    s.stage = stage;
    s.stage_since = now;
  }
}

int64_t LedgerTotal(const MemberState& s) {
  int64_t total = -s.debt;
  for (const auto& b : s.batches) total += b.remaining;
  return total;
}

Balance BalanceAt(const MemberState& s, Seconds now) {
  Balance b;
  for (const auto& batch : s.batches) {
    if (batch.available_at > now) b.pending += batch.remaining;
  }
  b.available = LedgerTotal(s) - b.pending;
  return b;
}

TierProgress TierProgressAt(const ProgramConfig& p, const MemberState& s, Seconds now) {
  TierProgress out;
  out.current = TierName(p, s.tier);
  if (p.tiers.empty()) {
    out.message = "Every member earns the same.";
    return out;
  }
  const WindowTotals t = Totals(s, p.tier_window_days, now);
  const Tier* target = nullptr;
  if (s.grace_until != 0) {
    out.keeping = true;
    target = &p.tiers[s.tier];
    out.by = s.grace_until;
  } else if (s.tier + 1 < static_cast<int32_t>(p.tiers.size())) {
    target = &p.tiers[s.tier + 1];
    out.next = target->name;
    // Credit starts leaving the window when its oldest day turns window-old.
    const int64_t oldest = t.oldest_day >= 0 ? t.oldest_day : DayOf(now);
    out.by = (oldest + p.tier_window_days) * kDay - 1;
  } else {
    out.message = "You are at our top tier, " + out.current + ".";
    return out;
  }
  out.spend_needed_minor = target->min_spend_minor > 0 ? std::max<int64_t>(0, target->min_spend_minor - t.spend_minor) : 0;
  out.visits_needed = target->min_visits > 0 ? std::max(0, target->min_visits - t.visits) : 0;
  std::string what;
  if (out.spend_needed_minor > 0) what = "Spend " + FormatMoney(out.spend_needed_minor, p);
  if (out.visits_needed > 0) {
    what += (what.empty() ? "Visit " : " or visit ") + Plural(out.visits_needed, "more time", "more times");
  }
  out.message = what + " by " + FormatDate(out.by) + (out.keeping ? " to keep " : " to reach ") + target->name + ".";
  return out;
}

StageProgress StageProgressAt(const ProgramConfig& p, const MemberState& s, Seconds now) {
  StageProgress out;
  out.current = StageName(p, s.stage);
  if (s.stage + 1 >= static_cast<int32_t>(p.stages.size())) {
    out.next_step = p.stages.empty() ? "" : "You are one of our closest clients. Thank you.";
    return out;
  }
  const Stage& next = p.stages[s.stage + 1];
  out.next = next.name;
  const StageInputs in = InputsAt(p, s, now);
  std::vector<std::string> steps;
  if (next.max_days_since_visit > 0 &&
      (in.days_since_visit < 0 || in.days_since_visit > next.max_days_since_visit)) {
    steps.push_back("come back soon");
  }
  if (next.min_visits > in.window.visits) {
    steps.push_back("visit " + Plural(next.min_visits - in.window.visits, "more time", "more times"));
  }
  if (next.min_spend_minor > in.window.spend_minor) {
    steps.push_back("spend " + FormatMoney(next.min_spend_minor - in.window.spend_minor, p) + " more");
  }
  if (next.min_categories > in.categories) {
    steps.push_back("try " + Plural(next.min_categories - in.categories, "more category", "more categories"));
  }
  if (next.min_engagements > in.engagements) {
    steps.push_back("use " + Plural(next.min_engagements - in.engagements, "more offer", "more offers"));
  }
  if (next.min_tenure_days > in.tenure_days) {
    steps.push_back("stay with us " + Plural(next.min_tenure_days - in.tenure_days, "more day", "more days"));
  }
  std::string text;
  for (size_t i = 0; i < steps.size(); ++i) {
    text += (i == 0 ? "" : i + 1 == steps.size() ? " and " : ", ") + steps[i];
  }
  if (!text.empty()) text[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(text[0])));
  out.next_step = text + " to become " + next.name + ".";
  return out;
}

}  // namespace loyalty::engine
