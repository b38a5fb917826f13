#include "edges/grpc/grpc_glue.h"

#include "services/common/public_status.h"

namespace loyalty {

grpc::Status ToGrpcStatus(const absl::Status& s) {
  if (s.ok()) return grpc::Status::OK;
  const absl::Status told = ForCaller(s);
  return grpc::Status(static_cast<grpc::StatusCode>(told.code()), std::string(told.message()));
}
absl::StatusOr<auth::Principal> CallerOf(const grpc::CallbackServerContext* context,
                                         const auth::Authenticator& authenticator) {
  const auto& metadata = context->client_metadata();
  auto it = metadata.find("authorization");
  const std::string peer = context->peer();
  if (it == metadata.end()) return authenticator.AuthenticateCall("", peer);
  return authenticator.AuthenticateCall(std::string_view(it->second.data(), it->second.size()), peer);
}

}  // namespace loyalty
