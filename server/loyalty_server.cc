#include "server/loyalty_server.h"

#include <pthread.h>

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>

#include "base/log.h"
#include "base/str_cat.h"
#include "services/common/status_macros.h"

namespace loyalty::server {

absl::StatusOr<std::unique_ptr<LoyaltyServer>> LoyaltyServer::Start(
    const internal::ServerConfig& config, const Clock& clock) {
  std::unique_ptr<LoyaltyServer> s(new LoyaltyServer());

  auto authenticator = auth::Authenticator::Create(config.credentials());
  if (!authenticator.ok()) return authenticator.status();
  s->authenticator_ = std::make_unique<auth::Authenticator>(std::move(*authenticator));

  storage::StoreOptions store_options;
  store_options.path = config.data_dir();
  store_options.block_cache_bytes = config.block_cache_mb() << 20;
  auto store = storage::Store::Open(store_options);
  if (!store.ok()) return store.status();
  s->store_ = std::move(*store);

  // The initial program applies only to a new data folder; after that the
  // stored, versioned program rules (AdminService.UpdateProgram changes it).
  engine::ProgramConfig initial = engine::DefaultProgram(config.program_currency());
  initial.points_per_major_unit = config.points_per_major_unit();
  if (config.has_initial_program()) {
    auto checked = ProgramStore::Check(config.initial_program());
    if (!checked.ok()) return Annotate(checked.status(), "config initial_program");
    initial = std::move(*checked);
  }
  auto programs = ProgramStore::Open(*s->store_, std::move(initial), clock);
  if (!programs.ok()) return programs.status();
  s->programs_ = std::move(*programs);

  auto counters = Counters::Load(*s->store_);
  if (!counters.ok()) return counters.status();
  s->counters_ = std::move(*counters);

  s->members_ = std::make_unique<Members>(*s->store_, config.member_cache_mb() << 20);
  s->lanes_ = std::make_unique<Lanes>(config.worker_threads(), config.member_strands());
  s->ingest_ = std::make_unique<Ingest>(*s->store_, *s->members_, *s->programs_, *s->counters_, clock,
                                             &s->updates_);
  s->pos_ops_ = std::make_unique<pos::PosOperations>(*s->ingest_, *s->lanes_, *s->store_, *s->members_,
                                                     *s->programs_, *s->counters_, clock);
  s->member_ops_ = std::make_unique<MemberOperations>(*s->store_, *s->members_, *s->programs_, *s->counters_, clock,
                                                     *s->ingest_, *s->lanes_, s->updates_);
  s->admin_ops_ = std::make_unique<AdminOperations>(*s->store_, *s->members_, *s->lanes_, clock, *s->programs_,
                                                   s->counters_.get(), &s->updates_);
  s->pos_service_ = std::make_unique<pos::PosGrpcService>(*s->pos_ops_, *s->authenticator_);
  s->member_service_ = std::make_unique<MemberGrpcService>(*s->member_ops_, *s->authenticator_);
  s->admin_service_ = std::make_unique<AdminGrpcService>(*s->admin_ops_, *s->authenticator_);

  // Both must be enabled before the builder is created.
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(config.grpc_listen(), grpc::InsecureServerCredentials(), &s->grpc_port_);
  builder.RegisterService(s->pos_service_.get());
  builder.RegisterService(s->member_service_.get());
  builder.RegisterService(s->admin_service_.get());
  s->grpc_server_ = builder.BuildAndStart();
  if (s->grpc_server_ == nullptr || s->grpc_port_ == 0) {
    return absl::UnavailableError(loyalty::StrCat("cannot listen on ", config.grpc_listen()));
  }
  const auto interval = std::chrono::seconds(config.expiry_interval_s() == 0 ? 3600 : config.expiry_interval_s());
  LoyaltyServer* self = s.get();
  s->expiry_thread_ = std::thread([self, interval] {
    std::unique_lock<std::mutex> lock(self->timers_mu_);
    while (!self->timers_cv_.wait_for(lock, interval, [self] { return self->stopping_; })) {
      auth::Principal scheduler{auth::Role::kAdmin, "expiry-scheduler", "", ""};
      self->admin_ops_->RunExpiry(scheduler, [](absl::StatusOr<v1::RunExpiryResponse> r) {
        if (!r.ok()) {
          LogError(loyalty::StrCat("scheduled expiry: ", r.status().ToString()));
        } else if (r->members_expired() > 0) {
          LogInfo(loyalty::StrCat("scheduled expiry: ", r->points_expired(), " points of ",
                                  r->members_expired(), " members expired"));
        }
      });
    }
  });
  s->figures_thread_ = std::thread([self] {
    pthread_setname_np(pthread_self(), "figures-flush");
    std::unique_lock<std::mutex> lock(self->timers_mu_);
    while (!self->timers_cv_.wait_for(lock, kFiguresFlushInterval, [self] { return self->stopping_; })) {
      if (absl::Status s = self->counters_->FlushFigures(*self->store_); !s.ok()) {
        LogError(loyalty::StrCat("flushing figures: ", s.ToString()));
      }
    }
  });
  LogInfo(loyalty::StrCat("loyaltyd: data in ", config.data_dir(), ", next event seq ",
                          s->store_->LastAllocatedEventSeq() + 1, ", ", s->authenticator_->size(),
                          " credentials, ", config.worker_threads(), " workers on ",
                          config.member_strands(), " member lanes"));
  return s;
}

LoyaltyServer::~LoyaltyServer() {
  absl::Status s = Shutdown(std::chrono::milliseconds(0));
  if (!s.ok()) LogError(loyalty::StrCat("shutdown: ", s.message()));
}

absl::Status LoyaltyServer::Shutdown(std::chrono::milliseconds grace) {
  if (shut_down_) return absl::OkStatus();
  shut_down_ = true;
  if (grpc_server_) {
    // Stops accepting calls; in-flight calls get until the deadline.
    grpc_server_->Shutdown(std::chrono::system_clock::now() + grace);
  }
  {
    std::lock_guard<std::mutex> lock(timers_mu_);
    stopping_ = true;
  }
  timers_cv_.notify_all();
  if (expiry_thread_.joinable()) expiry_thread_.join();
  if (figures_thread_.joinable()) figures_thread_.join();
  if (lanes_) lanes_->Stop();  // Work already handed to the lanes finishes.
  if (!store_) return absl::OkStatus();
  if (counters_) {
    if (absl::Status s = counters_->FlushFigures(*store_); !s.ok()) LogError(loyalty::StrCat("flushing figures: ", s.ToString()));
  }
  return store_->Close();
}

}  // namespace loyalty::server
