// edges/grpc/pos_grpc_service.h: PosService over gRPC (callback API).
// Authenticates each call and hands it to PosOperations; no logic of its own.
//
// UploadBacklog reads its stream as raw bytes, so that it knows why a stream
// stopped: a backlog is applied only if the client ended it cleanly with
// every event read. An unreadable or oversized event, a stream over its byte
// limit, a cancelled or broken stream apply nothing and say so. The caller's
// role is checked before anything is read, and the bytes all backlog streams
// hold at once are bounded (BacklogLimits). A clean end and a broken stream
// both end the reads; they are told apart by the call's cancellation, which
// gRPC sets when the stream breaks, or (a message past its size limit) a
// little later: a stream that ended waits 100 ms before it is applied. The
// callback API gives no stronger signal.
//
// Thread-safety: the service is called by gRPC's threads concurrently.
#pragma once

#include <atomic>

#include <grpcpp/support/byte_buffer.h>

#include "loyalty/v1/pos.grpc.pb.h"
#include "services/auth/auth.h"
#include "services/pos/pos_operations.h"

namespace loyalty::pos {

struct BacklogLimits {
  size_t max_event_bytes = 256 << 10;          // one event (a sale of 200 lines is about 20 KiB)
  size_t max_stream_bytes = 32 << 20;          // one stream's events, buffered until it ends
  size_t max_buffered_bytes = size_t{256} << 20;  // all streams' buffered events together
};

class PosGrpcService final : public v1::PosService::WithRawCallbackMethod_UploadBacklog<v1::PosService::CallbackService> {
 public:
  PosGrpcService(PosOperations& ops, const auth::Authenticator& authenticator, BacklogLimits limits = {})
      : ops_(ops), authenticator_(authenticator), limits_(limits) {}

  grpc::ServerUnaryReactor* RecordSale(grpc::CallbackServerContext* context,
                                       const v1::RecordSaleRequest* request,
                                       v1::EventOutcome* response) override;
  grpc::ServerUnaryReactor* RecordReturn(grpc::CallbackServerContext* context,
                                         const v1::RecordReturnRequest* request,
                                         v1::EventOutcome* response) override;
  grpc::ServerUnaryReactor* VoidSale(grpc::CallbackServerContext* context,
                                     const v1::VoidSaleRequest* request,
                                     v1::EventOutcome* response) override;
  // Raw: events arrive as bytes (see above); the response is a BacklogResult.
  grpc::ServerReadReactor<grpc::ByteBuffer>* UploadBacklog(grpc::CallbackServerContext* context,
                                                          grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* EvaluateBasket(grpc::CallbackServerContext* context,
                                           const v1::EvaluateBasketRequest* request,
                                           v1::BasketEvaluation* response) override;
  grpc::ServerUnaryReactor* LookupMember(grpc::CallbackServerContext* context,
                                         const v1::LookupMemberRequest* request,
                                         v1::MemberSummary* response) override;

 private:
  // Runs `op(principal, done)` and finishes the call with its result.
  template <class Op>
  grpc::ServerUnaryReactor* RecordEvent(grpc::CallbackServerContext* context,
                                        v1::EventOutcome* response, Op op);

  PosOperations& ops_;
  const auth::Authenticator& authenticator_;
  const BacklogLimits limits_;
  std::atomic<size_t> backlog_bytes_{0};  // buffered by all backlog streams now
};

}  // namespace loyalty::pos
