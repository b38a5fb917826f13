// services/loyalty/admin_operations.h: marketing's and operators' operations,
// independent of the transport. All need an admin credential.
#pragma once

#include <functional>
#include <mutex>

#include "absl/status/statusor.h"
#include "loyalty/v1/admin.pb.h"
#include "services/auth/auth.h"
#include "services/auth/credential_store.h"
#include "services/common/clock.h"
#include "services/common/key_locks.h"
#include "services/common/lanes.h"
#include "services/loyalty/counters.h"
#include "services/loyalty/dry_runs.h"
#include "services/loyalty/ledger_writer.h"
#include "services/loyalty/member_store.h"
#include "services/loyalty/member_updates.h"
#include "services/loyalty/program_store.h"
#include "storage/store.h"

namespace loyalty {

inline constexpr int64_t kMaxAdjustPoints = 1'000'000;

// The checks of a request's fields (pure; INVALID_ARGUMENT naming the field),
// before the caller's role or anything stored is looked at. `now` bounds an
// enrolment's date (at most 300 s ahead of it).
absl::Status ValidateEnroll(const v1::EnrollMemberRequest& r, int64_t now);
absl::Status ValidateAdjustment(const v1::AdjustPointsRequest& request);

class AdminOperations {
 public:
  AdminOperations(storage::Store& store, Members& members, Lanes& lanes, const Clock& clock, ProgramStore& programs,
                  DryRuns& dry_runs, const Counters* counters = nullptr, MemberUpdates* updates = nullptr);

  // Enrolls a member; `done` runs once the enrollment is durable (on the
  // WAL-sync thread). The blocking form waits for that.
  void EnrollMember(const auth::Principal& who, const v1::EnrollMemberRequest& request,
                    std::function<void(absl::StatusOr<v1::EnrollMemberResponse>)> done);
  absl::StatusOr<v1::EnrollMemberResponse> EnrollMember(const auth::Principal& who,
                                                        const v1::EnrollMemberRequest& request);
  // Runs on the member's lane; `done` gets the entry and the new balance.
  void AdjustPoints(const auth::Principal& who, const v1::AdjustPointsRequest& request,
                    std::function<void(absl::StatusOr<v1::AdjustPointsResponse>)> done);
  absl::StatusOr<v1::Program> GetProgram(const auth::Principal& who) const;
  absl::StatusOr<v1::Program> UpdateProgram(const auth::Principal& who,
                                            const v1::UpdateProgramRequest& request);
  absl::StatusOr<v1::ListAuditResponse> ListAudit(const auth::Principal& who,
                                                  const v1::ListAuditRequest& request) const;
  // Expires due points and refreshes tier and stage of every member, each on
  // its lane; `done` gets the totals. Also run by the server on a schedule.
  void RunExpiry(const auth::Principal& who, std::function<void(absl::StatusOr<v1::RunExpiryResponse>)> done);
  absl::StatusOr<v1::ProgramFigures> GetFigures(const auth::Principal& who) const;
  absl::StatusOr<v1::VerifyLedgerResponse> VerifyLedger(const auth::Principal& who,
                                                        const v1::VerifyLedgerRequest& request) const;
  // Replays the stored history under a proposed program and reports what
  // would change; publishes nothing. Runs as a dry run job (dry_runs.h);
  // `done` runs when it ends, on the dry runs' thread.
  void DryRunProgram(const auth::Principal& who, const v1::UpdateProgramRequest& request,
                     std::function<void(absl::StatusOr<v1::DryRunReport>)> done);
  absl::StatusOr<v1::DryRunJob> StartDryRun(const auth::Principal& who, const v1::UpdateProgramRequest& request);
  absl::StatusOr<v1::DryRunJob> GetDryRun(const auth::Principal& who, const v1::GetDryRunRequest& request) const;
  absl::StatusOr<v1::CreateCheckpointResponse> CreateCheckpoint(
      const auth::Principal& who, const v1::CreateCheckpointRequest& request);

  // Run-time credentials (services/auth/credential_store.h); their changes
  // also appear in ListAudit. `credentials` must outlive this.
  void SetCredentialStore(auth::CredentialStore* credentials) { credentials_ = credentials; }
  absl::StatusOr<v1::IssuedCredential> CreateCredential(const auth::Principal& who,
                                                        const v1::CreateCredentialRequest& request);
  absl::StatusOr<v1::ListCredentialsResponse> ListCredentials(const auth::Principal& who,
                                                              const v1::ListCredentialsRequest& request) const;
  absl::StatusOr<v1::IssuedCredential> RotateCredential(const auth::Principal& who,
                                                        const v1::RotateCredentialRequest& request);
  absl::StatusOr<v1::Credential> RevokeCredential(const auth::Principal& who, const v1::RevokeCredentialRequest& request);

 private:
  auth::CredentialStore* credentials_ = nullptr;
  absl::StatusOr<v1::AdjustPointsResponse> ApplyAdjustment(const auth::Principal& who,
                                                          const v1::AdjustPointsRequest& request);
  // Expires and refreshes one member; writes an event only if anything
  // changed (a buffered commit: the run syncs once at its end).
  absl::StatusOr<int64_t> ExpireMember(const std::string& member_id);
  // The proposal of a dry run, checked, numbered as the next version.
  absl::StatusOr<ProgramPtr> CheckProposal(const v1::UpdateProgramRequest& request) const;
  // Checks and commits (buffered) one enrollment under enroll_mu_.
  absl::StatusOr<v1::EnrollMemberResponse> CommitEnrollment(const v1::EnrollMemberRequest& request);


  storage::Store& store_;
  Members& members_;
  Lanes& lanes_;
  const Clock& clock_;
  ProgramStore& programs_;
  DryRuns& dry_runs_;
  const Counters* counters_;
  MemberUpdates* updates_;
  LedgerWriter ledger_{store_, members_, updates_};
  // Enrollment claims identifiers (card, phone) that must stay unique across
  // members; it is rare, so one mutex serialises its checks and commit (the
  // WAL sync is waited for outside it).
  std::mutex enroll_mu_;
  KeyLocks request_locks_;
};

}  // namespace loyalty
