// edges/grpc/grpc_edge.h: loyaltyd's gRPC server as a component: PosService,
// MemberService and AdminService (callback API), the standard health service
// and reflection, and per-method request counts and latencies in /metrics.
// A request whose bytes do not parse as its message is answered
// INVALID_ARGUMENT naming the type (gRPC's own answer would be an empty
// UNIMPLEMENTED).
//
// Limits on connections and streams are GrpcEdgeOptions'. With TLS files,
// the port speaks TLS only (gRPC's file watcher re-reads them), and a
// verified client certificate's common name reaches the authenticator.
//
// The listening port must be free: gRPC's default SO_REUSEPORT is turned
// off, so a second loyaltyd on the same port fails at start instead of
// splitting the terminals' connections between two ledgers.
#pragma once

#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>

#include "absl/status/statusor.h"
#include "base/component.h"
#include "edges/grpc/loyalty_grpc_services.h"
#include "edges/grpc/pos_grpc_service.h"
#include "edges/tls/tls_files.h"

namespace loyalty {

struct GrpcEdgeOptions {
  std::string listen = "127.0.0.1:50051";  // port 0 picks one
  // Connections: none held idle for ever, none half set up, none dead and
  // unnoticed, none carrying unbounded calls (the config's grpc_* fields).
  int max_concurrent_streams = 100;
  int max_connection_idle_ms = 300'000;
  int keepalive_time_ms = 60'000;
  int keepalive_timeout_ms = 20'000;
  int handshake_timeout_ms = 10'000;
  pos::BacklogLimits backlog;
  TlsFiles tls;  // not enabled: plaintext
};

class GrpcEdge final : public Component {
 public:
  static absl::StatusOr<std::unique_ptr<GrpcEdge>> Start(const GrpcEdgeOptions& options, pos::PosOperations& pos,
                                                         MemberOperations& member, AdminOperations& admin,
                                                         const auth::Authenticator& authenticator);
  ~GrpcEdge() override;
  std::string_view name() const override { return "gRPC"; }
  void Stop(Deadline deadline) override;
  int port() const { return port_; }

 private:
  GrpcEdge() = default;
  std::unique_ptr<pos::PosGrpcService> pos_service_;
  std::unique_ptr<MemberGrpcService> member_service_;
  std::unique_ptr<AdminGrpcService> admin_service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  bool stopped_ = false;
};

}  // namespace loyalty
