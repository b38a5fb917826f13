#include "services/loyalty/member_store.h"

#include <cassert>

#include "base/str_cat.h"
#include "storage/keys.h"

namespace loyalty {

using storage::Cf;

absl::StatusOr<std::string> ResolveMember(const storage::Store& store,
                                          const v1::MemberIdentifier& member,
                                          std::string_view field) {
  std::string key;
  std::string what;
  switch (member.kind_case()) {
    case v1::MemberIdentifier::kMemberId: {
      auto record = store.Get(Cf::kMembers, storage::MemberKey(member.member_id()));
      if (absl::IsNotFound(record.status())) {
        return absl::NotFoundError(loyalty::StrCat(field, ".member_id: no member '", member.member_id(), "'"));
      }
      if (!record.ok()) return record.status();
      return member.member_id();
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
  auto id = store.Get(Cf::kIdentifiers, key);
  if (absl::IsNotFound(id.status())) return absl::NotFoundError(what);
  return id;
}

absl::StatusOr<internal::MemberRecord> ReadMember(const storage::Store& store,
                                                  std::string_view member_id) {
  auto record = store.GetProto<internal::MemberRecord>(Cf::kMembers, storage::MemberKey(member_id));
  if (!record.ok()) return record.status();
  if (!record->has_value()) {
    return absl::NotFoundError(loyalty::StrCat("member_id: no member '", member_id, "'"));
  }
  assert((*record)->member_id() == member_id);
  return std::move(**record);
}

void PutMember(storage::WriteSet& writes, const internal::MemberRecord& member) {
  assert(!member.member_id().empty());
  writes.Put(Cf::kMembers, storage::MemberKey(member.member_id()), member);
}

void AppendLedgerEntry(internal::MemberRecord& member, storage::WriteSet& writes,
                       v1::LedgerEntry entry) {
  assert(entry.entry_id() != 0);
  assert(entry.kind() != v1::LEDGER_ENTRY_KIND_UNSPECIFIED);
  entry.set_member_id(member.member_id());
  member.set_available_points(member.available_points() + entry.points());
  member.set_ledger_entries(member.ledger_entries() + 1);
  writes.Put(Cf::kLedger, storage::LedgerKey(member.member_id(), entry.entry_id()), entry);
}

v1::Balance BalanceOf(const internal::MemberRecord& member) {
  v1::Balance b;
  b.set_available_points(member.available_points());
  b.set_pending_points(member.pending_points());
  return b;
}

absl::StatusOr<LedgerSum> SumLedger(const storage::Store& store, std::string_view member_id) {
  LedgerSum sum;
  const std::string prefix = storage::LedgerPrefix(member_id);
  auto it = store.NewIterator(Cf::kLedger);
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    v1::LedgerEntry entry;
    if (!entry.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()))) {
      return absl::DataLossError(loyalty::StrCat("unparseable ledger entry of member ", member_id));
    }
    sum.points += entry.points();
    ++sum.entries;
  }
  if (!it->status().ok()) return storage::FromRocks(it->status(), "scan ledger");
  return sum;
}

}  // namespace loyalty
