// services/loyalty/replay.h: rebuilds member state from the stored event log.
//
// Every state change is an event in CF "events" (enrolments, sales, returns,
// voids, adjustments, expiry runs), recorded with the time it was applied and
// the program version it was applied with. Replaying them in sequence order
// through the same code as live ingest (event_apply.h, the engine) gives the
// same member states: VerifyLedger compares them with the stored ones. With a
// proposed program in place of the recorded versions, the same replay is the
// dry run of a configuration change.
//
// Memory: a replay of every member holds every member's state and every
// sale's state. A partial replay (ReplayOptions::include_member) holds only
// the included members' and their sales'; it counts what it holds and stops
// with RESOURCE_EXHAUSTED past ReplayOptions::memory_limit_bytes, so a caller
// with a budget replays the members in parts (dry_runs.h).
//
// Thread-safety: a replay reads a snapshot (and, for a claimed anonymous sale
// in a partial replay, the sale's stored event and record, which never
// change once written); run any number at once.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "absl/status/statusor.h"
#include "services/loyalty/engine/member.h"
#include "services/loyalty/program_store.h"
#include "storage/store.h"

namespace loyalty {

struct ReplayResult {
  std::map<std::string, engine::MemberState> members;
  uint64_t events = 0;             // events read
  uint64_t last_seq = 0;
  size_t peak_state_bytes = 0;     // the most the replay's state held (estimated)
  // Partial replays: sequence numbers of the uses of each offer with a
  // budget, in order, at most one more than the budget.
  std::map<std::string, std::vector<uint64_t>> budgeted_offer_uses;
};

// The program to apply an event recorded with `version` with.
using ProgramFor = std::function<absl::StatusOr<ProgramPtr>(uint64_t version)>;

// Sales that later events refer to (returns, voids, claims), by a 64-bit
// hash of their reference.
using SaleRefHashes = std::unordered_set<uint64_t>;

struct ReplayOptions {
  // Replaying under a program the events were not recorded with (a dry run):
  // recorded totals are accepted as they are.
  bool what_if = false;
  // A partial replay: only these members and the sales they made or claimed.
  // Events of other members and of anonymous sales no included member claimed
  // are skipped (so an unknown sale is not data loss). Empty: every member,
  // and every reference is checked.
  std::function<bool(std::string_view member_id)> include_member;
  // Partial replays cannot count offer budgets across members: an offer with
  // a budget is used freely up to the event sequence number given here, and
  // is exhausted after it (none given: never exhausted). dry_runs.cc finds
  // the sequence numbers at which budgets ran out.
  std::map<std::string, uint64_t> offer_exhausted_after;
  // If set, only these sales' state is kept (a hash that collides keeps one
  // more): the others are applied to their member and forgotten.
  const SaleRefHashes* referenced_sales = nullptr;
  // RESOURCE_EXHAUSTED once the replay's state is estimated to hold more than
  // this; 0: no limit.
  size_t memory_limit_bytes = 0;
  // Called every 256 events and at the end, before the memory check, with
  // the last sequence number read and the state held; returning false stops
  // the replay with CANCELLED.
  std::function<bool(uint64_t seq, size_t state_bytes)> progress;
};

absl::StatusOr<ReplayResult> ReplayEventLog(const storage::Store& store,
                                            const storage::Store::Snapshot* snapshot,
                                            const ProgramFor& program_for, const ReplayOptions& options);
// One pass over the log collecting the sales returns, voids and claims refer
// to (cheap: other events are not parsed). `progress` as in ReplayOptions.
absl::StatusOr<SaleRefHashes> ReferencedSales(const storage::Store& store, const storage::Store::Snapshot* snapshot,
                                              const std::function<bool(uint64_t seq)>& progress);
// An event record's first fields (records.proto: seq, member_id and which
// event it holds), read without parsing the event: the replay's cheap pass
// and its skipping of other members' events. False if `bytes` is not a
// well-formed protobuf message; fields it does not look at are skipped.
struct EventHead {
  uint64_t seq = 0;
  std::string member_id;
  int event_field = 0;  // the number of the oneof field set (EventRecord::kSale, ...)
};
bool PeekEventHead(std::string_view bytes, EventHead& head);

// What a SaleRefHashes holds per sale, about (for memory budgets).
inline constexpr size_t kSaleRefHashBytes = 40;

inline absl::StatusOr<ReplayResult> ReplayEventLog(const storage::Store& store,
                                                   const storage::Store::Snapshot* snapshot,
                                                   const ProgramFor& program_for, bool what_if = false) {
  ReplayOptions options;
  options.what_if = what_if;
  return ReplayEventLog(store, snapshot, program_for, options);
}

}  // namespace loyalty
