// edges/grpc/grpc_glue.h: the few things every gRPC adapter needs:
// absl::Status -> grpc::Status, and the caller's principal from metadata.
#pragma once

#include <grpcpp/grpcpp.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "services/auth/auth.h"

namespace loyalty {

// Same numeric codes (both follow google.rpc.Code); the message is what the
// caller may be told (services/common/public_status.h).
grpc::Status ToGrpcStatus(const absl::Status& s);

// Authenticates the `authorization` metadata of the call.
absl::StatusOr<auth::Principal> CallerOf(const grpc::CallbackServerContext* context,
                                         const auth::Authenticator& authenticator);

// Finishes a unary call with `result` (copied into `response`) or its error.
template <class Response>
void FinishUnary(grpc::ServerUnaryReactor* reactor, Response* response,
                 absl::StatusOr<Response> result) {
  if (!result.ok()) {
    reactor->Finish(ToGrpcStatus(result.status()));
    return;
  }
  *response = std::move(*result);
  reactor->Finish(grpc::Status::OK);
}

}  // namespace loyalty
