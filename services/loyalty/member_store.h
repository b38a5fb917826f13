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
#include "services/loyalty/member_cache.h"
#include "storage/store.h"

namespace loyalty {

// Parses a stored member record (`bytes`) into `out`: DATA_LOSS naming the
// member (`member_id` if the caller knows it) if the bytes are not a record
// or its packed state is damaged. Every reader of the members column
// family goes through this.
absl::Status ParseMemberRecord(std::string_view bytes, internal::MemberRecord& out,
                               std::string_view member_id = {});

// The member's record as stored (no cache: for verification and tests).
// NOT_FOUND if not enrolled.
absl::StatusOr<internal::MemberRecord> ReadMember(const storage::Store& store,
                                                  std::string_view member_id);

// Puts the member's record (which carries no engine state itself) with
// `state`, as one stored record.
void PutMember(storage::WriteSet& writes, const internal::MemberRecord& record,
               const engine::MemberState& state);

// Members as the services read them: through the member cache, decoded.
// Writers (on the member's lane) call Committed after each successful commit.
// Thread-safety: all methods are safe to call concurrently.
class Members {
 public:
  // cache_bytes 0: no cache.
  Members(const storage::Store& store, size_t cache_bytes) : store_(store), cache_(cache_bytes) {}

  // The member as last committed. NOT_FOUND naming member_id if not enrolled.
  absl::StatusOr<MemberPtr> Read(std::string_view member_id) const;
  // The member a terminal's identifier (id, card or phone) names, as last
  // committed. NOT_FOUND naming `field` and the identifier's kind. By id it
  // is a cache lookup: a sale's lane reads the same member next.
  absl::StatusOr<MemberPtr> Resolve(const v1::MemberIdentifier& member, std::string_view field) const;
  // `member` was just committed by its lane.
  void Committed(Member member) { cache_.Put(std::make_shared<const Member>(std::move(member))); }

  const MemberCache& cache() const { return cache_; }

 private:
  const storage::Store& store_;
  mutable MemberCache cache_;
};

// What caused a set of ledger entries.
struct LedgerCause {
  google::protobuf::Timestamp at;     // business time
  const v1::TransactionRef* ref = nullptr;
  std::string reason;                 // adjustments
  std::string author;
};

// Writes `entries` (produced by the engine for event `seq`, already applied
// to member.state) as ledger entries, updates the record's totals, and puts
// the record with its state; all into `writes`.
void CommitMemberChanges(Member& member, storage::WriteSet& writes, uint64_t seq,
                         const std::vector<engine::Entry>& entries, const LedgerCause& cause);

// The member's balance at `now` (pending points become available with time).
v1::Balance BalanceOf(const Member& member, engine::Seconds now);
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
