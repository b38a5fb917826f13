#include "services/common/grpc_glue.h"

#include <atomic>

#include "base/log.h"
#include "base/str_cat.h"

namespace loyalty {
namespace {

// Codes whose message describes the server's insides (RocksDB paths, parse
// failures) rather than the caller's request.
bool IsServerFault(absl::StatusCode code) {
  return code == absl::StatusCode::kInternal || code == absl::StatusCode::kDataLoss ||
         code == absl::StatusCode::kUnknown || code == absl::StatusCode::kUnavailable;
}

}  // namespace

grpc::Status ToGrpcStatus(const absl::Status& s) {
  if (s.ok()) return grpc::Status::OK;
  if (IsServerFault(s.code())) {
    // The log gets the details; the caller gets a reference to quote.
    static std::atomic<uint64_t> incidents{0};
    const uint64_t ref = ++incidents;
    LogError(loyalty::StrCat("incident ", ref, ": ", s.ToString()));
    return grpc::Status(static_cast<grpc::StatusCode>(s.code()),
                        loyalty::StrCat("server error (incident ", ref, " in the server log); retry later"));
  }
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
