#include "services/common/grpc_glue.h"

namespace loyalty {

grpc::Status ToGrpcStatus(const absl::Status& s) {
  if (s.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()), std::string(s.message()));
}

absl::StatusOr<auth::Principal> CallerOf(const grpc::CallbackServerContext* context,
                                         const auth::Authenticator& authenticator) {
  const auto& metadata = context->client_metadata();
  auto it = metadata.find("authorization");
  if (it == metadata.end()) return authenticator.Authenticate("");
  return authenticator.Authenticate(std::string_view(it->second.data(), it->second.size()));
}

}  // namespace loyalty
