#include "services/loyalty/admin_operations.h"

#include <cassert>
#include <filesystem>

#include "base/str_cat.h"
#include "loyalty/internal/records.pb.h"
#include "services/common/fingerprint.h"
#include "services/common/status_macros.h"
#include "services/loyalty/member_store.h"
#include "services/pos/validation.h"
#include "storage/keys.h"

namespace loyalty {

using storage::Cf;

namespace {

// Admin requests share the idempotency column family with terminal events
// under a store id no terminal can use ('#' is not a valid id character).
constexpr std::string_view kAdminStore = "#admin";

absl::Status ValidateEnroll(const v1::EnrollMemberRequest& r) {
  LOYALTY_RETURN_IF_ERROR(pos::ValidateId("member_id", r.member_id()));
  if (r.display_name().size() > 128) return pos::FieldError("display_name", "must be at most 128 bytes");
  if (!r.card_number().empty()) LOYALTY_RETURN_IF_ERROR(pos::ValidateCardNumber("card_number", r.card_number()));
  if (!r.phone().empty()) LOYALTY_RETURN_IF_ERROR(pos::ValidatePhone("phone", r.phone()));
  return absl::OkStatus();
}

}  // namespace

AdminOperations::AdminOperations(storage::Store& store, Lanes& lanes, const Clock& clock,
                                 engine::ProgramRules rules)
    : store_(store), lanes_(lanes), clock_(clock), rules_(std::move(rules)) {}

absl::StatusOr<v1::EnrollMemberResponse> AdminOperations::EnrollMember(
    const auth::Principal& who, const v1::EnrollMemberRequest& request) {
  LOYALTY_RETURN_IF_ERROR(auth::RequireAdmin(who));
  LOYALTY_RETURN_IF_ERROR(ValidateEnroll(request));
  std::lock_guard<std::mutex> lock(enroll_mu_);

  v1::EnrollMemberResponse out;
  out.set_member_id(request.member_id());
  auto existing = store_.GetProto<internal::MemberRecord>(Cf::kMembers, storage::MemberKey(request.member_id()));
  if (!existing.ok()) return existing.status();
  if (existing->has_value()) {
    const auto& m = **existing;
    if (m.display_name() == request.display_name() && m.card_number() == request.card_number() &&
        m.phone() == request.phone()) {
      out.set_created(false);
      return out;
    }
    return absl::AlreadyExistsError(loyalty::StrCat("member_id: member '", request.member_id(),
                                                 "' is already enrolled with other details"));
  }
  storage::WriteSet writes;
  auto claim = [&](storage::IdentifierKind kind, const std::string& value,
                   std::string_view field) -> absl::Status {
    if (value.empty()) return absl::OkStatus();
    const std::string key = storage::IdentifierKey(kind, value);
    auto owner = store_.Get(Cf::kIdentifiers, key);
    if (owner.ok()) {
      return absl::AlreadyExistsError(loyalty::StrCat(field, ": already belongs to another member"));
    }
    if (!absl::IsNotFound(owner.status())) return owner.status();
    writes.PutRaw(Cf::kIdentifiers, key, request.member_id());
    return absl::OkStatus();
  };
  LOYALTY_RETURN_IF_ERROR(claim(storage::IdentifierKind::kCard, request.card_number(), "card_number"));
  LOYALTY_RETURN_IF_ERROR(claim(storage::IdentifierKind::kPhone, request.phone(), "phone"));

  const uint64_t seq = store_.NextEventSeq();
  internal::MemberRecord member;
  member.set_member_id(request.member_id());
  member.set_display_name(request.display_name());
  member.set_card_number(request.card_number());
  member.set_phone(request.phone());
  *member.mutable_enrolled_at() = request.has_enrolled_at() ? request.enrolled_at() : clock_.NowTimestamp();
  member.set_last_event_seq(seq);
  PutMember(writes, member);

  internal::EventRecord event;
  event.set_seq(seq);
  *event.mutable_received_at() = clock_.NowTimestamp();
  event.set_member_id(request.member_id());
  *event.mutable_enroll() = request;
  writes.Put(Cf::kEvents, storage::EventKey(seq), event);
  LOYALTY_RETURN_IF_ERROR(store_.Commit(writes, storage::Durability::kSynced));
  out.set_created(true);
  return out;
}

void AdminOperations::AdjustPoints(const auth::Principal& who, const v1::AdjustPointsRequest& request,
                                   std::function<void(absl::StatusOr<v1::AdjustPointsResponse>)> done) {
  absl::Status checked = [&]() -> absl::Status {
    LOYALTY_RETURN_IF_ERROR(auth::RequireAdmin(who));
    LOYALTY_RETURN_IF_ERROR(pos::ValidateId("member_id", request.member_id()));
    LOYALTY_RETURN_IF_ERROR(pos::ValidateId("request_id", request.request_id()));
    if (request.points() == 0 || request.points() > kMaxAdjustPoints || request.points() < -kMaxAdjustPoints) {
      return pos::FieldError("points", loyalty::StrCat("must be non-zero and at most ", kMaxAdjustPoints,
                                                    " either way, got ", request.points()));
    }
    if (request.reason().empty() || request.reason().size() > pos::kMaxReasonBytes) {
      return pos::FieldError("reason", "is required, at most 256 bytes");
    }
    return absl::OkStatus();
  }();
  if (!checked.ok()) {
    done(checked);
    return;
  }
  lanes_.Post(request.member_id(), [this, who, request, done = std::move(done)] {
    done(ApplyAdjustment(who, request));
  });
}

absl::StatusOr<v1::AdjustPointsResponse> AdminOperations::ApplyAdjustment(
    const auth::Principal& who, const v1::AdjustPointsRequest& request) {
  const std::string txn_key = storage::TxnKey(kAdminStore, "adjust", request.request_id());
  const std::string fingerprint = Fingerprint("adjust", request);
  auto lock = request_locks_.Lock(txn_key);
  auto first = store_.GetProto<internal::IdempotencyRecord>(Cf::kTxn, txn_key);
  if (!first.ok()) return first.status();
  if (first->has_value()) {
    if ((*first)->fingerprint() != fingerprint) {
      return absl::AlreadyExistsError("request_id: already used for a different adjustment");
    }
    // Replay: answer with the entry and the member's current balance.
    LOYALTY_ASSIGN_OR_RETURN(internal::MemberRecord member, ReadMember(store_, request.member_id()));
    auto entry = store_.GetProto<v1::LedgerEntry>(
        Cf::kLedger, storage::LedgerKey(request.member_id(), storage::LedgerEntryId((*first)->event_seq(), 0)));
    if (!entry.ok()) return entry.status();
    v1::AdjustPointsResponse out;
    if (entry->has_value()) *out.mutable_entry() = **entry;
    *out.mutable_balance() = BalanceOf(member);
    return out;
  }
  LOYALTY_ASSIGN_OR_RETURN(internal::MemberRecord member, ReadMember(store_, request.member_id()));
  const uint64_t seq = store_.NextEventSeq();
  storage::WriteSet writes;
  v1::LedgerEntry entry;
  entry.set_entry_id(storage::LedgerEntryId(seq, 0));
  entry.set_kind(v1::LEDGER_ENTRY_KIND_ADJUST);
  entry.set_points(request.points());
  *entry.mutable_at() = clock_.NowTimestamp();
  entry.set_reason(request.reason());
  entry.set_author(who.name);
  AppendLedgerEntry(member, writes, entry);
  entry.set_member_id(member.member_id());
  member.set_last_event_seq(seq);
  PutMember(writes, member);

  internal::EventRecord event;
  event.set_seq(seq);
  *event.mutable_received_at() = clock_.NowTimestamp();
  event.set_member_id(member.member_id());
  event.mutable_adjust()->set_author(who.name);
  *event.mutable_adjust()->mutable_request() = request;
  writes.Put(Cf::kEvents, storage::EventKey(seq), event);

  internal::IdempotencyRecord record;
  record.set_fingerprint(fingerprint);
  record.set_event_seq(seq);
  writes.Put(Cf::kTxn, txn_key, record);
  LOYALTY_RETURN_IF_ERROR(store_.Commit(writes, storage::Durability::kSynced));

  v1::AdjustPointsResponse out;
  *out.mutable_entry() = entry;
  *out.mutable_balance() = BalanceOf(member);
  return out;
}

absl::StatusOr<v1::Program> AdminOperations::GetProgram(const auth::Principal& who) const {
  LOYALTY_RETURN_IF_ERROR(auth::RequireAdmin(who));
  v1::Program p;
  p.set_version(1);
  p.set_currency(rules_.currency);
  p.set_points_per_major_unit(rules_.earn.points_per_major_unit);
  return p;
}

absl::StatusOr<v1::ProgramFigures> AdminOperations::GetFigures(const auth::Principal& who) const {
  LOYALTY_RETURN_IF_ERROR(auth::RequireAdmin(who));
  v1::ProgramFigures f;
  auto it = store_.NewIterator(Cf::kMembers);
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    internal::MemberRecord m;
    if (!m.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()))) {
      return absl::DataLossError("unparseable member record");
    }
    f.set_members(f.members() + 1);
    f.set_liability_points(f.liability_points() + m.available_points() + m.pending_points());
  }
  if (!it->status().ok()) return storage::FromRocks(it->status(), "figures");
  f.set_events(store_.LastAllocatedEventSeq());
  return f;
}

