#include "edges/grpc/pos_grpc_service.h"

#include "base/str_cat.h"
#include "edges/grpc/grpc_glue.h"
#include "services/pos/validation.h"

namespace loyalty::pos {

// Trailing metadata on a retried event: the answer is the first one.
constexpr char kReplayMetadata[] = "x-idempotent-replay";

template <class Op>
grpc::ServerUnaryReactor* PosGrpcService::RecordEvent(grpc::CallbackServerContext* context,
                                                      v1::EventOutcome* response, Op op) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  auto who = CallerOf(context, authenticator_);
  if (!who.ok()) {
    reactor->Finish(ToGrpcStatus(who.status()));
    return reactor;
  }
  op(*who, [context, reactor, response](absl::StatusOr<Applied> applied) {
    if (!applied.ok()) {
      reactor->Finish(ToGrpcStatus(applied.status()));
      return;
    }
    if (applied->replayed) context->AddTrailingMetadata(kReplayMetadata, "true");
    *response = std::move(applied->outcome);
    reactor->Finish(grpc::Status::OK);
  });
  return reactor;
}

grpc::ServerUnaryReactor* PosGrpcService::RecordSale(grpc::CallbackServerContext* context,
                                                     const v1::RecordSaleRequest* request,
                                                     v1::EventOutcome* response) {
  return RecordEvent(context, response, [&](const auth::Principal& who, PosOperations::Done done) {
    ops_.RecordSale(who, request->sale(), std::move(done));
  });
}

grpc::ServerUnaryReactor* PosGrpcService::RecordReturn(grpc::CallbackServerContext* context,
                                                       const v1::RecordReturnRequest* request,
                                                       v1::EventOutcome* response) {
  return RecordEvent(context, response, [&](const auth::Principal& who, PosOperations::Done done) {
    ops_.RecordReturn(who, request->return_(), std::move(done));
  });
}

grpc::ServerUnaryReactor* PosGrpcService::VoidSale(grpc::CallbackServerContext* context,
                                                   const v1::VoidSaleRequest* request,
                                                   v1::EventOutcome* response) {
  return RecordEvent(context, response, [&](const auth::Principal& who, PosOperations::Done done) {
    ops_.VoidSale(who, request->void_(), std::move(done));
  });
}

grpc::ServerUnaryReactor* PosGrpcService::LookupMember(grpc::CallbackServerContext* context,
                                                       const v1::LookupMemberRequest* request,
                                                       v1::MemberSummary* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  auto who = CallerOf(context, authenticator_);
  if (!who.ok()) {
    reactor->Finish(ToGrpcStatus(who.status()));
    return reactor;
  }
  FinishUnary(reactor, response, ops_.LookupMember(*who, *request));
  return reactor;
}

grpc::ServerUnaryReactor* PosGrpcService::EvaluateBasket(grpc::CallbackServerContext* context,
                                                         const v1::EvaluateBasketRequest* request,
                                                         v1::BasketEvaluation* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  auto who = CallerOf(context, authenticator_);
  if (!who.ok()) {
    reactor->Finish(ToGrpcStatus(who.status()));
    return reactor;
  }
  FinishUnary(reactor, response, ops_.EvaluateBasket(*who, *request));
  return reactor;
}

namespace {

// Reads the whole backlog stream, then hands it to PosOperations.
class BacklogReactor final : public grpc::ServerReadReactor<v1::BacklogEvent> {
 public:
  BacklogReactor(PosOperations& ops, absl::StatusOr<auth::Principal> who, v1::BacklogResult* response)
      : ops_(ops), who_(std::move(who)), response_(response) {
    if (!who_.ok()) {
      Finish(ToGrpcStatus(who_.status()));
      return;
    }
    StartRead(&incoming_);
  }

  void OnReadDone(bool ok) override {
    // The client closed its side, or the stream holds one event more than
    // an upload may carry (the operation refuses it): hand it on.
    if (!ok || events_.size() > kMaxBacklogEvents) {
      ops_.UploadBacklog(*who_, std::move(events_), [this](absl::StatusOr<v1::BacklogResult> result) {
        if (!result.ok()) {
          Finish(ToGrpcStatus(result.status()));
          return;
        }
        *response_ = std::move(*result);
        Finish(grpc::Status::OK);
      });
      return;
    }
    events_.push_back(std::move(incoming_));
    incoming_.Clear();
    StartRead(&incoming_);
  }

  void OnDone() override { delete this; }

 private:
  PosOperations& ops_;
  absl::StatusOr<auth::Principal> who_;
  v1::BacklogResult* response_;
  v1::BacklogEvent incoming_;
  std::vector<v1::BacklogEvent> events_;
};

}  // namespace

grpc::ServerReadReactor<v1::BacklogEvent>* PosGrpcService::UploadBacklog(
    grpc::CallbackServerContext* context, v1::BacklogResult* response) {
  return new BacklogReactor(ops_, CallerOf(context, authenticator_), response);
}

}  // namespace loyalty::pos
