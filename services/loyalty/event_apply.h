// services/loyalty/event_apply.h: applies a terminal event to in-memory
// records with the engine. Pure: no storage, no clock, no gRPC. Live ingest
// (services/loyalty/ingest.h) wraps it with reads, idempotency and one atomic
// commit; replay (services/loyalty/replay.h) feeds it the stored event log to
// rebuild state or to dry-run a proposed program.
#pragma once

#include <vector>

#include "absl/status/status.h"
#include "loyalty/internal/records.pb.h"
#include "loyalty/v1/pos.pb.h"
#include "services/loyalty/engine/engine.h"
#include "services/loyalty/engine/offers.h"

namespace loyalty {

struct ApplyContext {
  const engine::ProgramConfig& program;
  engine::Seconds now;  // when the event is applied (tier and stage evaluation)
  uint64_t seq;         // the event's sequence number
  // Replaying history under a proposed program (dry run): the sale happened as
  // recorded, so its total is not checked against the proposal's discounts.
  bool what_if = false;
};

// `member` is null for an anonymous sale. `rewards` are the rewards of the
// sale's redemption codes, in order (the caller checked the codes). Applies
// the member's offers, checks the total to pay, and fills `sale` (its new
// state), `outcome` (all but the balance) and the ledger `entries`.
absl::Status ApplySaleEvent(const ApplyContext& ctx, const v1::Sale& sale, engine::MemberState* member,
                            const engine::OfferContext& offers, const std::vector<const engine::Reward*>& rewards,
                            internal::SaleState* sale_state, v1::EventOutcome* outcome,
                            std::vector<engine::Entry>* entries);

// The engine's view of a sale's lines (net before loyalty discounts).
engine::SaleInput SaleInputOf(const v1::Sale& sale);

// `sale` is the recorded sale's state, updated in place. `member` is null if
// the sale was anonymous. FAILED_PRECONDITION / INVALID_ARGUMENT leave all
// arguments as they were.
absl::Status ApplyReturnEvent(const ApplyContext& ctx, const v1::Return& ret, internal::SaleState& sale,
                              engine::MemberState* member, v1::EventOutcome* outcome,
                              std::vector<engine::Entry>* entries);
absl::Status ApplyVoidEvent(const ApplyContext& ctx, const v1::Void& v, internal::SaleState& sale,
                            engine::MemberState* member, v1::EventOutcome* outcome,
                            std::vector<engine::Entry>* entries);

inline constexpr int32_t kClaimWindowDays = 30;

// Claims the anonymous sale `original` (its state `sale`) for `member_id`.
absl::Status ApplyClaimEvent(const ApplyContext& ctx, const v1::Sale& original, const std::string& member_id,
                             internal::SaleState& sale, engine::MemberState& member,
                             v1::EventOutcome* outcome, std::vector<engine::Entry>* entries);

// "store/terminal/transaction", for messages.
std::string RefText(const v1::TransactionRef& ref);

// Counts a committed event by kind (loyaltyd_events_applied_total in
// /metrics). Call once per event, after its commit succeeded.
void CountCommitted(const internal::EventRecord& event);

}  // namespace loyalty
