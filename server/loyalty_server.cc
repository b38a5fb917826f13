#include "server/loyalty_server.h"

#include <pthread.h>

#include <cassert>

#include "base/log.h"
#include "base/metrics.h"
#include "base/str_cat.h"
#include "services/common/status_macros.h"

namespace loyalty::server {
namespace {

// A component made of a stop function (storage and lanes need no more).
class StopFn final : public Component {
 public:
  StopFn(std::string_view name, std::function<void()> stop) : name_(name), stop_(std::move(stop)) {}
  ~StopFn() override { Stop(Deadline()); }
  std::string_view name() const override { return name_; }
  void Stop(Deadline) override {
    if (auto stop = std::move(stop_)) {
      stop_ = nullptr;
      stop();
    }
  }

 private:
  std::string_view name_;
  std::function<void()> stop_;
};

// The timer threads: expiry every interval, the figures flush every second.
class Timers final : public Component {
 public:
  Timers(AdminOperations& admin, Counters& counters, storage::Store& store, std::chrono::seconds expiry_interval)
      : admin_(admin), counters_(counters), store_(store) {
    expiry_ = std::thread([this, expiry_interval] {
      pthread_setname_np(pthread_self(), "expiry");
      Every(expiry_interval, [this] { RunExpiry(); });
    });
    figures_ = std::thread([this] {
      pthread_setname_np(pthread_self(), "figures-flush");
      Every(kFiguresFlushInterval, [this] { FlushFigures(); });
    });
  }
  ~Timers() override { Stop(Deadline()); }
  std::string_view name() const override { return "timers"; }
  void Stop(Deadline) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) return;
      stopping_ = true;
    }
    cv_.notify_all();
    expiry_.join();
    figures_.join();
    FlushFigures();  // what was counted since the last flush
  }

 private:
  // Persists figures that may lag (offers shown) every second.
  static constexpr std::chrono::seconds kFiguresFlushInterval{1};

  template <class F>
  void Every(std::chrono::seconds interval, F f) {
    std::unique_lock<std::mutex> lock(mu_);
    while (!cv_.wait_for(lock, interval, [this] { return stopping_; })) {
      lock.unlock();
      f();
      lock.lock();
    }
  }
  void RunExpiry() {
    auth::Principal scheduler{auth::Role::kAdmin, "expiry-scheduler", "", ""};
    admin_.RunExpiry(scheduler, [](absl::StatusOr<v1::RunExpiryResponse> r) {
      if (!r.ok()) {
        LogError(loyalty::StrCat("scheduled expiry: ", r.status().ToString()));
      } else if (r->members_expired() > 0) {
        LogInfo(loyalty::StrCat("scheduled expiry: ", r->points_expired(), " points of ", r->members_expired(),
                                " members expired"));
      }
    });
  }
  void FlushFigures() {
    if (!store_.WritesAllowed().ok()) return;  // kept in memory until writes go on (readiness says why)
    if (absl::Status s = counters_.FlushFigures(store_); !s.ok()) {
      LogError(loyalty::StrCat("flushing figures: ", s.ToString()));
    }
  }

  AdminOperations& admin_;
  Counters& counters_;
  storage::Store& store_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread expiry_;
  std::thread figures_;
};

// The server /metrics' collector reads (RegisterMetrics).
std::mutex scraped_mu;
LoyaltyServer* scraped = nullptr;

}  // namespace

absl::StatusOr<std::unique_ptr<LoyaltyServer>> LoyaltyServer::Start(const internal::ServerConfig& config,
                                                                    const Clock& clock) {
  std::unique_ptr<LoyaltyServer> s(new LoyaltyServer());
  LOYALTY_RETURN_IF_ERROR(s->StartServices(config, clock));
  LOYALTY_RETURN_IF_ERROR(s->StartEdges(config));
  s->RegisterMetrics();
  LogInfo(loyalty::StrCat("loyaltyd: data in ", config.data_dir(), ", next event seq ",
                          s->store_->LastAllocatedEventSeq() + 1, ", ", s->authenticator_->size() + s->credentials_->size(), " credentials, ",
                          config.worker_threads(), " workers on ", config.member_strands(), " member lanes"));
  return s;
}

