// edges/http/http_api.h: what loyaltyd answers over HTTP, without Beast:
//
//   /v1/...          every RPC of PosService, MemberService and AdminService
//                    as JSON, on the routes of its google.api.http annotation
//                    (routes.h); a member credential may write "me" for its
//                    own member id
//   /openapi.json    the OpenAPI 3 document of those routes (openapi.h)
//   /metrics         Prometheus text format (base/metrics.h)
//   /healthz         200 while the process runs
//   /readyz          200 while storage is open and the server is not draining
//
// It authenticates (the same `Authorization: Bearer` credentials and roles as
// gRPC), builds the request, calls the operations and maps their status to
// HTTP by the table Google's APIs and grpc-gateway use, with a JSON body
// {code, status, message}. It holds no rule of its own: validation,
// authorisation and limits are the operations'.
//
// Streams: UploadBacklog takes a JSON array or NDJSON (one event a line);
// WatchMember answers Server-Sent Events ("event: member" with the view's
// JSON, ": heartbeat" comments, "event: end" when the server drains).
//
// Thread-safety: Handle may be called from many threads at once.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <google/protobuf/message.h>

#include "absl/status/statusor.h"
#include "edges/http/http_exchange.h"
#include "edges/http/routes.h"
#include "services/auth/auth.h"
#include "services/loyalty/admin_operations.h"
#include "services/loyalty/member_operations.h"
#include "services/pos/pos_operations.h"

namespace loyalty::http {

// The operations every edge calls.
struct Operations {
  pos::PosOperations& pos;
  MemberOperations& member;
  AdminOperations& admin;
};

struct HttpApiOptions {
  // Origins allowed to call from a browser on another origin (CORS). Empty:
  // none (same-origin pages and non-browser clients are not affected).
  std::vector<std::string> cors_origins;
  // Largest request body, and the larger one a backlog upload may carry.
  size_t max_body_bytes = 1 << 20;
  size_t max_backlog_body_bytes = 32 << 20;
  // Readiness: OK, or why the server is not ready (draining, storage down).
  std::function<absl::Status()> ready;
  // The Prometheus exposition.
  std::function<std::string()> metrics;
  // Runs long work (backlog parsing, admin scans) off the HTTP threads; if
  // unset, it runs on them.
  std::function<void(std::function<void()>)> offload;
};

// The HTTP status for a google.rpc code (OK 200, INVALID_ARGUMENT 400, ...).
int HttpStatusOf(absl::StatusCode code);
// The descriptors of PosService, MemberService and AdminService, whose
// routes the edge serves; INTERNAL if one is not linked in.
absl::StatusOr<std::vector<const google::protobuf::ServiceDescriptor*>> LoyaltyServices();
// The JSON error body {code, status, message} for `status` (already fit for
// the caller: services/common/public_status.h).
std::string ErrorBody(const absl::Status& status);

// Splits a backlog body (UploadBacklog) into events: a JSON array, or NDJSON
// (one event a line; also any body that does not start with '['). At most
// one event past pos::kMaxBacklogEvents is parsed. INVALID_ARGUMENT naming
// the element ("events[3].sale...") or line ("line 3: ...").
absl::StatusOr<std::vector<v1::BacklogEvent>> ParseBacklog(std::string_view body, std::string_view content_type);

class HttpApi final : public HttpHandler {
 public:
  static absl::StatusOr<std::unique_ptr<HttpApi>> Create(Operations ops, const auth::Authenticator& authenticator,
                                                         HttpApiOptions options);

  void Handle(HttpCall call) override;
  size_t MaxBodyBytes(const std::string& method, const std::string& target,
                      const std::string& authorization) const override;

  const RouteTable& routes() const { return routes_; }
  const std::string& openapi() const { return openapi_; }

  // The answer to a unary call: the response message, and whether it is the
  // first answer to an earlier identical request (X-Idempotent-Replay).
  using Reply = std::function<void(absl::StatusOr<std::unique_ptr<google::protobuf::Message>>, bool replayed)>;
  using Invoker = std::function<void(const auth::Principal&, std::shared_ptr<google::protobuf::Message>, Reply)>;

 private:
  HttpApi(Operations ops, const auth::Authenticator& authenticator, HttpApiOptions options)
      : ops_(ops), authenticator_(authenticator), options_(std::move(options)) {}
  void RegisterInvokers();
  void HandleApi(HttpCall& call, std::string_view path, std::string_view query,
                 std::vector<std::pair<std::string, std::string>> cors);
  void UploadBacklog(const auth::Principal& who, const std::string& body, const std::string& content_type,
                     Reply reply);
  void Watch(const auth::Principal& who, const RouteMatch& match, HttpCall& call,
             std::vector<std::pair<std::string, std::string>> cors);

  Operations ops_;
  const auth::Authenticator& authenticator_;
  const HttpApiOptions options_;
  RouteTable routes_;
  std::map<std::string, Invoker> invokers_;  // method full name -> call
  std::string openapi_;
};

}  // namespace loyalty::http
