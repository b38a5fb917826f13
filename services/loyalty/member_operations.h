// services/loyalty/member_operations.h: what the mobile app may ask and do on
// behalf of one member, independent of the transport. Every edge (gRPC,
// HTTP/JSON) authenticates the caller, then calls these; validation,
// authorisation and limits live here. A member credential sees only its own
// member; an admin sees all.
//
// Writes (Redeem, ClaimReceipt) run on the member's lane and answer through
// `done` once durable, on the WAL-sync thread (it must be quick).
//
// Thread-safety: all methods are safe to call concurrently.
#pragma once

#include <mutex>

#include <map>

#include <functional>
#include <memory>

#include "absl/status/statusor.h"
#include "services/common/attempt_limiter.h"
#include "loyalty/internal/records.pb.h"
#include "loyalty/v1/member.pb.h"
#include "services/auth/auth.h"
#include "services/common/clock.h"
#include "services/common/lanes.h"
#include "services/loyalty/counters.h"
#include "services/loyalty/ingest.h"
#include "services/loyalty/member_pins.h"
#include "services/loyalty/member_store.h"
#include "services/loyalty/member_updates.h"
#include "services/loyalty/member_watch.h"
#include "services/loyalty/program_store.h"
#include "storage/store.h"

namespace loyalty {

inline constexpr uint32_t kDefaultHistoryPageSize = 50;
inline constexpr uint32_t kMaxHistoryPageSize = 500;

class MemberOperations {
 public:
  MemberOperations(storage::Store& store, const Members& members, const ProgramStore& programs, Counters& counters,
                   const Clock& clock, Ingest& ingest, Lanes& lanes, MemberUpdates& updates)
      : store_(store),
        members_(members),
        programs_(programs),
        counters_(counters),
        clock_(clock),
        ingest_(ingest),
        lanes_(lanes),
        updates_(updates) {}

  absl::StatusOr<v1::MemberView> GetMember(const auth::Principal& who,
                                           const v1::GetMemberRequest& request) const;
  // The member's view now, without authorisation (the caller checked it).
  absl::StatusOr<v1::MemberView> CurrentView(const std::string& member_id) const;
  // The member's personal offers, best first, each with its reason. Counts
  // each offer as shown (for the offer figures).
  absl::StatusOr<v1::ListOffersResponse> ListOffers(const auth::Principal& who,
                                                    const v1::ListOffersRequest& request) const;
  // The rewards catalog with what the member can afford.
  // The member's till code (see member.proto); replaces an earlier one.
  absl::StatusOr<v1::TillCode> IssueTillCode(const auth::Principal& who, const v1::IssueTillCodeRequest& request);
  absl::StatusOr<v1::ListRewardsResponse> ListRewards(const auth::Principal& who,
                                                      const v1::ListRewardsRequest& request) const;
  // Newest first. The page token is the entry id to continue below.
  absl::StatusOr<v1::ListHistoryResponse> ListHistory(const auth::Principal& who,
                                                      const v1::ListHistoryRequest& request) const;

  // Sets or clears the member's till PIN (member_pins.h): the member's own
  // credential; an admin may only clear it.
  absl::StatusOr<v1::SetPinResponse> SetPin(const auth::Principal& who, const v1::SetPinRequest& request);

  // Spends points on a reward and returns a one-time code. Also open to a
  // terminal, for a member redeeming at the till, with the proof of the
  // member the program's till_proof asks for. Idempotent by request_id.
  void Redeem(const auth::Principal& who, const v1::RedeemRequest& request,
              std::function<void(absl::StatusOr<v1::RedeemResponse>)> done);
  // Claims an anonymous receipt for the member (on the member's lane).
  void ClaimReceipt(const auth::Principal& who, const v1::ClaimReceiptRequest& claim,
                    std::function<void(absl::StatusOr<v1::ClaimReceiptResponse>)> done);
  // Opens a live watch of the member: `sink` gets the current view, then the
  // latest view after every durable change (member_watch.h). Refused before
  // anything is sent: INVALID_ARGUMENT, PERMISSION_DENIED, NOT_FOUND, or
  // RESOURCE_EXHAUSTED past the watcher limits.
  absl::StatusOr<std::shared_ptr<MemberWatch>> Watch(const auth::Principal& who,
                                                     const v1::WatchMemberRequest& request,
                                                     MemberWatch::Sink* sink) const;

 private:
  storage::Store& store_;
  const Members& members_;
  const ProgramStore& programs_;
  Counters& counters_;
  const Clock& clock_;
  Ingest& ingest_;
  Lanes& lanes_;
  MemberUpdates& updates_;
  // Receipt claims a member got wrong: 5 within 10 minutes, then refused a
  // while (the receipt code has 60 bits: no guessing within that, even over
  // many member accounts).
  AttemptLimiter claim_failures_{5, 600, 100'000};
  // Till codes by member: one each, in memory (lost on restart: the app
  // asks for a new one). Wrong codes tried by terminals: 5 a member within
  // 10 minutes (a 6-digit code lives 2 minutes).
  struct TillCodeEntry {
    std::string code;
    int64_t expires_at = 0;
    std::string used_by_request;  // the redemption it was spent on (its retries pass)
  };
  // The terminal's proof of the member, as the program's till_proof says;
  // counted in loyaltyd_till_proofs_total{proof,result}.
  absl::Status CheckTillProof(const auth::Principal& terminal, const v1::RedeemRequest& request);
  // The till code given (CheckTillProof saw one) against the member's.
  absl::Status CheckTillCode(const auth::Principal& terminal, const v1::RedeemRequest& request);
  std::mutex till_mu_;
  std::map<std::string, TillCodeEntry> till_codes_;
  AttemptLimiter till_failures_{5, 600, 100'000};
  MemberPins pins_{store_, clock_};
};

// The member as they see it at `now`: balance, tier and progress, stage and
// next step. Tier and stage are refreshed for `now` (not stored).
v1::MemberView ViewOf(const Member& member, const engine::ProgramConfig& program, engine::Seconds now);

}  // namespace loyalty
