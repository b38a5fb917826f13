// services/loyalty/engine/member.h: everything the engine knows about one
// member, as plain values. Storage keeps it in the member's record; the
// engine turns (state, program, event, time) into a new state and ledger
// entries.
//
// Points live in batches: each earn (or positive adjustment) is a batch with
// its own life: pending until available_at, then available, until spent,
// reversed or expired at expires_at. Debt is points owed after a return took
// back points already spent; the next earnings repay it first.
//
//   total     = sum(batch.remaining) - debt    == sum of the ledger entries
//   pending   = sum(remaining of batches with available_at > now)
//   available = total - pending
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "services/loyalty/engine/program.h"

namespace loyalty::engine {

struct Batch {
  uint64_t id = 0;          // the ledger entry id of the earn
  Seconds earned_at = 0;
  Seconds available_at = 0;
  Seconds expires_at = 0;   // 0: never
  int64_t points = 0;       // as earned
  int64_t remaining = 0;    // not yet spent, reversed or expired
};

// Tier and stage credit of one day (UTC).
struct CreditDay {
  int64_t day = 0;          // days since the epoch
  int64_t spend_minor = 0;
  int32_t visits = 0;
};

struct CategorySeen {
  std::string category;
  Seconds last_at = 0;
  int64_t spend_minor = 0;  // lifetime, for affinity
};

struct StageChange {
  int32_t from = 0;
  int32_t to = 0;
  Seconds at = 0;
};

struct MemberState {
  Seconds enrolled_at = 0;
  std::vector<Batch> batches;       // spendable order: by expires_at, then id
  int64_t debt = 0;                 // >= 0
  std::vector<CreditDay> credits;   // by day, only days inside the longest window
  int32_t tier = 0;                 // index into ProgramConfig::tiers
  Seconds tier_since = 0;
  Seconds grace_until = 0;          // 0: not in a downgrade grace period
  int32_t stage = 0;                // index into ProgramConfig::stages
  Seconds stage_since = 0;
  std::vector<StageChange> stage_history;  // most recent last, at most kMaxStageHistory
  Seconds first_visit_at = 0;
  Seconds last_visit_at = 0;
  std::vector<CategorySeen> categories;
  int32_t engagements = 0;
  int64_t cap_month = 0;            // the month cap_points counts (months since 1970-01)
  int64_t cap_points = 0;
  int32_t visits_total = 0;         // lifetime, for the member's own rhythm
  std::string birthday_mmdd;        // "MM-DD" or empty
  std::map<std::string, int32_t> offer_uses;  // offer id -> times used
  std::map<std::string, int32_t> punches;     // punch-card offer id -> visits since the last free unit
  std::map<std::string, Seconds> offer_first_used;  // offer id -> when the member first used it
};

inline constexpr size_t kMaxStageHistory = 50;
inline constexpr size_t kMaxCategoriesTracked = 200;

struct Balance {
  int64_t available = 0;
  int64_t pending = 0;
  int64_t total() const { return available + pending; }
};

}  // namespace loyalty::engine
