// services/loyalty/engine/engine.h: the loyalty engine. Pure and
// deterministic: given a member's state, the program and an event with its
// times, it updates the state and returns the ledger entries to append. No
// gRPC, no RocksDB, no clock: `now` is passed in (the time the event is
// applied; business dates come from the event itself).
//
// Rules, in the words README.md gives marketing:
//  - Earning, per line: points = floor(net_minor x points_per_major_unit x
//    category% x tier% x promotion% / (minor_units_per_major x 100^3)).
//    category%: the line category's multiplier (100 if none); tier%: the
//    member's tier when the sale is recorded; promotion%: the best running
//    promotion for the store, category and sale time (promotions do not
//    stack). Excluded categories and skus earn nothing and give no tier
//    credit. The monthly cap cuts lines in basket order.
//  - Points are pending for pending_days after the sale, then available, and
//    expire expiry_days after the sale. Spending draws from the available
//    batch that expires first.
//  - A return takes back exactly what its lines earned (see ShareOfLine),
//    from the sale's own batch; what that batch no longer holds becomes debt,
//    which later earnings repay first. It also takes back the lines' tier
//    credit. A void does the same for the whole rest and removes the visit.
//  - Tiers: qualification over the rolling tier window, spend or visits.
//    Upgrade at once; a member who no longer qualifies keeps the tier for
//    tier_grace_days, then drops to the tier they qualify for.
//  - Stage: the highest stage whose every threshold is met now; every change
//    is recorded with its time.
//
// Thread-safety: all functions are pure over their arguments.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "services/loyalty/engine/earn.h"
#include "services/loyalty/engine/member.h"
#include "services/loyalty/engine/program.h"

namespace loyalty::engine {

enum class EntryKind { kEarn, kReverse, kRedeem, kExpire, kAdjust };

// A ledger entry for the caller to append (it assigns ids and causes).
struct Entry {
  EntryKind kind;
  int64_t points;  // signed
};

struct SaleLine {
  std::string sku;
  std::string category;
  int32_t quantity = 1;
  int64_t net_minor = 0;
};

struct SaleInput {
  std::string store_id;
  Seconds occurred_at = 0;
  std::vector<SaleLine> lines;
};

struct LineEarn {
  int64_t points = 0;
  int64_t credit_minor = 0;      // tier and stage credit (spend)
  int32_t multiplier_pct = 100;  // category x tier x promotion, for explanation
  std::string promotion_id;      // the promotion that applied, if any
  bool excluded = false;
};

struct SaleEarn {
  std::vector<LineEarn> lines;
  int64_t points = 0;         // after the cap
  int64_t capped_points = 0;  // cut by the monthly cap
};

// A newly enrolled member's state.
MemberState EnrolledMember(Seconds enrolled_at);

// What a sale would earn, without changing anything (basket evaluation).
SaleEarn QuoteSale(const ProgramConfig& program, const MemberState& state, const SaleInput& sale);

// Records a sale: refreshes tier and stage at `now`, earns into a new batch
// `batch_id` (repaying debt first), adds credit, visit and categories, then
// refreshes again (an upgrade applies at once).
// `bonus_points` (from offers) join the sale's batch.
SaleEarn RecordSale(const ProgramConfig& program, MemberState& state, const SaleInput& sale,
                    uint64_t batch_id, Seconds now, std::vector<Entry>& entries, int64_t bonus_points = 0);

// Takes back `points` and `credit_minor` of the sale whose batch is
// `batch_id` and which occurred at `sale_at`. `remove_visit` for a void.
struct Reversal {
  uint64_t batch_id = 0;
  Seconds sale_at = 0;
  int64_t points = 0;
  int64_t credit_minor = 0;
  bool remove_visit = false;
};
void RecordReversal(const ProgramConfig& program, MemberState& state, const Reversal& reversal,
                    Seconds now, std::vector<Entry>& entries);

// Spends `points` of available points (first expiring first). Returns false,
// changing nothing, if fewer are available.
bool Spend(const ProgramConfig& program, MemberState& state, int64_t points, Seconds now,
           std::vector<Entry>& entries);

// Manual adjustment: positive adds an available batch `batch_id`; negative
// takes from available points, then pending, then becomes debt.
void Adjust(const ProgramConfig& program, MemberState& state, int64_t delta, uint64_t batch_id,
            Seconds now, std::vector<Entry>& entries);

// Expires every batch whose expires_at <= now, as one EXPIRE entry (none if
// nothing expired). Idempotent: a second run at the same time does nothing.
void Expire(const ProgramConfig& program, MemberState& state, Seconds now,
            std::vector<Entry>& entries);

// Re-evaluates tier (upgrade, grace, downgrade) and stage at `now`, pruning
// credit older than the windows. Idempotent for the same `now`.
void Refresh(const ProgramConfig& program, MemberState& state, Seconds now);

Balance BalanceAt(const MemberState& state, Seconds now);
// Sum of remaining points minus debt: what the ledger must sum to.
int64_t LedgerTotal(const MemberState& state);

struct TierProgress {
  std::string current;
  std::string next;            // empty at the top (or when keeping)
  bool keeping = false;        // in grace: what it takes to keep `current`
  int64_t spend_needed_minor = 0;
  int32_t visits_needed = 0;
  Seconds by = 0;
  std::string message;
};
TierProgress TierProgressAt(const ProgramConfig& program, const MemberState& state, Seconds now);

struct StageProgress {
  std::string current;
  std::string next;
  std::string next_step;       // in words, e.g. "Visit 2 more times to become Regular."
};
StageProgress StageProgressAt(const ProgramConfig& program, const MemberState& state, Seconds now);

// Names with the implicit defaults for empty tier or stage lists.
std::string TierName(const ProgramConfig& program, int32_t tier);
std::string StageName(const ProgramConfig& program, int32_t stage);

// Calendar helpers (UTC): days since epoch -> "YYYY-MM-DD"; month index.
std::string FormatDate(Seconds t);
int64_t MonthIndex(Seconds t);
// "40.00 EUR" for 4000 with 100 minor units per major.
std::string FormatMoney(int64_t minor, const ProgramConfig& program);

}  // namespace loyalty::engine
