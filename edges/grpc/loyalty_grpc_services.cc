#include "edges/grpc/loyalty_grpc_services.h"

#include <mutex>
#include <optional>

#include "edges/grpc/grpc_glue.h"

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

// Authenticates, then starts `call(principal, done)`; `done` (on any thread)
// finishes the call with its result.
template <class Response, class Call>
grpc::ServerUnaryReactor* AsyncUnary(grpc::CallbackServerContext* context,
                                     const auth::Authenticator& authenticator, Response* response, Call call) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  auto who = CallerOf(context, authenticator);
  if (!who.ok()) {
    reactor->Finish(ToGrpcStatus(who.status()));
    return reactor;
  }
  call(*who, [reactor, response](absl::StatusOr<Response> r) { FinishUnary(reactor, response, std::move(r)); });
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

grpc::ServerUnaryReactor* MemberGrpcService::ListOffers(grpc::CallbackServerContext* context,
                                                        const v1::ListOffersRequest* request,
                                                        v1::ListOffersResponse* response) {
  return Unary(context, authenticator_, response,
               [&](const auth::Principal& who) { return ops_.ListOffers(who, *request); });
}

grpc::ServerUnaryReactor* MemberGrpcService::ListRewards(grpc::CallbackServerContext* context,
                                                         const v1::ListRewardsRequest* request,
                                                         v1::ListRewardsResponse* response) {
  return Unary(context, authenticator_, response,
               [&](const auth::Principal& who) { return ops_.ListRewards(who, *request); });
}

grpc::ServerUnaryReactor* MemberGrpcService::IssueTillCode(grpc::CallbackServerContext* context,
                                                           const v1::IssueTillCodeRequest* request,
                                                           v1::TillCode* response) {
  return Unary(context, authenticator_, response,
               [&](const auth::Principal& who) { return ops_.IssueTillCode(who, *request); });
}

grpc::ServerUnaryReactor* MemberGrpcService::SetPin(grpc::CallbackServerContext* context,
                                                    const v1::SetPinRequest* request, v1::SetPinResponse* response) {
  return Unary(context, authenticator_, response,
               [&](const auth::Principal& who) { return ops_.SetPin(who, *request); });
}

grpc::ServerUnaryReactor* MemberGrpcService::Redeem(grpc::CallbackServerContext* context,
                                                    const v1::RedeemRequest* request, v1::RedeemResponse* response) {
  return AsyncUnary(context, authenticator_, response,
                    [&](const auth::Principal& who, auto done) { ops_.Redeem(who, *request, std::move(done)); });
}

grpc::ServerUnaryReactor* MemberGrpcService::ClaimReceipt(grpc::CallbackServerContext* context,
                                                          const v1::ClaimReceiptRequest* request,
                                                          v1::ClaimReceiptResponse* response) {
  return AsyncUnary(context, authenticator_, response,
                    [&](const auth::Principal& who, auto done) { ops_.ClaimReceipt(who, *request, std::move(done)); });
}

namespace {

// One live WatchMember stream: writes what the member's watch hands it (one
// view at a time; MemberWatch coalesces changes meanwhile). The status is
// sent once, and never while a write is in flight: a Finish that comes
// during a write waits for OnWriteDone, and no write starts after it.
class WatchReactor final : public grpc::ServerWriteReactor<v1::MemberView>, public MemberWatch::Sink {
 public:
  // Refused watches finish at once with their status.
  WatchReactor(MemberOperations& ops, absl::StatusOr<auth::Principal> who, const v1::WatchMemberRequest& request) {
    if (!who.ok()) {
      FinishOnce(ToGrpcStatus(who.status()));
      return;
    }
    std::lock_guard<std::mutex> lock(mu_);  // the watch may call us before it is stored
    auto watch = ops.Watch(*who, request, this);
    if (!watch.ok()) {
      FinishOnce(ToGrpcStatus(watch.status()));
      return;
    }
    watch_ = std::move(*watch);
  }

  void Send(v1::MemberView view) override {
    std::lock_guard<std::mutex> lock(finish_mu_);
    if (finished_ || pending_status_) return;  // the stream is ending: nothing more
    view_ = std::move(view);
    writing_ = true;
    StartWrite(&view_);
  }
  void End(absl::Status status) override { FinishOnce(ToGrpcStatus(status)); }

  void OnWriteDone(bool ok) override {
    {
      std::lock_guard<std::mutex> lock(finish_mu_);
      writing_ = false;
      if (pending_status_) {
        FinishLocked(*pending_status_);
        return;
      }
    }
    if (!ok) {
      FinishOnce(grpc::Status(grpc::StatusCode::CANCELLED, "stream closed"));
      return;
    }
    std::lock_guard<std::mutex> lock(mu_);
    watch_->Sent();
  }
  void OnCancel() override { FinishOnce(grpc::Status::CANCELLED); }
  void OnDone() override {
    std::shared_ptr<MemberWatch> watch;
    {
      std::lock_guard<std::mutex> lock(mu_);
      watch = watch_;
    }
    if (watch) watch->Close();  // after it, the watch never calls us again
    delete this;
  }

