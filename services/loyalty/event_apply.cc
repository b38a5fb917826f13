#include "services/loyalty/event_apply.h"

#include <cassert>
#include <map>
#include <optional>

#include "base/metrics.h"
#include "base/str_cat.h"
#include "storage/keys.h"

namespace loyalty {

std::string RefText(const v1::TransactionRef& ref) {
  return loyalty::StrCat(ref.store_id(), "/", ref.terminal_id(), "/", ref.transaction_id());
}

engine::SaleInput SaleInputOf(const v1::Sale& sale) {
  engine::SaleInput input;
  input.store_id = sale.ref().store_id();
  input.occurred_at = sale.occurred_at().seconds();
  for (const auto& line : sale.lines()) {
    input.lines.push_back({line.sku(), line.category(), line.quantity(),
                           engine::LineNetMinor(line.quantity(), line.unit_price_minor(), line.discount_minor())});
  }
  return input;
}

absl::Status ApplySaleEvent(const ApplyContext& ctx, const v1::Sale& sale, engine::MemberState* member,
                            const engine::OfferContext& offers, const std::vector<const engine::Reward*>& rewards,
                            internal::SaleState* state, v1::EventOutcome* outcome,
                            std::vector<engine::Entry>* entries) {
  if (member != nullptr && sale.currency() != ctx.program.currency) {
    return absl::InvalidArgumentError(loyalty::StrCat("sale.currency: the program runs in ",
                                                      ctx.program.currency, ", got ", sale.currency()));
  }
  assert(member != nullptr || rewards.empty());
  const engine::SaleInput input = SaleInputOf(sale);
  int64_t net_total = 0;
  for (const auto& line : input.lines) net_total += line.net_minor;

  // Record on a copy of the member, check, then keep it: one evaluation per
  // sale, and nothing changes if the sale is refused.
  const uint64_t batch_id = storage::LedgerEntryId(ctx.seq, 0);
  engine::BasketResult basket;
  std::optional<engine::MemberState> recorded;
  std::vector<engine::Entry> new_entries;
  if (member != nullptr) {
    recorded = *member;
    basket = engine::RecordBasketSale(ctx.program, *recorded, offers, input, rewards, batch_id, ctx.now,
                                      new_entries);
    if (basket.unusable_rewards > 0 && !ctx.what_if) {
      return absl::FailedPreconditionError(
          "sale.redemption_codes: a code matches no line of this basket that is still to pay");
    }
  } else {
    basket.earn.lines.resize(input.lines.size());  // anonymous: nothing earned (until claimed)
    basket.paid_minor.resize(input.lines.size());
    for (size_t i = 0; i < input.lines.size(); ++i) basket.paid_minor[i] = input.lines[i].net_minor;
  }
  const int64_t to_pay = net_total - basket.discount_total_minor;
  if (sale.total_minor() != to_pay && !ctx.what_if) {
    // A member's total below full price, in a program with offers, was
    // computed with discounts that no longer apply (an offer ran out): the
    // till must evaluate again. Otherwise the total is simply wrong.
    const bool stale_discounts = member != nullptr && sale.total_minor() < net_total &&
                                 (!ctx.program.offers.empty() || !rewards.empty());
    if (basket.discount_total_minor == 0 && !stale_discounts) {
      return absl::InvalidArgumentError(loyalty::StrCat(
          "sale.total_minor: must equal the sum of line net amounts ", net_total, ", got ", sale.total_minor()));
    }
    return absl::FailedPreconditionError(loyalty::StrCat(
        "sale.total_minor: the loyalty discounts are ", basket.discount_total_minor, ", so the total to pay is ",
        to_pay, ", got ", sale.total_minor(), "; evaluate the basket again"));
  }
  if (member != nullptr) {
    *member = std::move(*recorded);
    entries->insert(entries->end(), new_entries.begin(), new_entries.end());
  }
  assert(basket.earn.lines.size() == input.lines.size());

  state->Clear();
  state->set_event_seq(ctx.seq);
  state->set_batch_id(batch_id);
  state->set_currency(sale.currency());
  *state->mutable_occurred_at() = sale.occurred_at();
  state->set_bonus_points(basket.bonus_points);
  for (const auto& code : sale.redemption_codes()) state->add_redemption_codes(code);
  for (size_t i = 0; i < input.lines.size(); ++i) {
    auto* ls = state->add_lines();
    ls->set_quantity(input.lines[i].quantity);
    // A line's value for returns is what the member paid for it.
    ls->set_net_minor(basket.paid_minor[i]);
    ls->set_loyalty_discount_minor(input.lines[i].net_minor - basket.paid_minor[i]);
    ls->set_points(basket.earn.lines[i].points);
    ls->set_credit_minor(member != nullptr ? basket.earn.lines[i].credit_minor : 0);
  }
  outcome->set_event_seq(ctx.seq);
  outcome->set_kind(v1::EVENT_KIND_SALE);
  outcome->set_points_earned(basket.earn.points + basket.bonus_points);
  outcome->set_net_amount_minor(to_pay);
  outcome->set_currency(sale.currency());
  outcome->set_discount_total_minor(basket.discount_total_minor);
  for (const auto& id : basket.applied_offer_ids) outcome->add_applied_offer_ids(id);
  return absl::OkStatus();
}

absl::Status ApplyReturnEvent(const ApplyContext& ctx, const v1::Return& ret, internal::SaleState& sale,
                              engine::MemberState* member, v1::EventOutcome* outcome,
                              std::vector<engine::Entry>* entries) {
  if (sale.voided()) {
    return absl::FailedPreconditionError(
        loyalty::StrCat("return.original: sale ", RefText(ret.original()), " was voided"));
  }
  // Check every line before changing any.
  for (int i = 0; i < ret.lines_size(); ++i) {
    const auto& rl = ret.lines(i);
    if (rl.line_index() >= static_cast<uint32_t>(sale.lines_size())) {
      return absl::InvalidArgumentError(loyalty::StrCat("return.lines[", i, "].line_index: the sale has only ",
                                                        sale.lines_size(), " lines, got ", rl.line_index()));
    }
    const auto& line = sale.lines(static_cast<int>(rl.line_index()));
    const int32_t remaining = line.quantity() - line.returned_quantity();
    if (rl.quantity() > remaining) {
      return absl::FailedPreconditionError(loyalty::StrCat(
          "return.lines[", i, "].quantity: only ", remaining, " of ", line.quantity(), " units of line ",
          rl.line_index(), " remain unreturned, got ", rl.quantity()));
    }
  }
  int64_t points = 0, value = 0, credit = 0;
  for (const auto& rl : ret.lines()) {
    auto* line = sale.mutable_lines(static_cast<int>(rl.line_index()));
    const int32_t returned = line->returned_quantity() + rl.quantity();
    const int64_t points_total = engine::ShareOfLine(line->points(), line->quantity(), returned);
    const int64_t value_total = engine::ShareOfLine(line->net_minor(), line->quantity(), returned);
    const int64_t credit_total = engine::ShareOfLine(line->credit_minor(), line->quantity(), returned);
    assert(points_total >= line->reversed_points() && points_total <= line->points());
    points += points_total - line->reversed_points();
    value += value_total - line->returned_net_minor();
    credit += credit_total - line->reversed_credit_minor();
    line->set_returned_quantity(returned);
    line->set_reversed_points(points_total);
    line->set_returned_net_minor(value_total);
    line->set_reversed_credit_minor(credit_total);
  }
  if (member != nullptr) {
    engine::RecordReversal(ctx.program, *member,
                           {sale.batch_id(), sale.occurred_at().seconds(), points, credit, false}, ctx.now,
                           *entries);
  }
  outcome->set_event_seq(ctx.seq);
  outcome->set_kind(v1::EVENT_KIND_RETURN);
  outcome->set_points_reversed(points);
  outcome->set_net_amount_minor(value);
  outcome->set_currency(sale.currency());
  return absl::OkStatus();
}

absl::Status ApplyVoidEvent(const ApplyContext& ctx, const v1::Void& v, internal::SaleState& sale,
                            engine::MemberState* member, v1::EventOutcome* outcome,
                            std::vector<engine::Entry>* entries) {
  if (sale.voided()) {
    return absl::FailedPreconditionError(
        loyalty::StrCat("void.original: sale ", RefText(v.original()), " is already voided"));
  }
  // A void takes back whatever returns have not already taken back.
  int64_t points = 0, value = 0, credit = 0;
  for (auto& line : *sale.mutable_lines()) {
    points += line.points() - line.reversed_points();
    value += line.net_minor() - line.returned_net_minor();
    credit += line.credit_minor() - line.reversed_credit_minor();
    line.set_reversed_points(line.points());
    line.set_reversed_credit_minor(line.credit_minor());
  }
  points += sale.bonus_points();  // the visit did not happen: offer bonuses go too
  sale.set_voided(true);
  assert(points >= 0 && value >= 0 && credit >= 0);
  if (member != nullptr) {
    engine::RecordReversal(ctx.program, *member,
                           {sale.batch_id(), sale.occurred_at().seconds(), points, credit, true}, ctx.now,
                           *entries);
  }
  outcome->set_event_seq(ctx.seq);
  outcome->set_kind(v1::EVENT_KIND_VOID);
  outcome->set_points_reversed(points);
  outcome->set_net_amount_minor(value);
  outcome->set_currency(sale.currency());
  return absl::OkStatus();
}

absl::Status ApplyClaimEvent(const ApplyContext& ctx, const v1::Sale& original, const std::string& member_id,
                             internal::SaleState& sale, engine::MemberState& member,
                             v1::EventOutcome* outcome, std::vector<engine::Entry>* entries) {
  assert(!member_id.empty());
  if (!sale.member_id().empty()) {
    return absl::FailedPreconditionError("sale: this receipt already belongs to a member");
  }
  if (sale.voided()) return absl::FailedPreconditionError("sale: this sale was voided");
  for (const auto& line : sale.lines()) {
    if (line.returned_quantity() > 0) {
      return absl::FailedPreconditionError("sale: a sale with returns cannot be claimed");
    }
  }
  if (ctx.now - sale.occurred_at().seconds() > static_cast<engine::Seconds>(kClaimWindowDays) * engine::kDay) {
    return absl::FailedPreconditionError(
        loyalty::StrCat("sale: receipts can be claimed within ", kClaimWindowDays, " days"));
  }
  engine::SaleInput input;
  input.store_id = original.ref().store_id();
  input.occurred_at = original.occurred_at().seconds();
  assert(original.lines_size() == sale.lines_size());
  for (int i = 0; i < original.lines_size(); ++i) {
    const auto& line = original.lines(i);
    input.lines.push_back({line.sku(), line.category(), line.quantity(), sale.lines(i).net_minor()});
  }
  // Claiming is engaging with the program: it counts for the stage.
  member.engagements += 1;
  const uint64_t batch_id = storage::LedgerEntryId(ctx.seq, 0);
  const engine::SaleEarn earn = engine::RecordSale(ctx.program, member, input, batch_id, ctx.now, *entries);
  sale.set_member_id(member_id);
  sale.set_batch_id(batch_id);
  for (int i = 0; i < sale.lines_size(); ++i) {
    sale.mutable_lines(i)->set_points(earn.lines[i].points);
    sale.mutable_lines(i)->set_credit_minor(earn.lines[i].credit_minor);
  }
  outcome->set_event_seq(ctx.seq);
  outcome->set_kind(v1::EVENT_KIND_SALE);
  outcome->set_points_earned(earn.points);
  outcome->set_net_amount_minor(original.total_minor());
  outcome->set_currency(original.currency());
  return absl::OkStatus();
}

void CountCommitted(const internal::EventRecord& event) {
  // One counter per kind, found once: the ingest path pays an atomic add,
  // not a descriptor lookup and a labelled-child search per event.
  static const auto counters = [] {
    auto& family = metrics::DefaultRegistry().AddCounter(
        "loyaltyd_events_applied_total", "Events committed, by kind (replayed retries not counted)", {"kind"});
    std::map<int, metrics::Counter*> by_case;
    const auto* oneof = internal::EventRecord::descriptor()->FindOneofByName("event");
    assert(oneof != nullptr);
    for (int i = 0; i < oneof->field_count(); ++i) {
      by_case[oneof->field(i)->number()] = &family.WithLabels({oneof->field(i)->name()});
    }
    return by_case;
  }();
  const auto it = counters.find(static_cast<int>(event.event_case()));
  assert(it != counters.end());  // every event record has its event
  if (it != counters.end()) it->second->Inc();
}

}  // namespace loyalty
