#include "edges/http/http_edge.h"

#include <cassert>

namespace loyalty::http {

absl::StatusOr<std::unique_ptr<HttpEdge>> HttpEdge::Start(const HttpServerOptions& server_options, Operations ops,
                                                          const auth::Authenticator& authenticator,
                                                          HttpApiOptions api_options) {
  std::unique_ptr<HttpEdge> edge(new HttpEdge());
  auto api = HttpApi::Create(ops, authenticator, std::move(api_options));
  if (!api.ok()) return api.status();
  edge->api_ = std::move(*api);
  auto server = HttpServer::Start(server_options, *edge->api_);
  if (!server.ok()) return server.status();
  edge->server_ = std::move(*server);
  assert(edge->server_->port() > 0);
  return edge;
}

void HttpEdge::Stop(Deadline deadline) {
  const auto left = deadline - std::chrono::steady_clock::now();
  server_->Shutdown(std::max(std::chrono::milliseconds(0), std::chrono::duration_cast<std::chrono::milliseconds>(left)));
}

}  // namespace loyalty::http
