#include "services/loyalty/loyalty_grpc_services.h"

#include <mutex>

#include "services/common/grpc_glue.h"
#include "services/pos/validation.h"

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

grpc::ServerUnaryReactor* MemberGrpcService::Redeem(grpc::CallbackServerContext* context,
                                                    const v1::RedeemRequest* request, v1::RedeemResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  auto who = CallerOf(context, authenticator_);
  if (!who.ok()) {
    reactor->Finish(ToGrpcStatus(who.status()));
    return reactor;
  }
  pos_ops_.Redeem(*who, *request, [reactor, response](absl::StatusOr<v1::RedeemResponse> r) {
    FinishUnary(reactor, response, std::move(r));
  });
  return reactor;
}

grpc::ServerUnaryReactor* MemberGrpcService::ClaimReceipt(grpc::CallbackServerContext* context,
                                                          const v1::ClaimReceiptRequest* request,
                                                          v1::ClaimReceiptResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  auto who = CallerOf(context, authenticator_);
  if (!who.ok()) {
    reactor->Finish(ToGrpcStatus(who.status()));
    return reactor;
  }
  pos_ops_.ClaimReceipt(*who, *request, [reactor, response](absl::StatusOr<pos::Applied> applied) {
    if (!applied.ok()) {
      reactor->Finish(ToGrpcStatus(applied.status()));
      return;
    }
    response->set_points_earned(applied->outcome.points_earned());
    *response->mutable_balance() = applied->outcome.balance();
    reactor->Finish(grpc::Status::OK);
  });
  return reactor;
}

namespace {

// One live WatchMember stream: at most one write in flight; a change while a
// write is in flight is sent (as the latest view) when that write is done.
class WatchReactor final : public grpc::ServerWriteReactor<v1::MemberView> {
 public:
  WatchReactor(const MemberOperations& ops, MemberUpdates& updates, std::string member_id)
      : ops_(ops), updates_(updates), member_id_(std::move(member_id)) {}

  void Start() {
    auto subscription = updates_.Subscribe(member_id_, [this] { Changed(); });
    if (!subscription.ok()) {
      FinishOnce(ToGrpcStatus(subscription.status()));
      return;
    }
    subscription_ = *subscription;
    Changed();  // the current view first
  }

  void OnWriteDone(bool ok) override {
    std::lock_guard<std::mutex> lock(mu_);
    writing_ = false;
    if (!ok) {
      FinishLocked(grpc::Status(grpc::StatusCode::CANCELLED, "stream closed"));
      return;
    }
    if (dirty_) WriteLatestLocked();
  }

  void OnCancel() override { FinishOnce(grpc::Status::CANCELLED); }

  void OnDone() override {
    if (subscription_ != 0) updates_.Unsubscribe(member_id_, subscription_);
    delete this;
  }

 private:
  void Changed() {
    std::lock_guard<std::mutex> lock(mu_);
    dirty_ = true;
    if (!writing_) WriteLatestLocked();
  }

  void WriteLatestLocked() {
    if (finished_) return;
    dirty_ = false;
    auto view = ops_.CurrentView(member_id_);
    if (!view.ok()) {
      FinishLocked(ToGrpcStatus(view.status()));
      return;
    }
    view_ = std::move(*view);
    writing_ = true;
    StartWrite(&view_);
  }

  void FinishOnce(const grpc::Status& status) {
    std::lock_guard<std::mutex> lock(mu_);
    FinishLocked(status);
  }
  void FinishLocked(const grpc::Status& status) {
    if (finished_) return;
    finished_ = true;
    Finish(status);
  }

  const MemberOperations& ops_;
  MemberUpdates& updates_;
  const std::string member_id_;
  uint64_t subscription_ = 0;
  std::mutex mu_;
  bool writing_ = false;
  bool dirty_ = false;
  bool finished_ = false;
  v1::MemberView view_;
};

}  // namespace

grpc::ServerWriteReactor<v1::MemberView>* MemberGrpcService::WatchMember(
    grpc::CallbackServerContext* context, const v1::WatchMemberRequest* request) {
  auto* reactor = new WatchReactor(ops_, updates_, request->member_id());
  auto who = CallerOf(context, authenticator_);
  absl::Status allowed = who.ok() ? pos::ValidateId("member_id", request->member_id()) : who.status();
  if (allowed.ok()) allowed = auth::RequireMemberAccess(*who, request->member_id());
  if (!allowed.ok()) {
    reactor->Finish(ToGrpcStatus(allowed));
    return reactor;
  }
  reactor->Start();
  return reactor;
}

grpc::ServerUnaryReactor* AdminGrpcService::EnrollMember(grpc::CallbackServerContext* context,
                                                         const v1::EnrollMemberRequest* request,
                                                         v1::EnrollMemberResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  auto who = CallerOf(context, authenticator_);
  if (!who.ok()) {
    reactor->Finish(ToGrpcStatus(who.status()));
    return reactor;
  }
  ops_.EnrollMember(*who, *request, [reactor, response](absl::StatusOr<v1::EnrollMemberResponse> r) {
    FinishUnary(reactor, response, std::move(r));
  });
  return reactor;
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