absl::Status LoyaltyServer::StartServices(const internal::ServerConfig& config, const Clock& clock) {
  auto authenticator = auth::Authenticator::Create(config.credentials());
  if (!authenticator.ok()) return authenticator.status();
  authenticator_ = std::make_unique<auth::Authenticator>(std::move(*authenticator));
  auto limit_of = [](const internal::RateLimit& l) { return RateLimit{l.per_second(), static_cast<double>(l.burst())}; };
  auth::CallRateLimits limits;
  limits.terminal = limit_of(config.terminal_rate_limit());
  limits.member = limit_of(config.member_rate_limit());
  limits.admin = limit_of(config.admin_rate_limit());
  authenticator_->SetRateLimits(limits);
  authenticator_->SetTerminalCertificates(config.tls().require_terminal_certificate());

  storage::StoreOptions store_options;
  store_options.path = config.data_dir();
  store_options.block_cache_bytes = config.block_cache_mb() << 20;
  store_options.checkpoint_dir = config.checkpoint_dir();
  store_options.min_free_bytes = config.storage_min_free_mb() << 20;
  store_options.max_sync_waiters = config.storage_max_sync_waiters();
  LOYALTY_ASSIGN_OR_RETURN(store_, storage::Store::Open(store_options));
  storage_component_ = std::make_unique<StopFn>("storage", [this] {
    if (counters_) {
      if (absl::Status s = counters_->FlushFigures(*store_); !s.ok()) LogError(loyalty::StrCat("flushing figures: ", s.ToString()));
    }
    close_status_ = store_->Close();
  });
  components_.push_back(storage_component_.get());
  LOYALTY_ASSIGN_OR_RETURN(credentials_, auth::CredentialStore::Open(*store_, clock));
  authenticator_->SetCredentialStore(credentials_.get());
  if (const internal::MemberJwtConfig& jwt = config.member_jwt(); !jwt.jwks_file().empty()) {
    auth::JwtOptions options;
    options.issuer = jwt.issuer();
    options.audience = jwt.audience();
    options.clock_skew = std::chrono::seconds(jwt.clock_skew_s());
    options.member_claim = jwt.member_claim();
    LOYALTY_ASSIGN_OR_RETURN(member_jwts_, auth::MemberJwts::Load(jwt.jwks_file(), std::move(options),
                                                                  std::chrono::seconds(jwt.reload_interval_s())));
    authenticator_->SetMemberJwts(member_jwts_.get(), [&clock] { return clock.NowUnixSeconds(); });
  }

  // The initial program applies only to a new data folder; after that the
  // stored, versioned program rules (AdminService.UpdateProgram changes it).
  engine::ProgramConfig initial = engine::DefaultProgram(config.program_currency());
  initial.points_per_major_unit = config.points_per_major_unit();
  if (config.has_initial_program()) {
    auto checked = ProgramStore::Check(config.initial_program());
    if (!checked.ok()) return Annotate(checked.status(), "config initial_program");
    initial = std::move(*checked);
  }
  LOYALTY_ASSIGN_OR_RETURN(programs_, ProgramStore::Open(*store_, std::move(initial), clock));
  LOYALTY_ASSIGN_OR_RETURN(counters_, Counters::Load(*store_));

  members_ = std::make_unique<Members>(*store_, config.member_cache_mb() << 20);
  lanes_ = std::make_unique<Lanes>(config.worker_threads(), config.member_strands(), config.lane_queue_limit());
  lanes_component_ = std::make_unique<StopFn>("lanes", [this] { lanes_->Stop(); });
  components_.push_back(lanes_component_.get());
  LOYALTY_ASSIGN_OR_RETURN(std::string receipt_secret, Ingest::LoadReceiptSecret(*store_));
  ingest_ = std::make_unique<Ingest>(*store_, *members_, *programs_, *counters_, clock, &updates_,
                                     std::move(receipt_secret));
  pos_ops_ = std::make_unique<pos::PosOperations>(*ingest_, *lanes_, *store_, *members_, *programs_, *counters_, clock,
                                                  limit_of(config.member_lookup_rate_limit()));
  member_ops_ = std::make_unique<MemberOperations>(*store_, *members_, *programs_, *counters_, clock, *ingest_,
                                                   *lanes_, updates_);
  DryRunOptions dry_run_options;
  dry_run_options.memory_budget_bytes = config.dry_run_memory_mb() << 20;
  dry_runs_ = std::make_unique<DryRuns>(*store_, *programs_, clock, dry_run_options);
  components_.push_back(dry_runs_.get());
  admin_ops_ = std::make_unique<AdminOperations>(*store_, *members_, *lanes_, clock, *programs_, *dry_runs_,
                                                 counters_.get(), &updates_);
  admin_ops_->SetCredentialStore(credentials_.get());
  const auto interval = std::chrono::seconds(config.expiry_interval_s() == 0 ? 3600 : config.expiry_interval_s());
  timers_ = std::make_unique<Timers>(*admin_ops_, *counters_, *store_, interval);
  components_.push_back(timers_.get());
  return absl::OkStatus();
}

