// services/loyalty/member_store.h: typed access to members and their ledger
// on top of storage::Store. Shared by terminal ingest and the member and
// admin services, so there is one way to move points.
//
// Invariant: a MemberRecord's available + pending points equal the sum of
// the points of its ledger entries. AppendLedgerEntry is the only code that
// changes a balance, and it writes the entry in the same WriteSet.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "loyalty/internal/records.pb.h"
#include "loyalty/v1/common.pb.h"
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

// Adds `entry` (entry_id, kind, points set by the caller) to the member's
// ledger in `writes` and applies it to `member`'s balance.
void AppendLedgerEntry(internal::MemberRecord& member, storage::WriteSet& writes,
                       v1::LedgerEntry entry);

v1::Balance BalanceOf(const internal::MemberRecord& member);

// Sum of the member's ledger entries, read from storage (for verification).
struct LedgerSum {
  int64_t points = 0;
  uint64_t entries = 0;
};
absl::StatusOr<LedgerSum> SumLedger(const storage::Store& store, std::string_view member_id);

}  // namespace loyalty
