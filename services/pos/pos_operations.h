// services/pos/pos_operations.h: the terminal operations, independent of the
// transport. Every edge (gRPC, HTTP/JSON) authenticates the caller, then
// calls these; every rule (validation, authorisation, limits) lives here.
//
// Each event goes: authorise -> validate -> resolve member -> onto the
// member's lane -> Ingest::Apply* (buffered commit) -> done callback once the
// WAL-sync thread has made it durable. No thread waits for the fsync: the lane
// goes on with its next event meanwhile. The done callback runs on the
// WAL-sync thread; it must be quick (answer the call).
//
// Backlog upload: every event is authorised and validated on its own (a bad
// one is answered with its error, the rest go on). Valid events are applied in
// three phases (sales, then returns, then voids), each ordered by event time,
// with buffered commits; one WAL sync then makes them all durable before the
// answers are given. A phase's events are routed (validated, their member
// resolved) in parallel on the lane pool, not on the thread that received
// the upload.
#pragma once

#include <functional>
#include <vector>

#include "absl/status/statusor.h"
#include "loyalty/v1/pos.pb.h"
#include "services/auth/auth.h"
#include "services/common/clock.h"
#include "services/common/lanes.h"
#include "services/common/token_buckets.h"
#include "services/loyalty/ingest.h"

namespace loyalty::pos {

class PosOperations {
 public:
  using Done = std::function<void(absl::StatusOr<Applied>)>;

  // `lookup_limit`: LookupMember calls per terminal credential.
  PosOperations(Ingest& ingest, Lanes& lanes, storage::Store& store, const Members& members,
                const ProgramStore& programs, const Counters& counters, const Clock& clock,
                RateLimit lookup_limit = {});

  void RecordSale(const auth::Principal& who, const v1::Sale& sale, Done done);
  void RecordReturn(const auth::Principal& who, const v1::Return& ret, Done done);
  void VoidSale(const auth::Principal& who, const v1::Void& v, Done done);
  // Refuses an upload of more than kMaxBacklogEvents with
  // RESOURCE_EXHAUSTED (nothing applied); an edge that reads a stream may
  // stop reading after kMaxBacklogEvents + 1 events and pass them on.
  using BacklogDone = std::function<void(absl::StatusOr<v1::BacklogResult>)>;
  void UploadBacklog(const auth::Principal& who, std::vector<v1::BacklogEvent> events, BacklogDone done);
  // Before payment: what the basket gets. Read-only; the same engine code as
  // RecordSale, so recording then gives the same discounts and points.
  absl::StatusOr<v1::BasketEvaluation> EvaluateBasket(const auth::Principal& who,
                                                      const v1::EvaluateBasketRequest& request);
  // What a till needs to greet and serve the member, no more: to a
  // terminal the member id, the first name, the available points, tier and
  // stage (an admin also gets the whole name and balance). Limited per
  // terminal credential and counted (loyaltyd_member_lookups_total), so a
  // terminal cannot walk the phone numbers of a town.
  absl::StatusOr<v1::MemberSummary> LookupMember(const auth::Principal& who,
                                                 const v1::LookupMemberRequest& request);

 private:
  // An event checked and routed, ready for its lane. `apply` refers to the
  // event (no copy): the gRPC request or the backlog run holds it until the
  // answer is given.
  struct Routed {
    std::string ordering_key;
    std::function<absl::StatusOr<Applied>(storage::Durability)> apply;
    int64_t occurred_at_micros = 0;
  };
  absl::StatusOr<Routed> RouteSale(const auth::Principal& who, const v1::Sale& sale);
  absl::StatusOr<Routed> RouteReturn(const auth::Principal& who, const v1::Return& ret);
  absl::StatusOr<Routed> RouteVoid(const auth::Principal& who, const v1::Void& v);
  absl::StatusOr<Routed> RouteBacklogEvent(const auth::Principal& who, const v1::BacklogEvent& e);
  void Dispatch(absl::StatusOr<Routed> routed, Done done);

  Ingest& ingest_;
  Lanes& lanes_;
  storage::Store& store_;
  const Members& members_;
  const ProgramStore& programs_;
  const Counters& counters_;
  const Clock& clock_;
  TokenBuckets lookups_;
};

}  // namespace loyalty::pos