absl::Status LoyaltyServer::StartEdges(const internal::ServerConfig& config) {
  TlsFiles tls;
  tls.cert_chain_file = config.tls().cert_chain_file();
  tls.private_key_file = config.tls().private_key_file();
  tls.client_ca_file = config.tls().client_ca_file();
  tls.reload_interval_s = config.tls().reload_interval_s() == 0 ? 60 : config.tls().reload_interval_s();
  http::HttpServerOptions server_options;
  server_options.tls = tls;
  server_options.listen = config.http_listen();
  server_options.threads = config.http_threads();
  server_options.max_connections = config.http_max_connections();
  server_options.max_header_bytes = config.http_max_header_bytes();
  server_options.idle_timeout = std::chrono::milliseconds(config.http_idle_timeout_ms());
  server_options.request_timeout = std::chrono::milliseconds(config.http_request_timeout_ms());
  server_options.heartbeat = std::chrono::milliseconds(config.http_heartbeat_ms());
  http::HttpApiOptions api_options;
  api_options.cors_origins.assign(config.http_cors_origins().begin(), config.http_cors_origins().end());
  api_options.max_body_bytes = config.http_max_body_bytes();
  api_options.max_backlog_body_bytes = config.http_max_backlog_body_bytes();
  api_options.ready = [this] { return Ready(); };
  api_options.metrics = [] { return metrics::DefaultRegistry().Render(); };
  api_options.offload = [this](std::function<void()> work) { lanes_->PostUnordered(std::move(work)); };
  LOYALTY_ASSIGN_OR_RETURN(http_, http::HttpEdge::Start(server_options, http::Operations{*pos_ops_, *member_ops_, *admin_ops_},
                                                        *authenticator_, std::move(api_options)));
  edges_.push_back(http_.get());
  // gRPC last: its health check says SERVING only once both edges listen.
  GrpcEdgeOptions grpc_options;
  grpc_options.listen = config.grpc_listen();
  grpc_options.tls = tls;
  grpc_options.max_concurrent_streams = static_cast<int>(config.grpc_max_concurrent_streams());
  grpc_options.max_connection_idle_ms = static_cast<int>(config.grpc_max_connection_idle_ms());
  grpc_options.keepalive_time_ms = static_cast<int>(config.grpc_keepalive_time_ms());
  grpc_options.keepalive_timeout_ms = static_cast<int>(config.grpc_keepalive_timeout_ms());
  grpc_options.handshake_timeout_ms = static_cast<int>(config.grpc_handshake_timeout_ms());
  grpc_options.backlog.max_stream_bytes = config.grpc_max_backlog_bytes();
  grpc_options.backlog.max_buffered_bytes = config.grpc_backlog_buffer_mb() << 20;
  LOYALTY_ASSIGN_OR_RETURN(grpc_, GrpcEdge::Start(grpc_options, *pos_ops_, *member_ops_, *admin_ops_, *authenticator_));
  edges_.push_back(grpc_.get());

  return absl::OkStatus();
}