 private:
  void FinishOnce(const grpc::Status& status) {
    std::lock_guard<std::mutex> lock(finish_mu_);
    if (writing_) {
      if (!pending_status_) pending_status_ = status;
      return;
    }
    FinishLocked(status);
  }
  void FinishLocked(const grpc::Status& status) {
    if (finished_) return;
    finished_ = true;
    Finish(status);
  }

  std::mutex mu_;  // watch_
  std::shared_ptr<MemberWatch> watch_;
  v1::MemberView view_;  // the view being written
  std::mutex finish_mu_;  // the three below
  bool finished_ = false;
  bool writing_ = false;
  std::optional<grpc::Status> pending_status_;  // Finish waiting for a write
};

}  // namespace

grpc::ServerWriteReactor<v1::MemberView>* MemberGrpcService::WatchMember(
    grpc::CallbackServerContext* context, const v1::WatchMemberRequest* request) {
  return new WatchReactor(ops_, CallerOf(context, authenticator_), *request);
}

grpc::ServerUnaryReactor* AdminGrpcService::EnrollMember(grpc::CallbackServerContext* context,
                                                         const v1::EnrollMemberRequest* request,
                                                         v1::EnrollMemberResponse* response) {
  return AsyncUnary(context, authenticator_, response,
                    [&](const auth::Principal& who, auto done) { ops_.EnrollMember(who, *request, std::move(done)); });
}

grpc::ServerUnaryReactor* AdminGrpcService::AdjustPoints(grpc::CallbackServerContext* context,
                                                         const v1::AdjustPointsRequest* request,
                                                         v1::AdjustPointsResponse* response) {
  return AsyncUnary(context, authenticator_, response,
                    [&](const auth::Principal& who, auto done) { ops_.AdjustPoints(who, *request, std::move(done)); });
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
  // The replay runs as a dry run job, off the gRPC threads.
  return AsyncUnary(context, authenticator_, response,
                    [&](const auth::Principal& who, auto done) { ops_.DryRunProgram(who, *request, std::move(done)); });
}

grpc::ServerUnaryReactor* AdminGrpcService::StartDryRun(grpc::CallbackServerContext* context,
                                                        const v1::UpdateProgramRequest* request,
                                                        v1::DryRunJob* response) {
  return Unary(context, authenticator_, response,
               [&](const auth::Principal& who) { return ops_.StartDryRun(who, *request); });
}

grpc::ServerUnaryReactor* AdminGrpcService::GetDryRun(grpc::CallbackServerContext* context,
                                                      const v1::GetDryRunRequest* request,
                                                      v1::DryRunJob* response) {
  return Unary(context, authenticator_, response,
               [&](const auth::Principal& who) { return ops_.GetDryRun(who, *request); });
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
  return AsyncUnary(context, authenticator_, response,
                    [&](const auth::Principal& who, auto done) { ops_.RunExpiry(who, std::move(done)); });
}

grpc::ServerUnaryReactor* AdminGrpcService::CreateCredential(grpc::CallbackServerContext* context,
                                                             const v1::CreateCredentialRequest* request,
                                                             v1::IssuedCredential* response) {
  return Unary(context, authenticator_, response,
               [&](const auth::Principal& who) { return ops_.CreateCredential(who, *request); });
}

grpc::ServerUnaryReactor* AdminGrpcService::ListCredentials(grpc::CallbackServerContext* context,
                                                            const v1::ListCredentialsRequest* request,
                                                            v1::ListCredentialsResponse* response) {
  return Unary(context, authenticator_, response,
               [&](const auth::Principal& who) { return ops_.ListCredentials(who, *request); });
}

grpc::ServerUnaryReactor* AdminGrpcService::RotateCredential(grpc::CallbackServerContext* context,
                                                             const v1::RotateCredentialRequest* request,
                                                             v1::IssuedCredential* response) {
  return Unary(context, authenticator_, response,
               [&](const auth::Principal& who) { return ops_.RotateCredential(who, *request); });
}

grpc::ServerUnaryReactor* AdminGrpcService::RevokeCredential(grpc::CallbackServerContext* context,
                                                             const v1::RevokeCredentialRequest* request,
                                                             v1::Credential* response) {
  return Unary(context, authenticator_, response,
               [&](const auth::Principal& who) { return ops_.RevokeCredential(who, *request); });
}

}  // namespace loyalty
