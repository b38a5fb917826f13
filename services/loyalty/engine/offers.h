// services/loyalty/engine/offers.h: personal offers, rewards and basket
// evaluation. Pure and deterministic, like the rest of the engine.
//
// Personalisation: for each member, every offer template is checked against
// its targeting (validity, stores, tiers, stages, category affinity, lapse,
// per-member limit, budget) and scored from the member's own history:
//   affinity   the member's spend in the offer's categories, decayed with time
//              (weight = spend x 90 / (90 + days since last bought))
//   cadence    the member's own average days between visits; a win-back
//              targets members later than lapse_pct of their usual rhythm
//   distance   how close the member is to the next tier or stage (nudges)
// Offers are ranked by score (then id) and each carries its reason in words.
//
// Stacking at the terminal (EvaluateBasket = RecordSale, same function):
//  1. Each line gets at most one offer discount: the largest among the
//     applicable percent-off, amount-off and punch-card offers.
//  2. Reward codes then take one unit of the cheapest matching line off (up
//     to the reward's value), each code on a different unit.
//  3. Points are earned on what the member pays (line net less discounts).
//  4. Bonus-point offers add their points once per sale.
// The sale total is what the member pays: sum of line nets less discounts.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "services/loyalty/engine/engine.h"

namespace loyalty::engine {

// Program-wide offer facts: how much of each offer's budget is used.
struct OfferContext {
  std::map<std::string, int64_t> budget_used;  // offer id -> redemptions so far, all members
};

struct PersonalOffer {
  const OfferTemplate* offer = nullptr;
  int64_t score = 0;
  std::string reason;  // "You are 2 visits from Gold."
};

// The offers that fit this member now, best first.
std::vector<PersonalOffer> PersonalOffers(const ProgramConfig& program, const MemberState& state,
                                          const OfferContext& context, Seconds now);

// A line's loyalty discount.
struct LineDiscount {
  size_t line = 0;
  int64_t discount_minor = 0;
  std::string source_id;  // offer or reward id
};

struct BasketResult {
  std::vector<LineDiscount> discounts;
  std::vector<std::string> applied_offer_ids;  // offers that gave a discount or bonus
  std::vector<std::string> punched_offer_ids;  // punch cards this basket counts as a visit for
  int64_t discount_total_minor = 0;
  int64_t bonus_points = 0;
  std::vector<int64_t> paid_minor;             // per line: net less every discount
  SaleEarn earn;                               // on what the member pays
  int64_t points_total = 0;                    // earn.points + bonus_points
  int32_t unusable_rewards = 0;                // codes with no matching unit left
};

// What the basket gets: every personal offer that applies to it, and
// `rewards` (one per redeemed code). `sale.lines[].net_minor` is before
// loyalty discounts. Read-only: the state is refreshed on a copy.
BasketResult EvaluateBasket(const ProgramConfig& program, const MemberState& state, const OfferContext& context,
                            const SaleInput& sale, const std::vector<const Reward*>& rewards, Seconds now);

// Records the sale exactly as EvaluateBasket described it: discounts, points
// on what is paid, bonus points (in the sale's batch), offer uses and punches.
BasketResult RecordBasketSale(const ProgramConfig& program, MemberState& state, const OfferContext& context,
                              const SaleInput& sale, const std::vector<const Reward*>& rewards, uint64_t batch_id,
                              Seconds now, std::vector<Entry>& entries);

// The member's average days between visits, or 0 with fewer than 2 visits.
int64_t CadenceDays(const MemberState& state);

}  // namespace loyalty::engine
