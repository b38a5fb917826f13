// services/loyalty/member_store.h: typed access to members and their ledger
// on top of storage::Store. Shared by terminal ingest and the member and
// admin services, so there is one way to move points.
//
// Invariants: a MemberRecord's ledger_total_points equals the sum of its
// ledger entries and the engine state's remaining points minus debt.
// CommitMemberChanges is the only code that changes points, and it writes the
// entries and the record in the same WriteSet.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "loyalty/internal/records.pb.h"
#include "loyalty/v1/common.pb.h"
#include "services/loyalty/engine/engine.h"
#include "storage/store.h"

namespace loyalty {

// The member a terminal's identifier names. NOT_FOUND naming `field`.
absl::StatusOr<std::string> ResolveMember(const storage::Store& store,
                                          const v1::MemberIdentifier& member,
                                          std::string_view field);

// The member's record. NOT_FOUND if not enrolled.
absl::StatusOr<internal::MemberRecord> ReadMember(const storage::Store& store,
                                                  std::string_view member_id);

void PutMember(storage::WriteSet& writes, const internal::MemberRecord& member);

// What caused a set of ledger entries.
struct LedgerCause {
  google::protobuf::Timestamp at;     // business time
  const v1::TransactionRef* ref = nullptr;
  std::string reason;                 // adjustments
  std::string author;
};

// Writes `entries` (produced by the engine for event `seq`) as ledger
// entries, stores `state` in the member's record, and puts the record; all
// into `writes`.
void CommitMemberChanges(internal::MemberRecord& member, const engine::MemberState& state,
                         storage::WriteSet& writes, uint64_t seq,
                         const std::vector<engine::Entry>& entries, const LedgerCause& cause);

// The member's balance at `now` (pending points become available with time).
v1::Balance BalanceOf(const internal::MemberRecord& member, engine::Seconds now);

v1::LedgerEntryKind ToLedgerKind(engine::EntryKind kind);

// Sum of the member's ledger entries, read from storage (for verification).
struct LedgerSum {
  int64_t points = 0;
  uint64_t entries = 0;
};
absl::StatusOr<LedgerSum> SumLedger(const storage::Store& store, std::string_view member_id,
                                    const storage::Store::Snapshot* snapshot = nullptr);

}  // namespace loyalty
