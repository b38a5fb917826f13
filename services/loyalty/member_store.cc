#include "services/loyalty/member_store.h"

#include <cassert>
#include <cstddef>

#include <google/protobuf/arena.h>

#include "base/str_cat.h"
#include "services/common/status_macros.h"
#include "services/loyalty/codec.h"
#include "storage/keys.h"

namespace loyalty {

using storage::Cf;

namespace {

// A member record's repeated fields (points batches, credit days,
// categories) are one allocation each in a heap message. Encoding and
// decoding on an arena whose first block is on the caller's stack needs
// none for a typical member, and at most a few blocks for a long history.
constexpr size_t kRecordArenaBlock = 16 * 1024;

google::protobuf::ArenaOptions StackArena(char* block) {
  google::protobuf::ArenaOptions options;
  options.initial_block = block;
  options.initial_block_size = kRecordArenaBlock;
  return options;
}

absl::Status NoMember(std::string_view member_id) {
  return absl::NotFoundError(loyalty::StrCat("member_id: no member '", member_id, "'"));
}

}  // namespace

absl::Status ParseMemberRecord(std::string_view bytes, internal::MemberRecord& out,
                               std::string_view member_id) {
  if (!out.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return absl::DataLossError(member_id.empty() ? std::string("unparseable member record")
                                                 : loyalty::StrCat("unparseable record of member '", member_id, "'"));
  }
  if (!codec::WellFormed(out.engine())) {
    return absl::DataLossError(loyalty::StrCat("record of member '", member_id.empty() ? out.member_id() : member_id,
                                               "': the points state is damaged"));
  }
  return absl::OkStatus();
}

absl::StatusOr<internal::MemberRecord> ReadMember(const storage::Store& store,
                                                  std::string_view member_id) {
  auto raw = store.Get(Cf::kMembers, storage::MemberKey(member_id));
  if (absl::IsNotFound(raw.status())) return NoMember(member_id);
  if (!raw.ok()) return raw.status();
  internal::MemberRecord record;
  LOYALTY_RETURN_IF_ERROR(ParseMemberRecord(*raw, record, member_id));
  assert(record.member_id() == member_id);
  return record;
}

absl::StatusOr<MemberPtr> Members::Read(std::string_view member_id) const {
  MemberCache::Lookup found = cache_.Find(member_id);
  if (found.member != nullptr) return found.member;
  auto raw = store_.Get(Cf::kMembers, storage::MemberKey(member_id));
  if (absl::IsNotFound(raw.status())) return NoMember(member_id);
  if (!raw.ok()) return raw.status();
  alignas(std::max_align_t) char block[kRecordArenaBlock];
  google::protobuf::Arena arena(StackArena(block));
  auto* parsed = google::protobuf::Arena::CreateMessage<internal::MemberRecord>(&arena);
  LOYALTY_RETURN_IF_ERROR(ParseMemberRecord(*raw, *parsed, member_id));
  assert(parsed->member_id() == member_id);
  auto member = std::make_shared<Member>();
  member->state = codec::FromProto(parsed->engine());
  parsed->clear_engine();
  member->record = *parsed;  // the few identity fields, onto the heap
  MemberPtr decoded = std::move(member);
  cache_.Insert(decoded, found.ticket);
  return decoded;
}

absl::StatusOr<MemberPtr> Members::Resolve(const v1::MemberIdentifier& member,
                                           std::string_view field) const {
  std::string key;
  std::string what;
  switch (member.kind_case()) {
    case v1::MemberIdentifier::kMemberId: {
      auto found = Read(member.member_id());
      if (absl::IsNotFound(found.status())) {
        return absl::NotFoundError(loyalty::StrCat(field, ".member_id: no member '", member.member_id(), "'"));
      }
      return found;
    }
    case v1::MemberIdentifier::kCardNumber:
      key = storage::IdentifierKey(storage::IdentifierKind::kCard, member.card_number());
      what = loyalty::StrCat(field, ".card_number: no member has this card");
      break;
    case v1::MemberIdentifier::kPhone:
      key = storage::IdentifierKey(storage::IdentifierKind::kPhone, member.phone());
      what = loyalty::StrCat(field, ".phone: no member has this phone number");
      break;
    case v1::MemberIdentifier::KIND_NOT_SET:
      return absl::InvalidArgumentError(loyalty::StrCat(field, ": no identifier given"));
  }
  auto id = store_.Get(Cf::kIdentifiers, key);
  if (absl::IsNotFound(id.status())) return absl::NotFoundError(what);
  if (!id.ok()) return id.status();
  auto found = Read(*id);
  // An identifier pointing at no member is a broken invariant of storage.
  if (absl::IsNotFound(found.status())) {
    return absl::DataLossError(loyalty::StrCat(field, ": identifier names member '", *id, "', which has no record"));
  }
  return found;
}

void PutMember(storage::WriteSet& writes, const internal::MemberRecord& record,
               const engine::MemberState& state) {
  assert(!record.member_id().empty());
  assert(!record.has_engine());
  // Encoded on a stack arena (this runs on every event, and malloc was the
  // largest single cost of the backlog path at scale) and appended to the
  // record's bytes: concatenated protobuf messages parse as their merge.
  alignas(std::max_align_t) char block[kRecordArenaBlock];
  google::protobuf::Arena arena(StackArena(block));
  auto* state_only = google::protobuf::Arena::CreateMessage<internal::MemberRecord>(&arena);
  codec::ToProto(state, state_only->mutable_engine());
  std::string value = record.SerializeAsString();
  state_only->AppendToString(&value);
  writes.PutRaw(Cf::kMembers, storage::MemberKey(record.member_id()), std::move(value));
}

v1::LedgerEntryKind ToLedgerKind(engine::EntryKind kind) {
  switch (kind) {
    case engine::EntryKind::kEarn: return v1::LEDGER_ENTRY_KIND_EARN;
    case engine::EntryKind::kReverse: return v1::LEDGER_ENTRY_KIND_REVERSE;
    case engine::EntryKind::kRedeem: return v1::LEDGER_ENTRY_KIND_REDEEM;
    case engine::EntryKind::kExpire: return v1::LEDGER_ENTRY_KIND_EXPIRE;
    case engine::EntryKind::kAdjust: return v1::LEDGER_ENTRY_KIND_ADJUST;
  }
  assert(false && "unknown entry kind");
  return v1::LEDGER_ENTRY_KIND_UNSPECIFIED;
}

void CommitMemberChanges(Member& member, storage::WriteSet& writes, uint64_t seq,
                         const std::vector<engine::Entry>& entries, const LedgerCause& cause) {
  internal::MemberRecord& record = member.record;
  assert(!record.member_id().empty());
  assert(!record.has_engine());
  assert(entries.size() <= storage::kMaxLedgerEntriesPerEvent);
  for (size_t i = 0; i < entries.size(); ++i) {
    v1::LedgerEntry entry;
    entry.set_entry_id(storage::LedgerEntryId(seq, static_cast<uint32_t>(i)));
    entry.set_member_id(record.member_id());
    entry.set_kind(ToLedgerKind(entries[i].kind));
    entry.set_points(entries[i].points);
    *entry.mutable_at() = cause.at;
    if (cause.ref != nullptr) *entry.mutable_cause() = *cause.ref;
    entry.set_reason(cause.reason);
    entry.set_author(cause.author);
    writes.Put(Cf::kLedger, storage::LedgerKey(record.member_id(), entry.entry_id()), entry);
    record.set_ledger_total_points(record.ledger_total_points() + entries[i].points);
    record.set_ledger_entries(record.ledger_entries() + 1);
  }
  record.set_last_event_seq(seq);
  // The record's total and the engine's batches must agree before we write.
  assert(record.ledger_total_points() == engine::LedgerTotal(member.state));
  // The stored form carries the state; the in-memory Member keeps it decoded.
  PutMember(writes, record, member.state);
}

v1::Balance BalanceOf(const Member& member, engine::Seconds now) {
  const engine::Balance b = engine::BalanceAt(member.state, now);
  v1::Balance out;
  out.set_available_points(b.available);
  out.set_pending_points(b.pending);
  assert(b.total() == member.record.ledger_total_points());
  return out;
}

v1::Balance BalanceOf(const internal::MemberRecord& member, engine::Seconds now) {
  const engine::Balance b = engine::BalanceAt(codec::FromProto(member.engine()), now);
  v1::Balance out;
  out.set_available_points(b.available);
  out.set_pending_points(b.pending);
  assert(b.total() == member.ledger_total_points());
  return out;
}

absl::StatusOr<LedgerSum> SumLedger(const storage::Store& store, std::string_view member_id,
                                    const storage::Store::Snapshot* snapshot) {
  LedgerSum sum;
  const std::string prefix = storage::LedgerPrefix(member_id);
  auto it = store.NewCursor(Cf::kLedger, snapshot);
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    v1::LedgerEntry entry;
    if (!entry.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()))) {
      return absl::DataLossError(loyalty::StrCat("unparseable ledger entry of member ", member_id));
    }
    sum.points += entry.points();
    ++sum.entries;
  }
  if (absl::Status read = it->status("scan ledger"); !read.ok()) return read;
  return sum;
}

}  // namespace loyalty
