// edges/grpc/pos_grpc_service.h: PosService over gRPC (callback API).
// Authenticates each call and hands it to PosOperations; no logic of its own.
#pragma once

#include "loyalty/v1/pos.grpc.pb.h"
#include "services/auth/auth.h"
#include "services/pos/pos_operations.h"

namespace loyalty::pos {

class PosGrpcService final : public v1::PosService::CallbackService {
 public:
  PosGrpcService(PosOperations& ops, const auth::Authenticator& authenticator)
      : ops_(ops), authenticator_(authenticator) {}

  grpc::ServerUnaryReactor* RecordSale(grpc::CallbackServerContext* context,
                                       const v1::RecordSaleRequest* request,
                                       v1::EventOutcome* response) override;
  grpc::ServerUnaryReactor* RecordReturn(grpc::CallbackServerContext* context,
                                         const v1::RecordReturnRequest* request,
                                         v1::EventOutcome* response) override;
  grpc::ServerUnaryReactor* VoidSale(grpc::CallbackServerContext* context,
                                     const v1::VoidSaleRequest* request,
                                     v1::EventOutcome* response) override;
  grpc::ServerReadReactor<v1::BacklogEvent>* UploadBacklog(grpc::CallbackServerContext* context,
                                                           v1::BacklogResult* response) override;
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
};

}  // namespace loyalty::pos
