// services/loyalty/ledger_writer.h: the one way a change to members reaches
// the store. Every writer (terminal ingest: sales, returns, voids, claims,
// redemptions; the admin's enrolments, adjustments and expiry) takes its
// event record's head here (a fresh sequence number, when it was received,
// the program version), puts its own writes (ledger entries and member state
// through CommitMemberChanges, codes, counters, the request's idempotency
// record) and commits through Commit, which writes the event record with
// them in one WriteSet and only then updates the member cache and, once the
// commit is durable, tells the member's watchers. Replay
// (services/loyalty/replay.h) rebuilds state from the same records.
//
// Thread-safety: stateless beyond its references; callers serialise the
// changes of one member (its lane) as before.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "google/protobuf/timestamp.pb.h"
#include "loyalty/internal/records.pb.h"
#include "services/loyalty/member_cache.h"
#include "services/loyalty/member_store.h"
#include "services/loyalty/member_updates.h"
#include "storage/store.h"

namespace loyalty {

class LedgerWriter {
 public:
  LedgerWriter(storage::Store& store, Members& members, MemberUpdates* updates)
      : store_(store), members_(members), updates_(updates) {}

  // The head of a new event's record: a new sequence number, `received_at`
  // and `program_version`. The caller sets the event itself and the member.
  internal::EventRecord NewEvent(const google::protobuf::Timestamp& received_at, uint64_t program_version) const;

  // Idempotency, one way for every writer: the record a request already
  // applied under `txn_key` left, or nullopt if it is new. ALREADY_EXISTS
  // with `conflict(first event seq)` if it was applied with other content
  // (another fingerprint). With kSynced a record found is made durable
  // first (its commit may have been buffered); callers that answer after a
  // WAL sync anyway pass kBuffered. The caller holds the key's lock.
  absl::StatusOr<std::optional<internal::IdempotencyRecord>> FindRequest(
      const std::string& txn_key, const std::string& fingerprint,
      const std::function<std::string(uint64_t first_event_seq)>& conflict, storage::Durability durability) const;

  // The idempotency record of a request (terminal or pseudo-store key).
  static void PutRequestRecord(storage::WriteSet& writes, const std::string& txn_key,
                               const internal::IdempotencyRecord& record);

  // Puts `event` into `writes` and commits them as one. Then, if `member`
  // (the member as changed by the event) is given, the member cache takes it
  // and its watchers hear of it once durable (at once for kSynced). Counts
  // the event in loyaltyd_events_applied_total.
  absl::Status Commit(storage::WriteSet& writes, const internal::EventRecord& event, Member* member,
                      storage::Durability durability);

 private:
  storage::Store& store_;
  Members& members_;
  MemberUpdates* updates_;
};

}  // namespace loyalty