absl::Status LoyaltyServer::Ready() const {
  if (draining_.load(std::memory_order_acquire)) return absl::UnavailableError("the server is draining");
  // Writes refused: sales would be refused too, so a balancer sends them
  // elsewhere (reads still work here).
  return store_->WritesAllowed();
}

void LoyaltyServer::RegisterMetrics() {
  auto& registry = metrics::DefaultRegistry();
  static std::once_flag process_once;
  std::call_once(process_once, [&registry] {
    metrics::AddProcessCollector(registry);
    registry.AddGauge("loyaltyd_build_info", "The running build (value 1)", {"version", "commit"})
        .WithLabels({LOYALTY_VERSION, LOYALTY_GIT_COMMIT})
        .Set(1);
  });
  // The collectors read this server's parts at each scrape; nothing here
  // scans members. (One server a process in production; tests start
  // several, and a scrape shows the newest one still running.)
  std::lock_guard<std::mutex> lock(scraped_mu);
  scraped = this;
  static bool registered = false;
  if (registered) return;
  registered = true;
  registry.AddCollector([](metrics::Exposition& out) {
    std::lock_guard<std::mutex> lock(scraped_mu);
    LoyaltyServer* s = scraped;
    if (s == nullptr) return;
    const storage::Store::Figures f = s->store_->ReadFigures();
    for (const auto& cf : f.families) {
      out.Gauge("loyaltyd_rocksdb_live_table_bytes", "Bytes of live table files, per column family", {{"cf", cf.name}},
                cf.live_table_bytes);
      out.Gauge("loyaltyd_rocksdb_memtable_bytes", "Bytes in memtables, per column family", {{"cf", cf.name}},
                cf.memtable_bytes);
      out.Gauge("loyaltyd_rocksdb_pending_compaction_bytes", "Estimated bytes compaction has still to rewrite",
                {{"cf", cf.name}}, cf.pending_compaction_bytes);
    }
    out.Gauge("loyaltyd_rocksdb_block_cache_usage_bytes", "Bytes held in RocksDB's block cache", {}, f.block_cache_usage_bytes);
    out.Gauge("loyaltyd_rocksdb_block_cache_capacity_bytes", "Capacity of RocksDB's block cache", {},
              f.block_cache_capacity_bytes);
    out.Gauge("loyaltyd_rocksdb_writes_stopped", "1 while RocksDB stops writes (too many level-0 files or memtables)", {},
              f.writes_stopped ? 1 : 0);
    out.Gauge("loyaltyd_rocksdb_delayed_write_rate_bytes", "RocksDB's write rate limit while it slows writes, else 0", {},
              f.delayed_write_rate);
    out.Counter("loyaltyd_rocksdb_write_stalls_total", "Write stops and slowdowns so far, all column families", {},
                f.write_stalls);
    out.Gauge("loyaltyd_disk_free_bytes", "Free bytes of the data folder's file system (last check)", {},
              f.free_disk_bytes);
    out.Gauge("loyaltyd_disk_min_free_bytes", "Free bytes kept on the data folder's file system: below, writes are refused",
              {}, s->store_->min_free_bytes());
    for (auto [refusal, reason] : {std::pair{storage::WriteRefusal::kDiskLow, "disk_low"},
                                   std::pair{storage::WriteRefusal::kReadOnly, "read_only"},
                                   std::pair{storage::WriteRefusal::kSyncFailed, "sync_failed"}}) {
      out.Gauge("loyaltyd_storage_writes_refused", "1 while writes are refused, by reason", {{"reason", reason}},
                f.write_refusal == refusal ? 1 : 0);
    }
    out.Counter("loyaltyd_wal_syncs_total", "WAL fsyncs done", {}, s->store_->wal_syncs());
    out.Counter("loyaltyd_wal_sync_answers_total", "Answers WAL syncs made durable", {}, s->store_->wal_sync_waiters());
    out.Gauge("loyaltyd_lane_queued_tasks", "Events and tasks waiting in member lanes", {}, s->lanes_->queued_tasks());
    out.Gauge("loyaltyd_lane_queue_limit", "Events that may wait in member lanes before writes are refused", {},
              s->lanes_->max_queued_tasks());
    out.Gauge("loyaltyd_wal_sync_waiting", "Answers waiting for the next WAL sync", {}, s->store_->pending_sync_waiters());
    out.Gauge("loyaltyd_wal_sync_waiting_limit", "Answers that may wait for a WAL sync before writes are refused", {},
              s->store_->max_sync_waiters());
    out.Counter("loyaltyd_overload_refusals_total", "Writes refused at once because a queue was at its limit, by queue",
                {{"queue", "lanes"}}, s->lanes_->refusals());
    out.Counter("loyaltyd_overload_refusals_total", "Writes refused at once because a queue was at its limit, by queue",
                {{"queue", "wal_sync"}}, s->store_->overload_refusals());
    out.Gauge("loyaltyd_pool_queued_tasks", "Unordered tasks (routing, watch reads) waiting for a pool thread", {},
              s->lanes_->queued_unordered_tasks());
    const MemberCache& cache = s->members_->cache();
    out.Counter("loyaltyd_member_cache_hits_total", "Member reads answered from the decoded member cache", {}, cache.hits());
    out.Counter("loyaltyd_member_cache_misses_total", "Member reads that went to RocksDB", {}, cache.misses());
    out.Gauge("loyaltyd_member_cache_bytes", "Approximate bytes of the decoded member cache", {}, cache.bytes());
    out.Gauge("loyaltyd_member_cache_entries", "Members in the decoded member cache", {}, cache.entries());
    out.Gauge("loyaltyd_watchers", "Live member watches (gRPC streams and HTTP event streams)", {},
              s->updates_.watchers());
    out.Gauge("loyaltyd_events_last_seq", "The newest event sequence number allocated", {},
              s->store_->LastAllocatedEventSeq());
  });
}

