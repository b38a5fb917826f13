#include "services/loyalty/ledger_writer.h"

#include <cassert>

#include "services/common/status_macros.h"
#include "services/loyalty/event_apply.h"
#include "storage/keys.h"

namespace loyalty {

internal::EventRecord LedgerWriter::NewEvent(const google::protobuf::Timestamp& received_at,
                                             uint64_t program_version) const {
  internal::EventRecord event;
  event.set_seq(store_.NextEventSeq());
  *event.mutable_received_at() = received_at;
  event.set_program_version(program_version);
  return event;
}

absl::StatusOr<std::optional<internal::IdempotencyRecord>> LedgerWriter::FindRequest(
    const std::string& txn_key, const std::string& fingerprint,
    const std::function<std::string(uint64_t first_event_seq)>& conflict, storage::Durability durability) const {
  LOYALTY_ASSIGN_OR_RETURN(auto first, store_.GetProto<internal::IdempotencyRecord>(storage::Cf::kTxn, txn_key));
  if (!first.has_value()) return first;
  if (first->fingerprint() != fingerprint) return absl::AlreadyExistsError(conflict(first->event_seq()));
  if (durability == storage::Durability::kSynced) LOYALTY_RETURN_IF_ERROR(store_.SyncWal());
  return first;
}

void LedgerWriter::PutRequestRecord(storage::WriteSet& writes, const std::string& txn_key,
                                    const internal::IdempotencyRecord& record) {
  assert(!record.fingerprint().empty() && record.event_seq() != 0);
  writes.Put(storage::Cf::kTxn, txn_key, record);
}

absl::Status LedgerWriter::Commit(storage::WriteSet& writes, const internal::EventRecord& event, Member* member,
                                  storage::Durability durability) {
  assert(event.seq() != 0 && event.has_received_at() && event.event_case() != internal::EventRecord::EVENT_NOT_SET);
  assert(member == nullptr || member->record.member_id() == event.member_id());
  writes.Put(storage::Cf::kEvents, storage::EventKey(event.seq()), event);
  LOYALTY_RETURN_IF_ERROR(store_.Commit(writes, durability));
  if (member != nullptr) {
    const std::string member_id = member->record.member_id();
    members_.Committed(std::move(*member));
    // Watchers hear of the change once it is durable, never before.
    if (updates_ != nullptr) {
      if (durability == storage::Durability::kSynced) {
        updates_->Notify(member_id);
      } else {
        updates_->NotifyWhenDurable(store_, member_id);
      }
    }
  }
  CountCommitted(event);
  return absl::OkStatus();
}

}  // namespace loyalty
