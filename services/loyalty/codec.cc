#include "services/loyalty/codec.h"

#include <algorithm>
#include <cstdint>
#include <vector>

namespace loyalty::codec {
namespace {

engine::Seconds Secs(const google::protobuf::Timestamp& t) { return t.seconds(); }
google::protobuf::Timestamp Stamp(engine::Seconds s) {
  google::protobuf::Timestamp t;
  t.set_seconds(s);
  return t;
}
std::vector<std::string> Strings(const google::protobuf::RepeatedPtrField<std::string>& r) {
  return {r.begin(), r.end()};
}
void PutStrings(const std::vector<std::string>& v, google::protobuf::RepeatedPtrField<std::string>* r) {
  for (const auto& s : v) *r->Add() = s;
}

// The packed columns of MemberEngineState (records.proto): values per batch
// and per credit day.
constexpr int kBatchColumns = 6;
constexpr int kCreditColumns = 3;

// a - b and base + delta in uint64 arithmetic: wraps instead of overflowing,
// so Add(b, Sub(a, b)) == a for every pair of values.
int64_t Sub(int64_t a, int64_t b) {
  return static_cast<int64_t>(static_cast<uint64_t>(a) - static_cast<uint64_t>(b));
}
int64_t Add(int64_t base, int64_t delta) {
  return static_cast<int64_t>(static_cast<uint64_t>(base) + static_cast<uint64_t>(delta));
}

void DecodeBatches(const google::protobuf::RepeatedField<int64_t>& c, std::vector<engine::Batch>& out) {
  out.reserve(out.size() + c.size() / kBatchColumns);
  int64_t id = 0;
  int64_t earned_at = 0;
  for (int i = 0; i + kBatchColumns <= c.size(); i += kBatchColumns) {
    id = Add(id, c[i]);
    earned_at = Add(earned_at, c[i + 1]);
    out.push_back({static_cast<uint64_t>(id), earned_at, Add(earned_at, c[i + 2]), Add(earned_at, c[i + 3]),
                   c[i + 4], c[i + 5]});
  }
}

void EncodeBatches(const std::vector<engine::Batch>& batches, google::protobuf::RepeatedField<int64_t>* out) {
  out->Reserve(static_cast<int>(batches.size()) * kBatchColumns);
  int64_t id = 0;
  int64_t earned_at = 0;
  for (const auto& b : batches) {
    out->AddAlreadyReserved(Sub(static_cast<int64_t>(b.id), id));
    out->AddAlreadyReserved(Sub(b.earned_at, earned_at));
    out->AddAlreadyReserved(Sub(b.available_at, b.earned_at));
    out->AddAlreadyReserved(Sub(b.expires_at, b.earned_at));
    out->AddAlreadyReserved(b.points);
    out->AddAlreadyReserved(b.remaining);
    id = static_cast<int64_t>(b.id);
    earned_at = b.earned_at;
  }
}

void DecodeCredits(const google::protobuf::RepeatedField<int64_t>& c, std::vector<engine::CreditDay>& out) {
  out.reserve(out.size() + c.size() / kCreditColumns);
  int64_t day = 0;
  for (int i = 0; i + kCreditColumns <= c.size(); i += kCreditColumns) {
    day = Add(day, c[i]);
    out.push_back({day, c[i + 1], static_cast<int32_t>(c[i + 2])});
  }
}

void EncodeCredits(const std::vector<engine::CreditDay>& credits, google::protobuf::RepeatedField<int64_t>* out) {
  out->Reserve(static_cast<int>(credits.size()) * kCreditColumns);
  int64_t day = 0;
  for (const auto& c : credits) {
    out->AddAlreadyReserved(Sub(c.day, day));
    out->AddAlreadyReserved(c.spend_minor);
    out->AddAlreadyReserved(c.visits);
    day = c.day;
  }
}

}  // namespace

bool WellFormed(const internal::MemberEngineState& p) {
  // A record is in one format or the other; both at once was never written
  // and would put the two lists out of order.
  const bool legacy = p.batches_size() > 0 || p.credits_size() > 0;
  const bool packed = p.batch_columns_size() > 0 || p.credit_columns_size() > 0;
  return !(legacy && packed) && p.batch_columns_size() % kBatchColumns == 0 &&
         p.credit_columns_size() % kCreditColumns == 0;
}

engine::MemberState FromProto(const internal::MemberEngineState& p) {
  engine::MemberState s;
  s.enrolled_at = p.enrolled_at();
  for (const auto& b : p.batches()) {  // a record written before the packed columns
    s.batches.push_back({b.id(), b.earned_at(), b.available_at(), b.expires_at(), b.points(), b.remaining()});
  }
  DecodeBatches(p.batch_columns(), s.batches);
  s.debt = p.debt();
  for (const auto& c : p.credits()) s.credits.push_back({c.day(), c.spend_minor(), c.visits()});
  DecodeCredits(p.credit_columns(), s.credits);
  s.tier = p.tier();
  s.tier_since = p.tier_since();
  s.grace_until = p.grace_until();
  s.stage = p.stage();
  s.stage_since = p.stage_since();
  for (const auto& h : p.stage_history()) s.stage_history.push_back({h.from(), h.to(), h.at()});
  s.first_visit_at = p.first_visit_at();
  s.last_visit_at = p.last_visit_at();
  for (const auto& c : p.categories()) s.categories.push_back({c.category(), c.last_at(), c.spend_minor()});
  s.engagements = p.engagements();
  s.cap_month = p.cap_month();
  s.cap_points = p.cap_points();
  s.visits_total = p.visits_total();
  s.birthday_mmdd = p.birthday_mmdd();
  s.offer_uses = {p.offer_uses().begin(), p.offer_uses().end()};
  s.punches = {p.punches().begin(), p.punches().end()};
  s.offer_first_used = {p.offer_first_used().begin(), p.offer_first_used().end()};
  return s;
}

internal::MemberEngineState ToProto(const engine::MemberState& s) {
  internal::MemberEngineState p;
  ToProto(s, &p);
  return p;
}

void ToProto(const engine::MemberState& s, internal::MemberEngineState* out) {
  out->Clear();
  internal::MemberEngineState& p = *out;
  p.set_enrolled_at(s.enrolled_at);
  EncodeBatches(s.batches, p.mutable_batch_columns());
  p.set_debt(s.debt);
  EncodeCredits(s.credits, p.mutable_credit_columns());
  p.set_tier(s.tier);
  p.set_tier_since(s.tier_since);
  p.set_grace_until(s.grace_until);
  p.set_stage(s.stage);
  p.set_stage_since(s.stage_since);
  for (const auto& h : s.stage_history) {
    auto* o = p.add_stage_history();
    o->set_from(h.from);
    o->set_to(h.to);
    o->set_at(h.at);
  }
  p.set_first_visit_at(s.first_visit_at);
  p.set_last_visit_at(s.last_visit_at);
  for (const auto& c : s.categories) {
    auto* o = p.add_categories();
    o->set_category(c.category);
    o->set_last_at(c.last_at);
    o->set_spend_minor(c.spend_minor);
  }
  p.set_engagements(s.engagements);
  p.set_cap_month(s.cap_month);
  p.set_cap_points(s.cap_points);
  p.set_visits_total(s.visits_total);
  p.set_birthday_mmdd(s.birthday_mmdd);
  for (const auto& [id, n] : s.offer_uses) (*p.mutable_offer_uses())[id] = n;
  for (const auto& [id, n] : s.punches) (*p.mutable_punches())[id] = n;
  for (const auto& [id, t] : s.offer_first_used) (*p.mutable_offer_first_used())[id] = t;
}

engine::ProgramConfig FromProto(const v1::Program& p) {
  engine::ProgramConfig c;
  c.version = p.version();
  c.currency = p.currency();
  c.minor_units_per_major = p.minor_units_per_major() == 0 ? 100 : p.minor_units_per_major();
  c.points_per_major_unit = p.points_per_major_unit();
  for (const auto& m : p.category_multipliers()) c.category_multipliers.push_back({m.category(), m.multiplier_pct()});
  c.excluded_categories = Strings(p.excluded_categories());
  c.excluded_skus = Strings(p.excluded_skus());
  for (const auto& pr : p.promotions()) {
    c.promotions.push_back({pr.id(), pr.name(), Secs(pr.starts_at()), Secs(pr.ends_at()), Strings(pr.stores()),
                            Strings(pr.categories()), pr.multiplier_pct()});
  }
  c.max_points_per_month = p.max_points_per_month();
  c.returns_at_any_store = p.returns_at_any_store();
  switch (p.till_proof()) {  // unknown values are refused before (ProgramStore::Check)
    case v1::TILL_PROOF_PIN: c.till_proof = engine::ProgramConfig::TillProof::kPin; break;
    case v1::TILL_PROOF_APP_CODE_OR_PIN: c.till_proof = engine::ProgramConfig::TillProof::kAppCodeOrPin; break;
    default: c.till_proof = engine::ProgramConfig::TillProof::kAppCode; break;
  }
  c.pending_days = p.pending_days();
  c.expiry_days = p.expiry_days();
  for (const auto& t : p.tiers()) {
    c.tiers.push_back({t.name(), t.min_spend_minor(), t.min_visits(), t.earn_multiplier_pct(), Strings(t.perks())});
  }
  c.tier_window_days = p.tier_window_days();
  c.tier_grace_days = p.tier_grace_days();
  for (const auto& s : p.stages()) {
    c.stages.push_back({s.name(), s.min_visits(), s.min_spend_minor(), s.min_tenure_days(), s.min_categories(),
                        s.max_days_since_visit(), s.min_engagements()});
  }
  c.stage_window_days = p.stage_window_days();
  for (const auto& o : p.offers()) {
    engine::OfferTemplate t;
    t.id = o.id();
    t.title = o.title();
    // Kinds at or below UNSPECIFIED read as the first (Validate refuses them
    // in a proposal; a stored one may be damaged: INT_MIN - 1 would overflow).
    t.kind = static_cast<engine::OfferKind>(o.kind() > 0 ? static_cast<int>(o.kind()) - 1 : 0);
    t.percent_off = o.percent_off();
    t.amount_off_minor = o.amount_off_minor();
    t.bonus_points = o.bonus_points();
    t.categories = Strings(o.categories());
    t.skus = Strings(o.skus());
    t.punch_visits = o.punch_visits();
    t.min_basket_minor = o.min_basket_minor();
    t.tiers = Strings(o.tiers());
    t.stages = Strings(o.stages());
    t.affinity_category = o.affinity_category();
    t.lapse_pct = o.lapse_pct() == 0 ? 150 : o.lapse_pct();
    t.starts_at = o.starts_at().seconds();
    t.ends_at = o.ends_at().seconds();
    t.stores = Strings(o.stores());
    t.budget_redemptions = o.budget_redemptions();
    t.per_member_limit = o.per_member_limit();
    c.offers.push_back(std::move(t));
    if (o.kind() == v1::OFFER_KIND_UNSPECIFIED) c.offers.back().title.clear();  // refused by Validate
  }
  for (const auto& r : p.rewards()) c.rewards.push_back(FromProto(r));
  return c;
}

engine::Reward FromProto(const v1::Reward& r) {
  return engine::Reward{r.id(), r.title(), r.cost_points(), Strings(r.categories()), r.max_value_minor(), r.stock(),
                        r.code_valid_days() == 0 ? 30 : r.code_valid_days()};
}

v1::Reward ToProto(const engine::Reward& r) {
  v1::Reward out;
  out.set_id(r.id);
  out.set_title(r.title);
  out.set_cost_points(r.cost_points);
  PutStrings(r.categories, out.mutable_categories());
  out.set_max_value_minor(r.max_value_minor);
  out.set_stock(r.stock);
  out.set_code_valid_days(r.code_valid_days);
  return out;
}

v1::Program ToProto(const engine::ProgramConfig& c) {
  v1::Program p;
  p.set_version(c.version);
  p.set_currency(c.currency);
  p.set_minor_units_per_major(c.minor_units_per_major);
  p.set_points_per_major_unit(c.points_per_major_unit);
  for (const auto& m : c.category_multipliers) {
    auto* o = p.add_category_multipliers();
    o->set_category(m.category);
    o->set_multiplier_pct(m.multiplier_pct);
  }
  PutStrings(c.excluded_categories, p.mutable_excluded_categories());
  PutStrings(c.excluded_skus, p.mutable_excluded_skus());
  for (const auto& pr : c.promotions) {
    auto* o = p.add_promotions();
    o->set_id(pr.id);
    o->set_name(pr.name);
    *o->mutable_starts_at() = Stamp(pr.starts_at);
    *o->mutable_ends_at() = Stamp(pr.ends_at);
    PutStrings(pr.stores, o->mutable_stores());
    PutStrings(pr.categories, o->mutable_categories());
    o->set_multiplier_pct(pr.multiplier_pct);
  }
  p.set_max_points_per_month(c.max_points_per_month);
  p.set_returns_at_any_store(c.returns_at_any_store);
  switch (c.till_proof) {
    case engine::ProgramConfig::TillProof::kAppCode: p.set_till_proof(v1::TILL_PROOF_APP_CODE); break;
    case engine::ProgramConfig::TillProof::kPin: p.set_till_proof(v1::TILL_PROOF_PIN); break;
    case engine::ProgramConfig::TillProof::kAppCodeOrPin: p.set_till_proof(v1::TILL_PROOF_APP_CODE_OR_PIN); break;
  }
  p.set_pending_days(c.pending_days);
  p.set_expiry_days(c.expiry_days);
  for (const auto& t : c.tiers) {
    auto* o = p.add_tiers();
    o->set_name(t.name);
    o->set_min_spend_minor(t.min_spend_minor);
    o->set_min_visits(t.min_visits);
    o->set_earn_multiplier_pct(t.earn_multiplier_pct);
    PutStrings(t.perks, o->mutable_perks());
  }
  p.set_tier_window_days(c.tier_window_days);
  p.set_tier_grace_days(c.tier_grace_days);
  for (const auto& s : c.stages) {
    auto* o = p.add_stages();
    o->set_name(s.name);
    o->set_min_visits(s.min_visits);
    o->set_min_spend_minor(s.min_spend_minor);
    o->set_min_tenure_days(s.min_tenure_days);
    o->set_min_categories(s.min_categories);
    o->set_max_days_since_visit(s.max_days_since_visit);
    o->set_min_engagements(s.min_engagements);
  }
  p.set_stage_window_days(c.stage_window_days);
  for (const auto& t : c.offers) {
    auto* o = p.add_offers();
    o->set_id(t.id);
    o->set_title(t.title);
    o->set_kind(static_cast<v1::OfferKind>(static_cast<int>(t.kind) + 1));
    o->set_percent_off(t.percent_off);
    o->set_amount_off_minor(t.amount_off_minor);
    o->set_bonus_points(t.bonus_points);
    PutStrings(t.categories, o->mutable_categories());
    PutStrings(t.skus, o->mutable_skus());
    o->set_punch_visits(t.punch_visits);
    o->set_min_basket_minor(t.min_basket_minor);
    PutStrings(t.tiers, o->mutable_tiers());
    PutStrings(t.stages, o->mutable_stages());
    o->set_affinity_category(t.affinity_category);
    o->set_lapse_pct(t.lapse_pct);
    if (t.starts_at != 0) *o->mutable_starts_at() = Stamp(t.starts_at);
    if (t.ends_at != 0) *o->mutable_ends_at() = Stamp(t.ends_at);
    PutStrings(t.stores, o->mutable_stores());
    o->set_budget_redemptions(t.budget_redemptions);
    o->set_per_member_limit(t.per_member_limit);
  }
  for (const auto& r : c.rewards) *p.add_rewards() = ToProto(r);
  return p;
}

}  // namespace loyalty::codec
