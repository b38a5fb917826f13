// services/loyalty/admin_operations.h: marketing's and operators' operations,
// independent of the transport. All need an admin credential.
#pragma once

#include <functional>
#include <mutex>

#include "absl/status/statusor.h"
#include "loyalty/v1/admin.pb.h"
#include "services/auth/auth.h"
#include "services/common/clock.h"
#include "services/common/key_locks.h"
#include "services/common/lanes.h"
#include "services/loyalty/engine/earn.h"
#include "storage/store.h"

namespace loyalty {

inline constexpr int64_t kMaxAdjustPoints = 1'000'000;

class AdminOperations {
 public:
  AdminOperations(storage::Store& store, Lanes& lanes, const Clock& clock,
                  engine::ProgramRules rules);

  absl::StatusOr<v1::EnrollMemberResponse> EnrollMember(const auth::Principal& who,
                                                        const v1::EnrollMemberRequest& request);
  // Runs on the member's lane; `done` gets the entry and the new balance.
  void AdjustPoints(const auth::Principal& who, const v1::AdjustPointsRequest& request,
                    std::function<void(absl::StatusOr<v1::AdjustPointsResponse>)> done);
  absl::StatusOr<v1::Program> GetProgram(const auth::Principal& who) const;
  absl::StatusOr<v1::ProgramFigures> GetFigures(const auth::Principal& who) const;
  absl::StatusOr<v1::VerifyLedgerResponse> VerifyLedger(const auth::Principal& who) const;
  absl::StatusOr<v1::CreateCheckpointResponse> CreateCheckpoint(
      const auth::Principal& who, const v1::CreateCheckpointRequest& request);

 private:
  absl::StatusOr<v1::AdjustPointsResponse> ApplyAdjustment(const auth::Principal& who,
                                                          const v1::AdjustPointsRequest& request);

  storage::Store& store_;
  Lanes& lanes_;
  const Clock& clock_;
  const engine::ProgramRules rules_;
  // Enrollment claims identifiers (card, phone) that must stay unique across
  // members; it is rare, so one mutex serialises it.
  std::mutex enroll_mu_;
  KeyLocks request_locks_;
};

}  // namespace loyalty
