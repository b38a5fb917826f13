// server/loyalty_server.h: wires storage, the operations and the gRPC
// services into one running server. loyaltyd's main() and the integration
// tests both use it (tests bind 127.0.0.1:0 and a temporary data folder).
//
// Shutdown order: stop taking calls and let in-flight calls finish (up to the
// grace period), drain the member lanes, then close RocksDB cleanly.
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>

#include <grpcpp/grpcpp.h>

#include "absl/status/statusor.h"
#include "loyalty/internal/config.pb.h"
#include "services/auth/auth.h"
#include "services/common/clock.h"
#include "services/common/lanes.h"
#include "services/loyalty/admin_operations.h"
#include "edges/grpc/loyalty_grpc_services.h"
#include "services/loyalty/member_operations.h"
#include "services/loyalty/counters.h"
#include "services/loyalty/program_store.h"
#include "services/loyalty/ingest.h"
#include "edges/grpc/pos_grpc_service.h"
#include "services/pos/pos_operations.h"
#include "storage/store.h"

namespace loyalty::server {

class LoyaltyServer {
 public:
  // `config` must have defaults applied. `clock` must outlive the server.
  static absl::StatusOr<std::unique_ptr<LoyaltyServer>> Start(const internal::ServerConfig& config,
                                                              const Clock& clock);
  ~LoyaltyServer();

  int grpc_port() const { return grpc_port_; }
  // Idempotent. Returns the status of closing storage.
  absl::Status Shutdown(std::chrono::milliseconds grace);

  storage::Store& store() { return *store_; }
  AdminOperations& admin() { return *admin_ops_; }

 private:
  LoyaltyServer() = default;

  std::unique_ptr<storage::Store> store_;
  std::unique_ptr<auth::Authenticator> authenticator_;
  std::unique_ptr<ProgramStore> programs_;
  std::unique_ptr<Counters> counters_;
  MemberUpdates updates_;
  std::unique_ptr<Members> members_;
  std::unique_ptr<Lanes> lanes_;
  std::unique_ptr<Ingest> ingest_;
  std::unique_ptr<pos::PosOperations> pos_ops_;
  std::unique_ptr<MemberOperations> member_ops_;
  std::unique_ptr<AdminOperations> admin_ops_;
  std::unique_ptr<pos::PosGrpcService> pos_service_;
  std::unique_ptr<MemberGrpcService> member_service_;
  std::unique_ptr<AdminGrpcService> admin_service_;
  std::unique_ptr<grpc::Server> grpc_server_;
  // Runs expiry (and tier/stage refresh) every expiry interval.
  std::thread expiry_thread_;
  // Persists figures that may lag (offers shown) every second.
  static constexpr std::chrono::seconds kFiguresFlushInterval{1};
  std::thread figures_thread_;
  // Wakes both timer threads (expiry, figures) when stopping_ is set.
  std::mutex timers_mu_;
  std::condition_variable timers_cv_;
  bool stopping_ = false;
  int grpc_port_ = 0;
  bool shut_down_ = false;
};

}  // namespace loyalty::server
