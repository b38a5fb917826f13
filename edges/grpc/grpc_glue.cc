#include "edges/grpc/grpc_glue.h"

#include <grpc/grpc_security_constants.h>

#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "services/common/public_status.h"
#include "services/common/token_buckets.h"

namespace loyalty {

grpc::Status ToGrpcStatus(const absl::Status& s) {
  if (s.ok()) return grpc::Status::OK;
  const absl::Status told = ForCaller(s);
  const auto code = static_cast<grpc::StatusCode>(told.code());
  std::string message(told.message());
  // A refusal that may pass later says when, the standard way: a
  // google.rpc.Status with RetryInfo, sent as grpc-status-details-bin.
  if (const int64_t ms = RetryAfterMs(told); ms > 0) {
    google::rpc::RetryInfo retry;
    retry.mutable_retry_delay()->set_seconds(ms / 1000);
    retry.mutable_retry_delay()->set_nanos(static_cast<int32_t>(ms % 1000) * 1'000'000);
    google::rpc::Status details;
    details.set_code(static_cast<int32_t>(told.code()));
    details.set_message(message);
    details.add_details()->PackFrom(retry);
    return grpc::Status(code, std::move(message), details.SerializeAsString());
  }
  return grpc::Status(code, std::move(message));
}
absl::StatusOr<auth::Principal> CallerOf(const grpc::CallbackServerContext* context,
                                         const auth::Authenticator& authenticator) {
  const auto& metadata = context->client_metadata();
  auto it = metadata.find("authorization");
  const std::string peer = context->peer();
  // A verified client certificate's subject common name (mutual TLS).
  std::string client_cn;
  if (const auto auth = context->auth_context(); auth != nullptr && auth->IsPeerAuthenticated()) {
    for (const auto& cn : auth->FindPropertyValues(GRPC_X509_CN_PROPERTY_NAME)) client_cn.assign(cn.data(), cn.size());
  }
  const std::string_view authorization =
      it == metadata.end() ? std::string_view() : std::string_view(it->second.data(), it->second.size());
  return authenticator.AuthenticateCall(authorization, peer, client_cn);
}

}  // namespace loyalty
