#include "edges/grpc/pos_grpc_service.h"

#include "base/str_cat.h"
#include <grpcpp/alarm.h>
#include <grpcpp/support/proto_buffer_reader.h>
#include <grpcpp/support/proto_buffer_writer.h>

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

// How long a stream that ended waits before it is applied, for gRPC to flag
// a cancellation it is still completing (measured: flagged within 50 ms).
constexpr auto kSettle = std::chrono::milliseconds(100);

// Reads the whole backlog stream as bytes, then hands the events to
// PosOperations, or refuses the stream with nothing applied.
class BacklogReactor final : public grpc::ServerReadReactor<grpc::ByteBuffer> {
 public:
  BacklogReactor(PosOperations& ops, grpc::CallbackServerContext* context, absl::StatusOr<auth::Principal> who,
                 grpc::ByteBuffer* response, const BacklogLimits& limits, std::atomic<size_t>& server_bytes)
      : ops_(ops), context_(context), who_(std::move(who)), response_(response), limits_(limits),
        server_bytes_(server_bytes) {
    absl::Status allowed = who_.ok() ? auth::RequireTerminal(*who_) : who_.status();
    if (!allowed.ok()) {
      // Nothing is read for a caller who may not upload.
      Refuse(ToGrpcStatus(allowed));
      return;
    }
    StartRead(&incoming_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      // The stream stopped. Only a clean end (the client's half-close) is
      // applied; a cancelled or broken stream, or one gRPC itself failed (a
      // message past its size limit), is not.
      // A cancel or a broken connection is flagged before this read fails;
      // a message past gRPC's own size limit is flagged a little after
      // (its cancellation completes separately), so the decision waits
      // kSettle, then looks again.
      if (RefuseIfCancelled()) return;
      settle_.Set(std::chrono::system_clock::now() + kSettle, [this](bool) {
        if (!RefuseIfCancelled()) Apply();
      });
      return;
    }
    const size_t bytes = incoming_.Length();
    const size_t index = events_.size();
    if (index >= kMaxBacklogEvents) {
      return Refuse(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                                 loyalty::StrCat("a backlog upload carries at most ", kMaxBacklogEvents,
                                                 " events; nothing was recorded, send it in smaller uploads")));
    }
    if (bytes > limits_.max_event_bytes) {
      return Refuse(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                                 loyalty::StrCat("event[", index, "]: ", bytes, " bytes, at most ",
                                                 limits_.max_event_bytes, " per event; nothing was recorded")));
    }
    if (held_ + bytes > limits_.max_stream_bytes) {
      return Refuse(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                                 loyalty::StrCat("backlog: more than ", limits_.max_stream_bytes,
                                                 " bytes in one upload; nothing was recorded, send it in smaller uploads")));
    }
    if (server_bytes_.fetch_add(bytes) + bytes > limits_.max_buffered_bytes) {
      server_bytes_.fetch_sub(bytes);
      return Refuse(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                                 "backlog: the server holds as many uploads as it may; nothing of this one was "
                                 "recorded, send it again in a moment"));
    }
    held_ += bytes;
    v1::BacklogEvent event;
    const grpc::Status parsed = grpc::GenericDeserialize<grpc::ProtoBufferReader, v1::BacklogEvent>(&incoming_, &event);
    if (!parsed.ok()) {
      return Refuse(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                 loyalty::StrCat("event[", index, "]: unreadable, not a loyalty.v1.BacklogEvent; ",
                                                 "nothing was recorded")));
    }
    events_.push_back(std::move(event));
    incoming_.Clear();
    StartRead(&incoming_);
  }

  void OnDone() override {
    server_bytes_.fetch_sub(held_);
    delete this;
  }

 private:
  void Apply() {
    ops_.UploadBacklog(*who_, std::move(events_), [this](absl::StatusOr<v1::BacklogResult> result) {
      if (!result.ok()) return Finish(ToGrpcStatus(result.status()));
      bool own_buffer = false;
      const grpc::Status serialized =
          grpc::GenericSerialize<grpc::ProtoBufferWriter, v1::BacklogResult>(*result, response_, &own_buffer);
      Finish(serialized);
    });
  }

  bool RefuseIfCancelled() {
    if (!context_->IsCancelled()) return false;
    Refuse(grpc::Status(grpc::StatusCode::CANCELLED,
                        loyalty::StrCat("backlog: the stream was cancelled, broke or carried a message past the "
                                        "server's size limit after ", events_.size(),
                                        " events; nothing was recorded, send the whole backlog again")));
    return true;
  }

  // Ends the call with `status` without applying anything. Reads stop: the
  // client's further writes fail.
  void Refuse(const grpc::Status& status) {
    events_.clear();
    Finish(status);
  }

  PosOperations& ops_;
  grpc::CallbackServerContext* const context_;
  absl::StatusOr<auth::Principal> who_;
  grpc::ByteBuffer* const response_;
  const BacklogLimits& limits_;
  std::atomic<size_t>& server_bytes_;
  grpc::ByteBuffer incoming_;
  grpc::Alarm settle_;
  std::vector<v1::BacklogEvent> events_;
  size_t held_ = 0;  // bytes of events_, counted in server_bytes_
};

}  // namespace

grpc::ServerReadReactor<grpc::ByteBuffer>* PosGrpcService::UploadBacklog(grpc::CallbackServerContext* context,
                                                                        grpc::ByteBuffer* response) {
  return new BacklogReactor(ops_, context, CallerOf(context, authenticator_), response, limits_, backlog_bytes_);
}

}  // namespace loyalty::pos
