// server/loyalty_server.h: wires storage, the operations and the edges into
// one running server. loyaltyd's main() and the integration tests both use it
// (tests bind 127.0.0.1:0 and a temporary data folder).
//
// The server is a list of components, started in order and stopped in the
// reverse order (base/component.h):
//   storage   RocksDB (closed last, cleanly)
//   lanes     the member lanes (drained: work handed to them finishes)
//   timers    scheduled expiry and the figures flush
//   HTTP      the services as JSON, /healthz, /readyz, /metrics,
//             /openapi.json
//   gRPC      PosService, MemberService, AdminService, health, reflection
//             (last: its health check says SERVING once both edges listen)
// Shutdown first marks the server draining (/readyz answers 503) and ends
// every live watch cleanly, then stops both edges together, then the rest in
// reverse order, all within the grace.
//
// Thread-safety: Start and Shutdown from one thread; the accessors from any.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "base/component.h"
#include "edges/grpc/grpc_edge.h"
#include "edges/http/http_edge.h"
#include "loyalty/internal/config.pb.h"
#include "services/auth/auth.h"
#include "services/auth/credential_store.h"
#include "services/common/clock.h"
#include "services/common/lanes.h"
#include "services/loyalty/admin_operations.h"
#include "services/loyalty/counters.h"
#include "services/loyalty/ingest.h"
#include "services/loyalty/member_operations.h"
#include "services/loyalty/program_store.h"
#include "services/pos/pos_operations.h"
#include "storage/store.h"

namespace loyalty::server {

class LoyaltyServer {
 public:
  // `config` must have defaults applied. `clock` must outlive the server.
  static absl::StatusOr<std::unique_ptr<LoyaltyServer>> Start(const internal::ServerConfig& config,
                                                              const Clock& clock);
  ~LoyaltyServer();

  int grpc_port() const { return grpc_->port(); }
  int http_port() const { return http_->port(); }
  // Idempotent. Returns the status of closing storage.
  absl::Status Shutdown(std::chrono::milliseconds grace);

  // OK while serving; why not, while draining or after a storage fault.
  absl::Status Ready() const;

  storage::Store& store() { return *store_; }
  AdminOperations& admin() { return *admin_ops_; }
  Lanes& lanes() { return *lanes_; }
  const ProgramStore& programs() const { return *programs_; }

 private:
  LoyaltyServer() = default;
  absl::Status StartServices(const internal::ServerConfig& config, const Clock& clock);
  absl::Status StartEdges(const internal::ServerConfig& config);
  void RegisterMetrics();

  // Storage and the services, in start order; stopped in reverse after the
  // edges (which stop together).
  std::vector<Component*> components_;
  std::vector<Component*> edges_;

  std::unique_ptr<storage::Store> store_;
  std::unique_ptr<auth::Authenticator> authenticator_;
  std::unique_ptr<auth::CredentialStore> credentials_;
  std::unique_ptr<auth::MemberJwts> member_jwts_;
  std::unique_ptr<ProgramStore> programs_;
  std::unique_ptr<Counters> counters_;
  MemberUpdates updates_;
  std::unique_ptr<Members> members_;
  std::unique_ptr<Lanes> lanes_;
  std::unique_ptr<Ingest> ingest_;
  std::unique_ptr<pos::PosOperations> pos_ops_;
  std::unique_ptr<MemberOperations> member_ops_;
  std::unique_ptr<DryRuns> dry_runs_;
  std::unique_ptr<AdminOperations> admin_ops_;
  std::unique_ptr<Component> storage_component_;
  std::unique_ptr<Component> lanes_component_;
  std::unique_ptr<Component> timers_;
  std::unique_ptr<GrpcEdge> grpc_;
  std::unique_ptr<http::HttpEdge> http_;
  std::atomic<bool> draining_{false};
  bool shut_down_ = false;
  absl::Status close_status_;
};

}  // namespace loyalty::server
