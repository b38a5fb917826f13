#include "services/loyalty/loyalty_grpc_services.h"

#include "services/common/grpc_glue.h"

namespace loyalty {
namespace {

// Authenticates, then finishes the call with `call(principal)`'s result.
template <class Response, class Call>
grpc::ServerUnaryReactor* Unary(grpc::CallbackServerContext* context,
                                const auth::Authenticator& authenticator, Response* response,
                                Call call) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  auto who = CallerOf(context, authenticator);
  if (!who.ok()) {
    reactor->Finish(ToGrpcStatus(who.status()));
    return reactor;
  }
  FinishUnary<Response>(reactor, response, call(*who));
  return reactor;
}

}  // namespace

grpc::ServerUnaryReactor* MemberGrpcService::GetMember(grpc::CallbackServerContext* context,
                                                       const v1::GetMemberRequest* request,
                                                       v1::MemberView* response) {
  return Unary(context, authenticator_, response,
               [&](const auth::Principal& who) { return ops_.GetMember(who, *request); });
}

grpc::ServerUnaryReactor* MemberGrpcService::ListHistory(grpc::CallbackServerContext* context,
                                                         const v1::ListHistoryRequest* request,
                                                         v1::ListHistoryResponse* response) {
  return Unary(context, authenticator_, response,
               [&](const auth::Principal& who) { return ops_.ListHistory(who, *request); });
}

grpc::ServerUnaryReactor* AdminGrpcService::EnrollMember(grpc::CallbackServerContext* context,
                                                         const v1::EnrollMemberRequest* request,
                                                         v1::EnrollMemberResponse* response) {
  return Unary(context, authenticator_, response,
               [&](const auth::Principal& who) { return ops_.EnrollMember(who, *request); });
}

grpc::ServerUnaryReactor* AdminGrpcService::AdjustPoints(grpc::CallbackServerContext* context,
                                                         const v1::AdjustPointsRequest* request,
                                                         v1::AdjustPointsResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  auto who = CallerOf(context, authenticator_);
  if (!who.ok()) {
    reactor->Finish(ToGrpcStatus(who.status()));
    return reactor;
  }
  ops_.AdjustPoints(*who, *request, [reactor, response](absl::StatusOr<v1::AdjustPointsResponse> r) {
    FinishUnary(reactor, response, std::move(r));
  });
  return reactor;
}

grpc::ServerUnaryReactor* AdminGrpcService::GetProgram(grpc::CallbackServerContext* context,
                                                       const v1::GetProgramRequest* request,
                                                       v1::Program* response) {
  return Unary(context, authenticator_, response,
               [&](const auth::Principal& who) { return ops_.GetProgram(who); });
}

grpc::ServerUnaryReactor* AdminGrpcService::GetFigures(grpc::CallbackServerContext* context,
                                                       const v1::GetFiguresRequest* request,
                                                       v1::ProgramFigures* response) {
  return Unary(context, authenticator_, response,
               [&](const auth::Principal& who) { return ops_.GetFigures(who); });
}

grpc::ServerUnaryReactor* AdminGrpcService::VerifyLedger(grpc::CallbackServerContext* context,
                                                         const v1::VerifyLedgerRequest* request,
                                                         v1::VerifyLedgerResponse* response) {
  return Unary(context, authenticator_, response,
               [&](const auth::Principal& who) { return ops_.VerifyLedger(who, *request); });
}

grpc::ServerUnaryReactor* AdminGrpcService::CreateCheckpoint(
    grpc::CallbackServerContext* context, const v1::CreateCheckpointRequest* request,
    v1::CreateCheckpointResponse* response) {
  return Unary(context, authenticator_, response,
               [&](const auth::Principal& who) { return ops_.CreateCheckpoint(who, *request); });
}

grpc::ServerUnaryReactor* AdminGrpcService::UpdateProgram(grpc::CallbackServerContext* context,
                                                          const v1::UpdateProgramRequest* request,
                                                          v1::Program* response) {
  return Unary(context, authenticator_, response,
               [&](const auth::Principal& who) { return ops_.UpdateProgram(who, *request); });
}

grpc::ServerUnaryReactor* AdminGrpcService::DryRunProgram(grpc::CallbackServerContext* context,
                                                          const v1::UpdateProgramRequest* request,
                                                          v1::DryRunReport* response) {
  return Unary(context, authenticator_, response,
               [&](const auth::Principal& who) { return ops_.DryRunProgram(who, *request); });
}

grpc::ServerUnaryReactor* AdminGrpcService::ListAudit(grpc::CallbackServerContext* context,
                                                      const v1::ListAuditRequest* request,
                                                      v1::ListAuditResponse* response) {
  return Unary(context, authenticator_, response,
               [&](const auth::Principal& who) { return ops_.ListAudit(who, *request); });
}

grpc::ServerUnaryReactor* AdminGrpcService::RunExpiry(grpc::CallbackServerContext* context,
                                                      const v1::RunExpiryRequest* request,
                                                      v1::RunExpiryResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  auto who = CallerOf(context, authenticator_);
  if (!who.ok()) {
    reactor->Finish(ToGrpcStatus(who.status()));
    return reactor;
  }
  ops_.RunExpiry(*who, [reactor, response](absl::StatusOr<v1::RunExpiryResponse> r) {
    FinishUnary(reactor, response, std::move(r));
  });
  return reactor;
}

}  // namespace loyalty
