// edges/grpc/grpc_edge.h: loyaltyd's gRPC server as a component: PosService,
// MemberService and AdminService (callback API), the standard health service
// and reflection, and per-method request counts and latencies in /metrics.
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

namespace loyalty {

struct GrpcEdgeOptions {
  std::string listen = "127.0.0.1:50051";  // port 0 picks one
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
