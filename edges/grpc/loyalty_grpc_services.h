// edges/grpc/loyalty_grpc_services.h: MemberService and AdminService
// over gRPC (callback API). Authenticate, call the operations, map errors.
#pragma once

#include "loyalty/v1/admin.grpc.pb.h"
#include "loyalty/v1/member.grpc.pb.h"
#include "services/auth/auth.h"
#include "services/loyalty/admin_operations.h"
#include "services/loyalty/member_operations.h"

namespace loyalty {

class MemberGrpcService final : public v1::MemberService::CallbackService {
 public:
  MemberGrpcService(MemberOperations& ops, const auth::Authenticator& authenticator)
      : ops_(ops), authenticator_(authenticator) {}

  grpc::ServerUnaryReactor* GetMember(grpc::CallbackServerContext* context,
                                      const v1::GetMemberRequest* request,
                                      v1::MemberView* response) override;
  grpc::ServerUnaryReactor* ListHistory(grpc::CallbackServerContext* context,
                                        const v1::ListHistoryRequest* request,
                                        v1::ListHistoryResponse* response) override;
  grpc::ServerUnaryReactor* ListOffers(grpc::CallbackServerContext* context,
                                       const v1::ListOffersRequest* request,
                                       v1::ListOffersResponse* response) override;
  grpc::ServerUnaryReactor* ListRewards(grpc::CallbackServerContext* context,
                                        const v1::ListRewardsRequest* request,
                                        v1::ListRewardsResponse* response) override;
  grpc::ServerUnaryReactor* Redeem(grpc::CallbackServerContext* context, const v1::RedeemRequest* request,
                                   v1::RedeemResponse* response) override;
  grpc::ServerUnaryReactor* IssueTillCode(grpc::CallbackServerContext* context,
                                          const v1::IssueTillCodeRequest* request, v1::TillCode* response) override;
  grpc::ServerUnaryReactor* SetPin(grpc::CallbackServerContext* context, const v1::SetPinRequest* request,
                                   v1::SetPinResponse* response) override;
  grpc::ServerUnaryReactor* ClaimReceipt(grpc::CallbackServerContext* context,
                                         const v1::ClaimReceiptRequest* request,
                                         v1::ClaimReceiptResponse* response) override;
  // Sends the member's view now, then again after every change.
  grpc::ServerWriteReactor<v1::MemberView>* WatchMember(grpc::CallbackServerContext* context,
                                                        const v1::WatchMemberRequest* request) override;

 private:
  MemberOperations& ops_;
  const auth::Authenticator& authenticator_;
};

class AdminGrpcService final : public v1::AdminService::CallbackService {
 public:
  AdminGrpcService(AdminOperations& ops, const auth::Authenticator& authenticator)
      : ops_(ops), authenticator_(authenticator) {}

  grpc::ServerUnaryReactor* EnrollMember(grpc::CallbackServerContext* context,
                                         const v1::EnrollMemberRequest* request,
                                         v1::EnrollMemberResponse* response) override;
  grpc::ServerUnaryReactor* AdjustPoints(grpc::CallbackServerContext* context,
                                         const v1::AdjustPointsRequest* request,
                                         v1::AdjustPointsResponse* response) override;
  grpc::ServerUnaryReactor* GetProgram(grpc::CallbackServerContext* context,
                                       const v1::GetProgramRequest* request,
                                       v1::Program* response) override;
  grpc::ServerUnaryReactor* GetFigures(grpc::CallbackServerContext* context,
                                       const v1::GetFiguresRequest* request,
                                       v1::ProgramFigures* response) override;
  grpc::ServerUnaryReactor* VerifyLedger(grpc::CallbackServerContext* context,
                                         const v1::VerifyLedgerRequest* request,
                                         v1::VerifyLedgerResponse* response) override;
  grpc::ServerUnaryReactor* CreateCheckpoint(grpc::CallbackServerContext* context,
                                             const v1::CreateCheckpointRequest* request,
                                             v1::CreateCheckpointResponse* response) override;
  grpc::ServerUnaryReactor* UpdateProgram(grpc::CallbackServerContext* context,
                                          const v1::UpdateProgramRequest* request,
                                          v1::Program* response) override;
  grpc::ServerUnaryReactor* DryRunProgram(grpc::CallbackServerContext* context,
                                          const v1::UpdateProgramRequest* request,
                                          v1::DryRunReport* response) override;
  grpc::ServerUnaryReactor* StartDryRun(grpc::CallbackServerContext* context, const v1::UpdateProgramRequest* request,
                                        v1::DryRunJob* response) override;
  grpc::ServerUnaryReactor* GetDryRun(grpc::CallbackServerContext* context, const v1::GetDryRunRequest* request,
                                      v1::DryRunJob* response) override;
  grpc::ServerUnaryReactor* ListAudit(grpc::CallbackServerContext* context,
                                      const v1::ListAuditRequest* request,
                                      v1::ListAuditResponse* response) override;
  grpc::ServerUnaryReactor* RunExpiry(grpc::CallbackServerContext* context,
                                      const v1::RunExpiryRequest* request,
                                      v1::RunExpiryResponse* response) override;
  grpc::ServerUnaryReactor* CreateCredential(grpc::CallbackServerContext* context,
                                             const v1::CreateCredentialRequest* request,
                                             v1::IssuedCredential* response) override;
  grpc::ServerUnaryReactor* ListCredentials(grpc::CallbackServerContext* context,
                                            const v1::ListCredentialsRequest* request,
                                            v1::ListCredentialsResponse* response) override;
  grpc::ServerUnaryReactor* RotateCredential(grpc::CallbackServerContext* context,
                                             const v1::RotateCredentialRequest* request,
                                             v1::IssuedCredential* response) override;
  grpc::ServerUnaryReactor* RevokeCredential(grpc::CallbackServerContext* context,
                                             const v1::RevokeCredentialRequest* request,
                                             v1::Credential* response) override;

 private:
  AdminOperations& ops_;
  const auth::Authenticator& authenticator_;
};

}  // namespace loyalty