absl::StatusOr<v1::VerifyLedgerResponse> AdminOperations::VerifyLedger(const auth::Principal& who) const {
  LOYALTY_RETURN_IF_ERROR(auth::RequireAdmin(who));
  v1::VerifyLedgerResponse out;
  auto it = store_.NewIterator(Cf::kMembers);
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    internal::MemberRecord m;
    if (!m.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()))) {
      return absl::DataLossError("unparseable member record");
    }
    LOYALTY_ASSIGN_OR_RETURN(LedgerSum sum, SumLedger(store_, m.member_id()));
    out.set_members_checked(out.members_checked() + 1);
    out.set_ledger_entries(out.ledger_entries() + sum.entries);
    if (sum.points != m.available_points() + m.pending_points() || sum.entries != m.ledger_entries()) {
      out.set_mismatches(out.mismatches() + 1);
      if (out.mismatched_member_ids_size() < 100) out.add_mismatched_member_ids(m.member_id());
    }
  }
  if (!it->status().ok()) return storage::FromRocks(it->status(), "verify ledger");
  return out;
}

absl::StatusOr<v1::CreateCheckpointResponse> AdminOperations::CreateCheckpoint(
    const auth::Principal& who, const v1::CreateCheckpointRequest& request) {
  LOYALTY_RETURN_IF_ERROR(auth::RequireAdmin(who));
  const std::string& dir = request.dir();
  if (dir.empty() || dir.size() > 4096 || dir[0] != '/') {
    return pos::FieldError("dir", "must be an absolute path of at most 4096 bytes");
  }
  std::error_code ec;
  if (std::filesystem::exists(dir, ec)) return pos::FieldError("dir", "already exists");
  v1::CreateCheckpointResponse out;
  out.set_last_event_seq(store_.LastAllocatedEventSeq());
  LOYALTY_RETURN_IF_ERROR(store_.Checkpoint(dir));
  out.set_dir(dir);
  return out;
}

}  // namespace loyalty
