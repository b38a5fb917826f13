#include "services/pos/ingest.h"

#include <cassert>

#include "base/str_cat.h"
#include "services/common/fingerprint.h"
#include "services/common/status_macros.h"
#include "services/loyalty/member_store.h"
#include "storage/keys.h"

namespace loyalty::pos {

using storage::Cf;
using storage::Durability;

namespace {

std::string RefKey(const v1::TransactionRef& ref) {
  return storage::TxnKey(ref.store_id(), ref.terminal_id(), ref.transaction_id());
}

std::string RefText(const v1::TransactionRef& ref) {
  return loyalty::StrCat(ref.store_id(), "/", ref.terminal_id(), "/", ref.transaction_id());
}

v1::LedgerEntry NewEntry(uint64_t seq, uint32_t index, v1::LedgerEntryKind kind, int64_t points,
                         const google::protobuf::Timestamp& at, const v1::TransactionRef& cause) {
  v1::LedgerEntry e;
  e.set_entry_id(storage::LedgerEntryId(seq, index));
  e.set_kind(kind);
  e.set_points(points);
  *e.mutable_at() = at;
  *e.mutable_cause() = cause;
  return e;
}

}  // namespace

Ingest::Ingest(storage::Store& store, engine::ProgramRules rules, const Clock& clock)
    : store_(store), rules_(std::move(rules)), clock_(clock) {}

std::string Ingest::OrderingKeyOfSale(const v1::TransactionRef& ref, const std::string& member_id) {
  // Member ids and transaction keys cannot collide: a key starts with a
  // length byte, which no valid member id contains.
  return member_id.empty() ? RefKey(ref) : member_id;
}

absl::StatusOr<std::string> Ingest::OrderingKeyOfRecordedSale(const v1::TransactionRef& original,
                                                              std::string_view field) const {
  LOYALTY_ASSIGN_OR_RETURN(internal::SaleState sale, ReadSaleState(original, field));
  return OrderingKeyOfSale(original, sale.member_id());
}

absl::StatusOr<internal::SaleState> Ingest::ReadSaleState(const v1::TransactionRef& original,
                                                          std::string_view field) const {
  auto sale = store_.GetProto<internal::SaleState>(Cf::kSales, RefKey(original));
  if (!sale.ok()) return sale.status();
  if (!sale->has_value()) {
    return absl::FailedPreconditionError(
        loyalty::StrCat(field, ": sale ", RefText(original), " is not recorded (yet)"));
  }
  return std::move(**sale);
}

absl::StatusOr<std::optional<Applied>> Ingest::FindReplay(const std::string& txn_key,
                                                          const std::string& fingerprint,
                                                          const v1::TransactionRef& ref,
                                                          Durability durability) {
  auto record = store_.GetProto<internal::IdempotencyRecord>(Cf::kTxn, txn_key);
  if (!record.ok()) return record.status();
  if (!record->has_value()) return std::optional<Applied>();
  const internal::IdempotencyRecord& first = **record;
  if (first.fingerprint() != fingerprint) {
    return absl::AlreadyExistsError(loyalty::StrCat(
        "transaction ", RefText(ref), " was already recorded with different content (event ",
        first.event_seq(), "); use a new transaction_id for a new event"));
  }
  // The first answer may come from a buffered (backlog) write: make it
  // durable before it is given out again.
  if (durability == Durability::kSynced) LOYALTY_RETURN_IF_ERROR(store_.SyncWal());
  return std::optional<Applied>(Applied{first.outcome(), /*replayed=*/true});
}

absl::StatusOr<Applied> Ingest::Commit(internal::EventRecord event, const std::string& txn_key,
                                       const std::string& fingerprint, v1::EventOutcome outcome,
                                       storage::WriteSet& writes, Durability durability) {
  assert(event.seq() == outcome.event_seq());
  *event.mutable_received_at() = clock_.NowTimestamp();
  event.set_member_id(outcome.member_id());
  writes.Put(Cf::kEvents, storage::EventKey(event.seq()), event);

  internal::IdempotencyRecord record;
  record.set_fingerprint(fingerprint);
  record.set_event_seq(event.seq());
  *record.mutable_outcome() = outcome;
  writes.Put(Cf::kTxn, txn_key, record);

  LOYALTY_RETURN_IF_ERROR(store_.Commit(writes, durability));
  return Applied{std::move(outcome), /*replayed=*/false};
}

absl::StatusOr<Applied> Ingest::ApplySale(const v1::Sale& sale, const std::string& member_id,
                                          Durability durability) {
  const std::string txn_key = RefKey(sale.ref());
  const std::string fingerprint = Fingerprint("sale", sale);
  auto lock = txn_locks_.Lock(txn_key);

  LOYALTY_ASSIGN_OR_RETURN(auto replay, FindReplay(txn_key, fingerprint, sale.ref(), durability));
  if (replay) return std::move(*replay);

  if (!member_id.empty() && sale.currency() != rules_.currency) {
    return absl::InvalidArgumentError(loyalty::StrCat("sale.currency: the program runs in ",
                                                   rules_.currency, ", got ", sale.currency()));
  }
  if (sale.redemption_codes_size() > 0) {
    return absl::FailedPreconditionError(
        "sale.redemption_codes[0]: unknown or already used code");
  }

  internal::MemberRecord member;
  if (!member_id.empty()) {
    LOYALTY_ASSIGN_OR_RETURN(member, ReadMember(store_, member_id));
  }

  const uint64_t seq = store_.NextEventSeq();
  internal::SaleState state;
  state.set_event_seq(seq);
  state.set_member_id(member_id);
  state.set_currency(sale.currency());
  *state.mutable_occurred_at() = sale.occurred_at();
  int64_t net_total = 0;
  int64_t points_total = 0;
  for (const auto& line : sale.lines()) {
    auto* ls = state.add_lines();
    ls->set_quantity(line.quantity());
    ls->set_net_minor(
        engine::LineNetMinor(line.quantity(), line.unit_price_minor(), line.discount_minor()));
    // Anonymous sales earn nothing (until claimed).
    ls->set_points(member_id.empty() ? 0 : engine::PointsForLine(rules_.earn, ls->net_minor()));
    net_total += ls->net_minor();
    points_total += ls->points();
  }
  assert(net_total == sale.total_minor());
  assert(points_total >= 0);

  storage::WriteSet writes;
  writes.Put(Cf::kSales, txn_key, state);
  if (!member_id.empty()) {
    if (points_total > 0) {
      AppendLedgerEntry(member, writes,
                        NewEntry(seq, 0, v1::LEDGER_ENTRY_KIND_EARN, points_total,
                                 sale.occurred_at(), sale.ref()));
    }
    member.set_last_event_seq(seq);
    PutMember(writes, member);
  }

  v1::EventOutcome outcome;
  outcome.set_event_seq(seq);
  outcome.set_kind(v1::EVENT_KIND_SALE);
  outcome.set_member_id(member_id);
  outcome.set_points_earned(points_total);
  if (!member_id.empty()) *outcome.mutable_balance() = BalanceOf(member);
  outcome.set_net_amount_minor(net_total);
  outcome.set_currency(sale.currency());

  internal::EventRecord event;
  event.set_seq(seq);
  *event.mutable_sale() = sale;
  return Commit(std::move(event), txn_key, fingerprint, std::move(outcome), writes, durability);
}

absl::StatusOr<Applied> Ingest::ApplyReturn(const v1::Return& ret, Durability durability) {
  const std::string txn_key = RefKey(ret.ref());
  const std::string fingerprint = Fingerprint("return", ret);
  auto lock = txn_locks_.Lock(txn_key);

  LOYALTY_ASSIGN_OR_RETURN(auto replay, FindReplay(txn_key, fingerprint, ret.ref(), durability));
  if (replay) return std::move(*replay);

  LOYALTY_ASSIGN_OR_RETURN(internal::SaleState sale, ReadSaleState(ret.original(), "return.original"));
  if (sale.voided()) {
    return absl::FailedPreconditionError(
        loyalty::StrCat("return.original: sale ", RefText(ret.original()), " was voided"));
  }

  int64_t points_reversed = 0;
  int64_t value_returned = 0;
  for (int i = 0; i < ret.lines_size(); ++i) {
    const auto& rl = ret.lines(i);
    if (rl.line_index() >= static_cast<uint32_t>(sale.lines_size())) {
      return absl::InvalidArgumentError(loyalty::StrCat("return.lines[", i, "].line_index: the sale has only ",
                                                     sale.lines_size(), " lines, got ", rl.line_index()));
    }
    auto* line = sale.mutable_lines(static_cast<int>(rl.line_index()));
    const int32_t remaining = line->quantity() - line->returned_quantity();
    if (rl.quantity() > remaining) {
      return absl::FailedPreconditionError(loyalty::StrCat(
          "return.lines[", i, "].quantity: only ", remaining, " of ", line->quantity(),
          " units of line ", rl.line_index(), " remain unreturned, got ", rl.quantity()));
    }
    const int32_t returned_total = line->returned_quantity() + rl.quantity();
    const int64_t reversed_total = engine::ShareOfLine(line->points(), line->quantity(), returned_total);
    const int64_t value_total = engine::ShareOfLine(line->net_minor(), line->quantity(), returned_total);
    assert(reversed_total >= line->reversed_points() && reversed_total <= line->points());
    points_reversed += reversed_total - line->reversed_points();
    value_returned += value_total - line->returned_net_minor();
    line->set_returned_quantity(returned_total);
    line->set_reversed_points(reversed_total);
    line->set_returned_net_minor(value_total);
  }

  const uint64_t seq = store_.NextEventSeq();
  storage::WriteSet writes;
  writes.Put(Cf::kSales, RefKey(ret.original()), sale);

  v1::EventOutcome outcome;
  outcome.set_event_seq(seq);
  outcome.set_kind(v1::EVENT_KIND_RETURN);
  outcome.set_member_id(sale.member_id());
  outcome.set_points_reversed(points_reversed);
  outcome.set_net_amount_minor(value_returned);
  outcome.set_currency(sale.currency());
  if (!sale.member_id().empty()) {
    LOYALTY_ASSIGN_OR_RETURN(internal::MemberRecord member, ReadMember(store_, sale.member_id()));
    if (points_reversed > 0) {
      // Policy: points already spent are still taken back; the balance may go
      // negative and later earnings repay it.
      AppendLedgerEntry(member, writes,
                        NewEntry(seq, 0, v1::LEDGER_ENTRY_KIND_REVERSE, -points_reversed,
                                 ret.occurred_at(), ret.ref()));
    }
    member.set_last_event_seq(seq);
    PutMember(writes, member);
    *outcome.mutable_balance() = BalanceOf(member);
  }

  internal::EventRecord event;
  event.set_seq(seq);
  *event.mutable_return_() = ret;
  return Commit(std::move(event), txn_key, fingerprint, std::move(outcome), writes, durability);
}

absl::StatusOr<Applied> Ingest::ApplyVoid(const v1::Void& v, Durability durability) {
  const std::string txn_key = RefKey(v.ref());
  const std::string fingerprint = Fingerprint("void", v);
  auto lock = txn_locks_.Lock(txn_key);

  LOYALTY_ASSIGN_OR_RETURN(auto replay, FindReplay(txn_key, fingerprint, v.ref(), durability));
  if (replay) return std::move(*replay);

  LOYALTY_ASSIGN_OR_RETURN(internal::SaleState sale, ReadSaleState(v.original(), "void.original"));
  if (sale.voided()) {
    return absl::FailedPreconditionError(
        loyalty::StrCat("void.original: sale ", RefText(v.original()), " is already voided"));
  }
  // A void takes back whatever returns have not already taken back.
  int64_t points_reversed = 0;
  int64_t value_voided = 0;
  for (auto& line : *sale.mutable_lines()) {
    points_reversed += line.points() - line.reversed_points();
    value_voided += line.net_minor() - line.returned_net_minor();
    line.set_reversed_points(line.points());
  }
  sale.set_voided(true);
  assert(points_reversed >= 0 && value_voided >= 0);

  const uint64_t seq = store_.NextEventSeq();
  storage::WriteSet writes;
  writes.Put(Cf::kSales, RefKey(v.original()), sale);

  v1::EventOutcome outcome;
  outcome.set_event_seq(seq);
  outcome.set_kind(v1::EVENT_KIND_VOID);
  outcome.set_member_id(sale.member_id());
  outcome.set_points_reversed(points_reversed);
  outcome.set_net_amount_minor(value_voided);
  outcome.set_currency(sale.currency());
  if (!sale.member_id().empty()) {
    LOYALTY_ASSIGN_OR_RETURN(internal::MemberRecord member, ReadMember(store_, sale.member_id()));
    if (points_reversed > 0) {
      AppendLedgerEntry(member, writes,
                        NewEntry(seq, 0, v1::LEDGER_ENTRY_KIND_REVERSE, -points_reversed,
                                 v.occurred_at(), v.ref()));
    }
    member.set_last_event_seq(seq);
    PutMember(writes, member);
    *outcome.mutable_balance() = BalanceOf(member);
  }

  internal::EventRecord event;
  event.set_seq(seq);
  *event.mutable_void_() = v;
  return Commit(std::move(event), txn_key, fingerprint, std::move(outcome), writes, durability);
}

}  // namespace loyalty::pos