LoyaltyServer::~LoyaltyServer() {
  absl::Status s = Shutdown(std::chrono::milliseconds(0));
  if (!s.ok()) LogError(loyalty::StrCat("shutdown: ", s.message()));
}

absl::Status LoyaltyServer::Shutdown(std::chrono::milliseconds grace) {
  if (shut_down_) return close_status_;
  {
    std::lock_guard<std::mutex> lock(scraped_mu);  // no scrape reads a stopping server
    if (scraped == this) scraped = nullptr;
  }
  const Component::Deadline deadline = std::chrono::steady_clock::now() + grace;
  draining_.store(true, std::memory_order_release);  // /readyz: 503
  updates_.Drain();  // live watches end cleanly before their edges stop
  // A dry run's caller waiting on an edge is answered before the edge stops.
  if (dry_runs_) dry_runs_->Stop(deadline);
  // The edges stop together, each with the whole grace: both stop taking
  // calls at once, and neither's stragglers eat the other's time.
  std::vector<std::thread> stopping;
  for (Component* edge : edges_) stopping.emplace_back([edge, deadline] { edge->Stop(deadline); });
  for (auto& t : stopping) t.join();
  for (auto it = components_.rbegin(); it != components_.rend(); ++it) (*it)->Stop(deadline);
  shut_down_ = true;
  return close_status_;
}

}  // namespace loyalty::server
