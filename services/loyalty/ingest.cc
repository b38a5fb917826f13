#include "services/loyalty/ingest.h"

#include <algorithm>
#include <cassert>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "base/str_cat.h"
#include "services/common/fingerprint.h"
#include "services/common/status_macros.h"
#include "services/loyalty/codec.h"
#include "services/loyalty/event_apply.h"
#include "storage/keys.h"

namespace loyalty {

using storage::Cf;
using storage::Durability;

namespace {

std::string RefKey(const v1::TransactionRef& ref) {
  return storage::TxnKey(ref.store_id(), ref.terminal_id(), ref.transaction_id());
}

}  // namespace

namespace {

std::string RandomBytes(size_t n) {
  std::string bytes(n, '\0');
  const int ok = RAND_bytes(reinterpret_cast<unsigned char*>(bytes.data()), static_cast<int>(n));
  assert(ok == 1);
  (void)ok;
  return bytes;
}

}  // namespace

Ingest::Ingest(storage::Store& store, Members& members, const ProgramStore& programs, Counters& counters,
               const Clock& clock, MemberUpdates* updates, std::string receipt_secret)
    : store_(store),
      members_(members),
      programs_(programs),
      counters_(counters),
      clock_(clock),
      updates_(updates),
      receipt_secret_(receipt_secret.empty() ? RandomBytes(32) : std::move(receipt_secret)) {}

absl::StatusOr<std::string> Ingest::LoadReceiptSecret(storage::Store& store) {
  auto stored = store.Get(Cf::kMeta, storage::kReceiptCodeSecretKey);
  if (stored.ok()) {
    if (stored->size() != 32) return absl::DataLossError("the receipt code key in CF meta is not 32 bytes");
    return *stored;
  }
  if (!absl::IsNotFound(stored.status())) return stored.status();
  std::string secret = RandomBytes(32);
  storage::WriteSet writes;
  writes.PutRaw(Cf::kMeta, storage::kReceiptCodeSecretKey, secret);
  LOYALTY_RETURN_IF_ERROR(store.Commit(writes, Durability::kSynced));
  return secret;
}

std::string Ingest::ReceiptCode(const v1::TransactionRef& sale) const {
  const std::string key = RefKey(sale);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_size = 0;
  HMAC(EVP_sha256(), receipt_secret_.data(), static_cast<int>(receipt_secret_.size()),
       reinterpret_cast<const unsigned char*>(key.data()), key.size(), mac, &mac_size);
  assert(mac_size >= 8);
  static constexpr char kAlphabet[] = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789";  // no I, O, 0, 1: read off paper
  uint64_t bits = 0;
  for (int i = 0; i < 8; ++i) bits = (bits << 8) | mac[i];
  std::string code;
  for (int i = 0; i < 12; ++i) code.push_back(kAlphabet[(bits >> (5 * i)) & 31]);
  return code;
}

absl::StatusOr<std::vector<internal::RedemptionCode>> Ingest::ReadCodes(
    const google::protobuf::RepeatedPtrField<std::string>& ids, std::string_view field_name,
    const std::string& member_id, engine::Seconds now) const {
  std::vector<internal::RedemptionCode> codes;
  for (int i = 0; i < ids.size(); ++i) {
    const std::string field = loyalty::StrCat(field_name, "[", i, "]");
    auto code = store_.GetProto<internal::RedemptionCode>(Cf::kCodes, storage::CodeKey(ids[i]));
    if (!code.ok()) return code.status();
    if (!code->has_value()) return absl::FailedPreconditionError(field + ": unknown code");
    const internal::RedemptionCode& c = **code;
    if (c.member_id() != member_id) return absl::FailedPreconditionError(field + ": belongs to another member");
    if (c.status() != internal::RedemptionCode::STATUS_ISSUED) {
      return absl::FailedPreconditionError(field + ": already used");
    }
    if (now >= c.expires_at()) {
      return absl::FailedPreconditionError(field + ": expired on " + engine::FormatDate(c.expires_at()));
    }
    codes.push_back(c);
  }
  return codes;
}



std::string Ingest::OrderingKeyOfSale(const v1::TransactionRef& ref, const std::string& member_id) {
  // Member ids and transaction keys cannot collide: a key starts with a
  // length byte, which no valid member id contains.
  return member_id.empty() ? RefKey(ref) : member_id;
}

absl::StatusOr<std::string> Ingest::OrderingKeyOfRecordedSale(const v1::TransactionRef& original,
                                                              std::string_view field) const {
  LOYALTY_ASSIGN_OR_RETURN(RecordedSale sale, ReadSale(original, field));
  return OrderingKeyOfSale(original, sale.record.sale().member_id());
}

absl::StatusOr<Ingest::RecordedSale> Ingest::ReadSale(const v1::TransactionRef& original,
                                                      std::string_view field) const {
  const std::string key = RefKey(original);
  const auto not_recorded = [&] {
    return absl::FailedPreconditionError(
        loyalty::StrCat(field, ": sale ", RefText(original), " is not recorded (yet)"));
  };
  auto record = store_.GetProto<internal::IdempotencyRecord>(Cf::kTxn, key);
  if (!record.ok()) return record.status();
  if (!record->has_value()) return not_recorded();
  RecordedSale out{std::move(**record)};
  if (out.record.has_sale()) return out;
  // A sale recorded before its state moved into its record, or not a sale
  // at all (a return's or a void's reference).
  auto legacy = store_.GetProto<internal::SaleState>(Cf::kSales, key);
  if (!legacy.ok()) return legacy.status();
  if (!legacy->has_value()) return not_recorded();
  *out.record.mutable_sale() = std::move(**legacy);
  out.legacy = true;
  return out;
}

void Ingest::PutSale(const v1::TransactionRef& original, const RecordedSale& sale, storage::WriteSet& writes) {
  assert(sale.record.has_sale());
  const std::string key = RefKey(original);
  writes.Put(Cf::kTxn, key, sale.record);
  if (sale.legacy) writes.Delete(Cf::kSales, key);  // moved into the record
}

absl::StatusOr<std::optional<Applied>> Ingest::FindReplay(const std::string& txn_key,
                                                          const std::string& fingerprint,
                                                          const v1::TransactionRef& ref,
                                                          Durability durability) {
  // The first answer may come from a buffered (backlog) write: FindRequest
  // makes it durable before it is given out again.
  LOYALTY_ASSIGN_OR_RETURN(auto first, ledger_.FindRequest(
                                           txn_key, fingerprint,
                                           [&ref](uint64_t seq) {
                                             return loyalty::StrCat("transaction ", RefText(ref),
                                                                    " was already recorded with different content (event ",
                                                                    seq, "); use a new transaction_id for a new event");
                                           },
                                           durability));
  if (!first.has_value()) return std::optional<Applied>();
  return std::optional<Applied>(Applied{first->outcome(), /*replayed=*/true});
}

absl::StatusOr<Applied> Ingest::Commit(internal::EventRecord event, const std::string& txn_key,
                                       const std::string& fingerprint, v1::EventOutcome outcome, Member* member,
                                       const std::vector<engine::Entry>& entries, const LedgerCause& cause,
                                       internal::SaleState* sale, storage::WriteSet& writes,
                                       Durability durability) {
  assert(event.seq() == outcome.event_seq());
  assert(member != nullptr || entries.empty());
  if (member != nullptr) {
    CommitMemberChanges(*member, writes, event.seq(), entries, cause);
    outcome.set_member_id(member->record.member_id());
    *outcome.mutable_balance() = BalanceOf(*member, clock_.NowUnixSeconds());
  } else if (event.has_sale()) {
    outcome.set_receipt_code(ReceiptCode(event.sale().ref()));  // printed: the buyer may claim it
  }
  event.set_member_id(outcome.member_id());
  internal::IdempotencyRecord record;
  record.set_fingerprint(fingerprint);
  record.set_event_seq(event.seq());
  *record.mutable_outcome() = outcome;
  if (sale != nullptr) *record.mutable_sale() = std::move(*sale);
  LedgerWriter::PutRequestRecord(writes, txn_key, record);
  LOYALTY_RETURN_IF_ERROR(ledger_.Commit(writes, event, member, durability));
  return Applied{std::move(outcome), /*replayed=*/false};
}

absl::StatusOr<Applied> Ingest::ApplySale(const v1::Sale& sale, const std::string& member_id,
                                          Durability durability) {
  const std::string txn_key = RefKey(sale.ref());
  const std::string fingerprint = Fingerprint("sale", sale);
  auto lock = txn_locks_.Lock(txn_key);

  LOYALTY_ASSIGN_OR_RETURN(auto replay, FindReplay(txn_key, fingerprint, sale.ref(), durability));
  if (replay) return std::move(*replay);

  std::optional<Member> member;  // a copy to change; the cache keeps the committed one
  if (!member_id.empty()) {
    LOYALTY_ASSIGN_OR_RETURN(MemberPtr current, members_.Read(member_id));
    member = *current;
  }
  const ProgramPtr program = programs_.Current();
  // One reading of the clock: replay applies the event at this same time.
  const google::protobuf::Timestamp received_at = clock_.NowTimestamp();
  internal::EventRecord event = ledger_.NewEvent(received_at, program->version);
  const uint64_t seq = event.seq();
  const ApplyContext ctx{*program, received_at.seconds(), seq};
  LOYALTY_ASSIGN_OR_RETURN(std::vector<internal::RedemptionCode> codes,
                           ReadCodes(sale.redemption_codes(), "sale.redemption_codes", member_id,
                                     received_at.seconds()));
  std::vector<engine::Reward> reward_values;
  for (const auto& c : codes) reward_values.push_back(codec::FromProto(c.reward()));
  std::vector<const engine::Reward*> rewards;
  for (const auto& r : reward_values) rewards.push_back(&r);
  internal::SaleState sale_state;
  v1::EventOutcome outcome;
  std::vector<engine::Entry> entries;
  LOYALTY_RETURN_IF_ERROR(ApplySaleEvent(ctx, sale, member ? &member->state : nullptr,
                                         OfferContextOf(*program, counters_), rewards, &sale_state, &outcome,
                                         &entries));
  sale_state.set_member_id(member_id);

  // Offer budgets hold exactly across lanes: reserve before the commit.
  std::vector<std::string> reserved;
  auto release = [&] {
    for (const auto& key : reserved) counters_.Release(key);
  };
  for (const auto& id : outcome.applied_offer_ids()) {
    const auto it = std::find_if(program->offers.begin(), program->offers.end(),
                                 [&](const engine::OfferTemplate& o) { return o.id == id; });
    assert(it != program->offers.end());
    if (!counters_.TryReserve(Counters::OfferUsed(id), it->budget_redemptions)) {
      release();
      return absl::FailedPreconditionError(
          loyalty::StrCat("offer ", id, " has just run out; evaluate the basket again"));
    }
    reserved.push_back(Counters::OfferUsed(id));
  }

  storage::WriteSet writes;
  for (auto& c : codes) {
    c.set_status(internal::RedemptionCode::STATUS_USED);
    *c.mutable_used_by() = sale.ref();
    writes.Put(Cf::kCodes, storage::CodeKey(c.code()), c);
  }
  for (const auto& id : outcome.applied_offer_ids()) {
    writes.AddToCounter(Counters::OfferUsed(id), 1);
    writes.AddToCounter(Counters::OfferSpend(id), outcome.net_amount_minor());
  }
  *event.mutable_sale() = sale;
  auto committed = Commit(std::move(event), txn_key, fingerprint, std::move(outcome), member ? &*member : nullptr,
                          entries, LedgerCause{sale.occurred_at(), &sale.ref(), "", ""}, &sale_state, writes,
                          durability);
  if (!committed.ok()) {
    release();
    return committed;
  }
  for (const auto& id : committed->outcome.applied_offer_ids()) {
    counters_.Add(Counters::OfferSpend(id), committed->outcome.net_amount_minor());
  }
  return committed;
}

template <class Event, class ApplyFn>
absl::StatusOr<Applied> Ingest::ApplyToRecordedSale(const Event& event_in, const char* tag,
                                                    const char* field, ApplyFn apply,
                                                    Durability durability,
                                                    const std::string& routed_key) {
  const std::string txn_key = RefKey(event_in.ref());
  const std::string fingerprint = Fingerprint(tag, event_in);
  auto lock = txn_locks_.Lock(txn_key);

  LOYALTY_ASSIGN_OR_RETURN(auto replay, FindReplay(txn_key, fingerprint, event_in.ref(), durability));
  if (replay) return std::move(*replay);

  auto sale_lock = sale_locks_.Lock(RefKey(event_in.original()));
  LOYALTY_ASSIGN_OR_RETURN(RecordedSale recorded, ReadSale(event_in.original(), field));
  internal::SaleState& sale = *recorded.record.mutable_sale();
  if (!routed_key.empty() && routed_key != OrderingKeyOfSale(event_in.original(), sale.member_id())) {
    return absl::AbortedError(loyalty::StrCat(field, ": the sale was just claimed by a member; retry"));
  }
  std::optional<Member> member;
  if (!sale.member_id().empty()) {
    LOYALTY_ASSIGN_OR_RETURN(MemberPtr current, members_.Read(sale.member_id()));
    member = *current;
  }
  const ProgramPtr program = programs_.Current();
  // One reading of the clock: replay applies the event at this same time.
  const google::protobuf::Timestamp received_at = clock_.NowTimestamp();
  internal::EventRecord event = ledger_.NewEvent(received_at, program->version);
  const uint64_t seq = event.seq();
  const ApplyContext ctx{*program, received_at.seconds(), seq};
  v1::EventOutcome outcome;
  std::vector<engine::Entry> entries;
  LOYALTY_RETURN_IF_ERROR(apply(ctx, sale, member ? &member->state : nullptr, &outcome, &entries));

  storage::WriteSet writes;
  PutSale(event_in.original(), recorded, writes);
  if constexpr (std::is_same_v<Event, v1::Void>) {
    // Policy: a void gives back the reward codes the sale used.
    for (const auto& code_id : sale.redemption_codes()) {
      auto code = store_.GetProto<internal::RedemptionCode>(Cf::kCodes, storage::CodeKey(code_id));
      if (!code.ok()) return code.status();
      if (!code->has_value()) continue;
      internal::RedemptionCode c = **code;
      c.set_status(internal::RedemptionCode::STATUS_ISSUED);
      c.clear_used_by();
      writes.Put(Cf::kCodes, storage::CodeKey(code_id), c);
    }
  }
  if constexpr (std::is_same_v<Event, v1::Return>) {
    *event.mutable_return_() = event_in;
  } else {
    *event.mutable_void_() = event_in;
  }
  return Commit(std::move(event), txn_key, fingerprint, std::move(outcome), member ? &*member : nullptr, entries,
                LedgerCause{event_in.occurred_at(), &event_in.ref(), "", ""}, /*sale=*/nullptr, writes,
                durability);
}

absl::StatusOr<Applied> Ingest::ApplyReturn(const v1::Return& ret, Durability durability,
                                            const std::string& routed_key) {
  return ApplyToRecordedSale(
      ret, "return", "return.original",
      [&](const ApplyContext& ctx, internal::SaleState& sale, engine::MemberState* member,
          v1::EventOutcome* outcome, std::vector<engine::Entry>* entries) {
        return ApplyReturnEvent(ctx, ret, sale, member, outcome, entries);
      },
      durability, routed_key);
}

absl::StatusOr<Applied> Ingest::ApplyVoid(const v1::Void& v, Durability durability,
                                          const std::string& routed_key) {
  return ApplyToRecordedSale(
      v, "void", "void.original",
      [&](const ApplyContext& ctx, internal::SaleState& sale, engine::MemberState* member,
          v1::EventOutcome* outcome, std::vector<engine::Entry>* entries) {
        return ApplyVoidEvent(ctx, v, sale, member, outcome, entries);
      },
      durability, routed_key);
}

absl::StatusOr<Applied> Ingest::ApplyClaim(const v1::ClaimReceiptRequest& claim, Durability durability) {
  const std::string sale_key = RefKey(claim.sale());
  auto sale_lock = sale_locks_.Lock(sale_key);
  const auto no_receipt = [] {
    return absl::NotFoundError("sale: no receipt with this reference, receipt_code and total_minor");
  };
  auto found = ReadSale(claim.sale(), "sale");
  if (absl::IsFailedPrecondition(found.status())) return no_receipt();
  if (!found.ok()) return found.status();
  RecordedSale recorded = std::move(*found);
  internal::SaleState& sale = *recorded.record.mutable_sale();
  auto event = store_.GetProto<internal::EventRecord>(Cf::kEvents, storage::EventKey(sale.event_seq()));
  if (!event.ok()) return event.status();
  if (!event->has_value() || !(*event)->has_sale()) {
    return absl::DataLossError(loyalty::StrCat("sale ", RefText(claim.sale()), " has no event record"));
  }
  const v1::Sale& original = (*event)->sale();
  // Both must match, and a wrong one answers as an unknown sale does: the
  // answer tells nothing about which receipts exist.
  const std::string expected_code = ReceiptCode(claim.sale());
  const bool code_matches = claim.receipt_code().size() == expected_code.size() &&
                            CRYPTO_memcmp(claim.receipt_code().data(), expected_code.data(), expected_code.size()) == 0;
  if (!code_matches || claim.total_minor() != original.total_minor()) return no_receipt();
  if (sale.member_id() == claim.member_id()) {
    // Claimed by this member before: the same answer again.
    int64_t points = 0;
    for (const auto& line : sale.lines()) points += line.points();
    LOYALTY_ASSIGN_OR_RETURN(MemberPtr member, members_.Read(claim.member_id()));
    if (durability == Durability::kSynced) LOYALTY_RETURN_IF_ERROR(store_.SyncWal());
    Applied replay{{}, true};
    replay.outcome.set_points_earned(points);
    replay.outcome.set_member_id(claim.member_id());
    *replay.outcome.mutable_balance() = BalanceOf(*member, clock_.NowUnixSeconds());
    return replay;
  }
  LOYALTY_ASSIGN_OR_RETURN(MemberPtr current, members_.Read(claim.member_id()));
  Member member = *current;
  const ProgramPtr program = programs_.Current();
  const google::protobuf::Timestamp received_at = clock_.NowTimestamp();
  internal::EventRecord record = ledger_.NewEvent(received_at, program->version);
  const uint64_t seq = record.seq();
  const ApplyContext ctx{*program, received_at.seconds(), seq};
  v1::EventOutcome outcome;
  std::vector<engine::Entry> entries;
  LOYALTY_RETURN_IF_ERROR(
      ApplyClaimEvent(ctx, original, claim.member_id(), sale, member.state, &outcome, &entries));

  storage::WriteSet writes;
  PutSale(claim.sale(), recorded, writes);
  CommitMemberChanges(member, writes, seq, entries, LedgerCause{received_at, &claim.sale(), "receipt claimed", ""});
  outcome.set_member_id(member.record.member_id());
  *outcome.mutable_balance() = BalanceOf(member, received_at.seconds());
  record.set_member_id(member.record.member_id());
  *record.mutable_claim() = claim;
  LOYALTY_RETURN_IF_ERROR(ledger_.Commit(writes, record, &member, durability));
  return Applied{std::move(outcome), false};
}

namespace {

// 16 characters of base32 (A-Z, 2-7) from 80 random bits: unguessable.
std::string NewCode() {
  unsigned char bytes[10];
  const int ok = RAND_bytes(bytes, sizeof(bytes));
  assert(ok == 1);
  (void)ok;
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  std::string code;
  uint64_t acc = 0;
  int bits = 0;
  for (unsigned char b : bytes) {
    acc = (acc << 8) | b;
    bits += 8;
    while (bits >= 5) {
      code.push_back(kAlphabet[(acc >> (bits - 5)) & 31]);
      bits -= 5;
    }
  }
  return code;
}

}  // namespace

absl::StatusOr<v1::RedeemResponse> Ingest::ApplyRedeem(const v1::RedeemRequest& request, Durability durability) {
  // Redemptions share the idempotency family under a store id no terminal
  // can use ('#' is not an id character).
  const std::string txn_key = storage::MemberRequestKey(request.member_id(), request.request_id());
  const std::string fingerprint = Fingerprint("redeem", request);
  auto lock = txn_locks_.Lock(txn_key);
  LOYALTY_ASSIGN_OR_RETURN(
      auto first, ledger_.FindRequest(
                      txn_key, fingerprint,
                      [](uint64_t) { return std::string("request_id: already used for a different redemption"); },
                      durability));
  if (first.has_value()) return first->redeem();
  const ProgramPtr program = programs_.Current();
  const auto reward = std::find_if(program->rewards.begin(), program->rewards.end(),
                                   [&](const engine::Reward& r) { return r.id == request.reward_id(); });
  if (reward == program->rewards.end()) {
    return absl::NotFoundError(loyalty::StrCat("reward_id: no reward '", request.reward_id(), "'"));
  }
  LOYALTY_ASSIGN_OR_RETURN(MemberPtr current, members_.Read(request.member_id()));
  Member member = *current;
  const google::protobuf::Timestamp received_at = clock_.NowTimestamp();
  const engine::Seconds now = received_at.seconds();
  std::vector<engine::Entry> entries;
  if (!engine::Spend(*program, member.state, reward->cost_points, now, entries)) {
    return absl::FailedPreconditionError(loyalty::StrCat("reward_id: needs ", reward->cost_points,
                                                         " available points, the member has ",
                                                         engine::BalanceAt(current->state, now).available));
  }
  const std::string stock_key = Counters::RewardIssued(reward->id);
  if (!counters_.TryReserve(stock_key, reward->stock)) {
    return absl::FailedPreconditionError(loyalty::StrCat("reward_id: '", reward->id, "' is out of stock"));
  }
  internal::EventRecord event = ledger_.NewEvent(received_at, program->version);
  const uint64_t seq = event.seq();
  internal::RedemptionCode code;
  code.set_code(NewCode());
  code.set_member_id(member.record.member_id());
  *code.mutable_reward() = codec::ToProto(*reward);
  code.set_status(internal::RedemptionCode::STATUS_ISSUED);
  code.set_issued_at(now);
  code.set_expires_at(now + static_cast<engine::Seconds>(reward->code_valid_days) * engine::kDay);

  storage::WriteSet writes;
  writes.Put(Cf::kCodes, storage::CodeKey(code.code()), code);
  writes.AddToCounter(stock_key, 1);
  CommitMemberChanges(member, writes, seq, entries,
                      LedgerCause{received_at, nullptr, loyalty::StrCat("reward ", reward->id), ""});
  v1::RedeemResponse response;
  response.set_code(code.code());
  response.set_points_spent(reward->cost_points);
  *response.mutable_balance() = BalanceOf(member, now);
  response.mutable_expires_at()->set_seconds(code.expires_at());

  event.set_member_id(member.record.member_id());
  *event.mutable_redeem()->mutable_request() = request;
  event.mutable_redeem()->set_code(code.code());
  event.mutable_redeem()->set_points(reward->cost_points);
  *event.mutable_redeem()->mutable_reward() = code.reward();
  internal::IdempotencyRecord record;
  record.set_fingerprint(fingerprint);
  record.set_event_seq(seq);
  *record.mutable_redeem() = response;
  LedgerWriter::PutRequestRecord(writes, txn_key, record);
  if (absl::Status s = ledger_.Commit(writes, event, &member, durability); !s.ok()) {
    counters_.Release(stock_key);
    return s;
  }
  return response;
}

}  // namespace loyalty
