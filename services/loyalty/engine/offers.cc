#include "services/loyalty/engine/offers.h"

#include <algorithm>
#include <cassert>

namespace loyalty::engine {
namespace {

bool Contains(const std::vector<std::string>& list, const std::string& value) {
  return std::find(list.begin(), list.end(), value) != list.end();
}

bool InWindow(const OfferTemplate& o, Seconds now) {
  return now >= o.starts_at && (o.ends_at == 0 || now < o.ends_at);
}

bool LineMatches(const std::vector<std::string>& categories, const std::vector<std::string>& skus,
                 const SaleLine& line) {
  if (categories.empty() && skus.empty()) return true;
  return Contains(categories, line.category) || Contains(skus, line.sku);
}

bool IsBonusKind(OfferKind k) {
  return k == OfferKind::kBonusPoints || k == OfferKind::kBirthday || k == OfferKind::kWinBack ||
         k == OfferKind::kTierNudge || k == OfferKind::kStageNudge;
}

// Spend in `categories` (all if empty), each category's lifetime spend
// decayed by how long ago it was last bought: x 90 / (90 + days).
int64_t AffinityMinor(const MemberState& s, const std::vector<std::string>& categories, Seconds now) {
  int64_t total = 0;
  for (const auto& c : s.categories) {
    if (!categories.empty() && !Contains(categories, c.category)) continue;
    const int64_t days = std::max<int64_t>(0, (now - c.last_at) / kDay);
    total += c.spend_minor * 90 / (90 + days);
  }
  return total;
}

bool BirthdayWeek(const std::string& mmdd, Seconds now) {
  if (mmdd.size() != 5) return false;
  for (int d = 0; d < 7; ++d) {
    if (FormatDate(now - d * kDay).substr(5) == mmdd) return true;
  }
  return false;
}

std::string Times(int64_t n) { return std::to_string(n) + (n == 1 ? " visit" : " visits"); }

// Whether targeting lets `o` reach this member now; if so, its score and reason.
bool Target(const ProgramConfig& p, const OfferTemplate& o, const MemberState& s, const OfferContext& ctx,
            Seconds now, PersonalOffer& out) {
  if (!InWindow(o, now)) return false;
  if (o.per_member_limit > 0) {
    auto it = s.offer_uses.find(o.id);
    if (it != s.offer_uses.end() && it->second >= o.per_member_limit) return false;
  }
  if (o.budget_redemptions > 0) {
    auto it = ctx.budget_used.find(o.id);
    if (it != ctx.budget_used.end() && it->second >= o.budget_redemptions) return false;
  }
  if (!o.tiers.empty() && !Contains(o.tiers, TierName(p, s.tier))) return false;
  if (!o.stages.empty() && !Contains(o.stages, StageName(p, s.stage))) return false;
  if (!o.affinity_category.empty()) {
    const bool bought = std::any_of(s.categories.begin(), s.categories.end(),
                                    [&](const CategorySeen& c) { return c.category == o.affinity_category; });
    if (!bought) return false;
  }
  const int64_t affinity_major = AffinityMinor(s, o.categories, now) / 100;
  out.offer = &o;
  switch (o.kind) {
    case OfferKind::kBirthday:
      if (!BirthdayWeek(s.birthday_mmdd, now)) return false;
      out.score = 950;
      out.reason = "Happy birthday! Enjoy " + std::to_string(o.bonus_points) + " bonus points on your next visit.";
      return true;
    case OfferKind::kWinBack: {
      const int64_t cadence = CadenceDays(s);
      const int64_t since = s.last_visit_at == 0 ? 0 : (now - s.last_visit_at) / kDay;
      if (cadence == 0 || since < 7 || since * 100 <= cadence * o.lapse_pct) return false;
      out.score = 900 + std::min<int64_t>(99, since - cadence);
      out.reason = "We miss you! You usually visit every " + std::to_string(cadence) +
                   " days and it has been " + std::to_string(since) + ".";
      return true;
    }
    case OfferKind::kTierNudge: {
      const TierProgress t = TierProgressAt(p, s, now);
      if (t.next.empty() || t.keeping) return false;
      const bool close_by_visits = t.visits_needed > 0 && t.visits_needed <= 3;
      const Tier& next = p.tiers[s.tier + 1];
      const bool close_by_spend = t.spend_needed_minor > 0 && t.spend_needed_minor * 4 <= next.min_spend_minor;
      if (!close_by_visits && !close_by_spend) return false;
      out.score = 1000 + (close_by_visits ? 10 * (4 - t.visits_needed) : 5);
      out.reason = close_by_visits ? "You are " + Times(t.visits_needed) + " from " + t.next + "."
                                   : "You are " + FormatMoney(t.spend_needed_minor, p) + " from " + t.next + ".";
      return true;
    }
    case OfferKind::kStageNudge: {
      const StageProgress st = StageProgressAt(p, s, now);
      if (st.next.empty()) return false;
      out.score = 800;
      out.reason = st.next_step;
      return true;
    }
    case OfferKind::kPunchCard: {
      if (o.punch_visits <= 0) return false;
      auto it = s.punches.find(o.id);
      const int32_t punches = it == s.punches.end() ? 0 : it->second;
      const int32_t to_go = std::max(0, o.punch_visits - 1 - punches);
      out.score = 500 + 50 * punches + affinity_major;
      out.reason = to_go == 0 ? "Your next one is free: " + o.title + "."
                              : std::to_string(to_go) + " more " + (to_go == 1 ? "visit" : "visits") +
                                    " and the next one is free: " + o.title + ".";
      return true;
    }
    case OfferKind::kPercentOff:
    case OfferKind::kAmountOff:
    case OfferKind::kBonusPoints:
      out.score = 300 + std::min<int64_t>(600, affinity_major);
      out.reason = affinity_major > 0 && !o.categories.empty()
                       ? "Because you often buy " + o.categories.front() + "."
                       : "A little thank-you for shopping with us.";
      return true;
  }
  return false;
}

struct Candidate {
  int64_t discount = 0;
  const OfferTemplate* offer = nullptr;
};

}  // namespace

int64_t CadenceDays(const MemberState& s) {
  if (s.visits_total < 2 || s.last_visit_at <= s.first_visit_at) return 0;
  return std::max<int64_t>(1, (s.last_visit_at - s.first_visit_at) / kDay / (s.visits_total - 1));
}

std::vector<PersonalOffer> PersonalOffers(const ProgramConfig& p, const MemberState& s, const OfferContext& ctx,
                                          Seconds now) {
  std::vector<PersonalOffer> out;
  for (const auto& o : p.offers) {
    PersonalOffer po;
    if (Target(p, o, s, ctx, now, po)) out.push_back(std::move(po));
  }
  std::sort(out.begin(), out.end(), [](const PersonalOffer& a, const PersonalOffer& b) {
    return a.score != b.score ? a.score > b.score : a.offer->id < b.offer->id;
  });
  return out;
}

BasketResult EvaluateBasket(const ProgramConfig& p, const MemberState& state, const OfferContext& ctx,
                            const SaleInput& sale, const std::vector<const Reward*>& rewards, Seconds now) {
  MemberState s = state;
  Refresh(p, s, now);  // as RecordSale will see it
  BasketResult r;
  const size_t n = sale.lines.size();
  std::vector<Candidate> best(n);
  std::vector<bool> applied_any(p.offers.size(), false);

  for (const PersonalOffer& po : PersonalOffers(p, s, ctx, now)) {
    const OfferTemplate& o = *po.offer;
    if (!o.stores.empty() && !Contains(o.stores, sale.store_id)) continue;
    int64_t matching = 0;
    for (const auto& line : sale.lines) {
      if (LineMatches(o.categories, o.skus, line)) matching += line.net_minor;
    }
    if (o.kind == OfferKind::kPunchCard && matching > 0) r.punched_offer_ids.push_back(o.id);
    if (matching == 0 || matching < o.min_basket_minor) continue;
    const size_t index = static_cast<size_t>(&o - p.offers.data());
    if (IsBonusKind(o.kind)) {
      r.bonus_points += o.bonus_points;
      applied_any[index] = true;
      continue;
    }
    // Discount kinds: this offer's discount per line; the largest per line wins.
    int64_t amount_left = o.amount_off_minor;
    bool punch_given = false;
    // Punch card: one unit of the cheapest matching line.
    size_t cheapest = n;
    if (o.kind == OfferKind::kPunchCard) {
      auto it = s.punches.find(o.id);
      const int32_t punches = it == s.punches.end() ? 0 : it->second;
      if (punches + 1 < o.punch_visits) continue;
      for (size_t i = 0; i < n; ++i) {
        if (!LineMatches(o.categories, o.skus, sale.lines[i])) continue;
        const int64_t unit = sale.lines[i].net_minor / sale.lines[i].quantity;
        if (cheapest == n || unit < sale.lines[cheapest].net_minor / sale.lines[cheapest].quantity) cheapest = i;
      }
    }
    for (size_t i = 0; i < n; ++i) {
      const SaleLine& line = sale.lines[i];
      if (!LineMatches(o.categories, o.skus, line)) continue;
      int64_t d = 0;
      if (o.kind == OfferKind::kPercentOff) {
        d = line.net_minor * o.percent_off / 100;
      } else if (o.kind == OfferKind::kAmountOff) {
        d = std::min(line.net_minor, amount_left);
        amount_left -= d;
      } else if (o.kind == OfferKind::kPunchCard && i == cheapest && !punch_given) {
        d = line.net_minor / line.quantity;
        punch_given = true;
      }
      if (d > best[i].discount) best[i] = Candidate{d, &o};
    }
  }
  for (size_t i = 0; i < n; ++i) {
    if (best[i].offer == nullptr) continue;
    r.discounts.push_back({i, best[i].discount, best[i].offer->id});
    applied_any[static_cast<size_t>(best[i].offer - p.offers.data())] = true;
  }
  for (size_t k = 0; k < p.offers.size(); ++k) {
    if (applied_any[k]) r.applied_offer_ids.push_back(p.offers[k].id);
  }

  // Rewards: each code takes one unit of the cheapest matching line left.
  std::vector<int64_t> paid(n);
  std::vector<int32_t> free_units(n, 0);
  for (size_t i = 0; i < n; ++i) paid[i] = sale.lines[i].net_minor - best[i].discount;
  for (const Reward* reward : rewards) {
    assert(reward != nullptr);
    size_t pick = n;
    for (size_t i = 0; i < n; ++i) {
      if (!LineMatches(reward->categories, {}, sale.lines[i])) continue;
      if (free_units[i] >= sale.lines[i].quantity || paid[i] <= 0) continue;
      const int64_t unit = sale.lines[i].net_minor / sale.lines[i].quantity;
      if (pick == n || unit < sale.lines[pick].net_minor / sale.lines[pick].quantity) pick = i;
    }
    if (pick == n) {
      ++r.unusable_rewards;
      continue;
    }
    const int64_t unit = sale.lines[pick].net_minor / sale.lines[pick].quantity;
    const int64_t d = std::min({unit, reward->max_value_minor, paid[pick]});
    paid[pick] -= d;
    ++free_units[pick];
    r.discounts.push_back({pick, d, reward->id});
  }

  SaleInput discounted = sale;
  for (size_t i = 0; i < n; ++i) {
    assert(paid[i] >= 0 && paid[i] <= sale.lines[i].net_minor);
    discounted.lines[i].net_minor = paid[i];
    r.discount_total_minor += sale.lines[i].net_minor - paid[i];
  }
  r.paid_minor = paid;
  r.earn = QuoteSale(p, s, discounted);
  r.points_total = r.earn.points + r.bonus_points;
  return r;
}

BasketResult RecordBasketSale(const ProgramConfig& p, MemberState& s, const OfferContext& ctx,
                              const SaleInput& sale, const std::vector<const Reward*>& rewards, uint64_t batch_id,
                              Seconds now, std::vector<Entry>& entries) {
  BasketResult r = EvaluateBasket(p, s, ctx, sale, rewards, now);
  SaleInput discounted = sale;
  for (size_t i = 0; i < sale.lines.size(); ++i) discounted.lines[i].net_minor = r.paid_minor[i];
  const SaleEarn earn = RecordSale(p, s, discounted, batch_id, now, entries, r.bonus_points);
  assert(earn.points == r.earn.points);  // evaluation and recording agree
  for (const auto& id : r.applied_offer_ids) {
    s.offer_uses[id] += 1;
    s.offer_first_used.emplace(id, now);
  }
  for (const std::string& id : r.punched_offer_ids) {
    const bool freed = std::find(r.applied_offer_ids.begin(), r.applied_offer_ids.end(), id) !=
                       r.applied_offer_ids.end();
    s.punches[id] = freed ? 0 : s.punches[id] + 1;
  }
  return r;
}

}  // namespace loyalty::engine
