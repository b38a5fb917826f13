// edges/http/http_edge.h: the HTTP edge as a component: the JSON API,
// probes, metrics and the OpenAPI document (HttpApi) on the Beast server
// (HttpServer).
#pragma once

#include <memory>

#include "absl/status/statusor.h"
#include "base/component.h"
#include "edges/http/http_api.h"
#include "edges/http/http_server.h"

namespace loyalty::http {

class HttpEdge final : public Component {
 public:
  static absl::StatusOr<std::unique_ptr<HttpEdge>> Start(const HttpServerOptions& server_options, Operations ops,
                                                         const auth::Authenticator& authenticator,
                                                         HttpApiOptions api_options);
  std::string_view name() const override { return "HTTP"; }
  void Stop(Deadline deadline) override;
  int port() const { return server_->port(); }
  const HttpApi& api() const { return *api_; }

 private:
  HttpEdge() = default;
  std::unique_ptr<HttpApi> api_;
  // Destroyed first: it calls into the API while it runs.
  std::unique_ptr<HttpServer> server_;
};

}  // namespace loyalty::http
