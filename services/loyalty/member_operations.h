// services/loyalty/member_operations.h: what the mobile app may ask on behalf
// of one member, independent of the transport. A member credential sees only
// its own member; an admin sees all.
#pragma once

#include "absl/status/statusor.h"
#include "loyalty/internal/records.pb.h"
#include "loyalty/v1/member.pb.h"
#include "services/auth/auth.h"
#include "services/common/clock.h"
#include "services/loyalty/counters.h"
#include "services/loyalty/member_store.h"
#include "services/loyalty/program_store.h"
#include "storage/store.h"

namespace loyalty {

inline constexpr uint32_t kDefaultHistoryPageSize = 50;
inline constexpr uint32_t kMaxHistoryPageSize = 500;

class MemberOperations {
 public:
  MemberOperations(storage::Store& store, const Members& members, const ProgramStore& programs, Counters& counters,
                   const Clock& clock)
      : store_(store), members_(members), programs_(programs), counters_(counters), clock_(clock) {}

  absl::StatusOr<v1::MemberView> GetMember(const auth::Principal& who,
                                           const v1::GetMemberRequest& request) const;
  // The member's view now, without authorisation (the caller checked it).
  absl::StatusOr<v1::MemberView> CurrentView(const std::string& member_id) const;
  // The member's personal offers, best first, each with its reason. Counts
  // each offer as shown (for the offer figures).
  absl::StatusOr<v1::ListOffersResponse> ListOffers(const auth::Principal& who,
                                                    const v1::ListOffersRequest& request) const;
  // The rewards catalog with what the member can afford.
  absl::StatusOr<v1::ListRewardsResponse> ListRewards(const auth::Principal& who,
                                                      const v1::ListRewardsRequest& request) const;
  // Newest first. The page token is the entry id to continue below.
  absl::StatusOr<v1::ListHistoryResponse> ListHistory(const auth::Principal& who,
                                                      const v1::ListHistoryRequest& request) const;

 private:
  storage::Store& store_;
  const Members& members_;
  const ProgramStore& programs_;
  Counters& counters_;
  const Clock& clock_;
};

// The member as they see it at `now`: balance, tier and progress, stage and
// next step. Tier and stage are refreshed for `now` (not stored).
v1::MemberView ViewOf(const Member& member, const engine::ProgramConfig& program, engine::Seconds now);

}  // namespace loyalty
