#include "server/config.h"

#include <algorithm>
#include <fstream>
#include <sstream>
#include <thread>
#include <tuple>

#include <google/protobuf/io/tokenizer.h>
#include <google/protobuf/text_format.h>

#include "base/str_cat.h"
#include "services/common/status_macros.h"
#include "services/loyalty/engine/program.h"
#include "services/pos/validation.h"

namespace loyalty::server {
namespace {

// Collects the parser's complaints instead of printing them.
class CollectErrors : public google::protobuf::io::ErrorCollector {
 public:
  void AddError(int line, google::protobuf::io::ColumnNumber column,
                const std::string& message) override {
    if (first.empty()) first = loyalty::StrCat("line ", line + 1, " column ", column + 1, ": ", message);
  }
  std::string first;
};

}  // namespace

absl::StatusOr<internal::ServerConfig> LoadConfigFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(loyalty::StrCat("cannot read config file ", path));
  std::stringstream text;
  text << in.rdbuf();
  internal::ServerConfig config;
  google::protobuf::TextFormat::Parser parser;
  CollectErrors errors;
  parser.RecordErrorsTo(&errors);
  if (!parser.ParseFromString(text.str(), &config)) {
    return absl::InvalidArgumentError(loyalty::StrCat("config file ", path, ": ", errors.first));
  }
  return config;
}

void ApplyDefaults(internal::ServerConfig& c) {
  if (c.grpc_listen().empty()) c.set_grpc_listen("127.0.0.1:50051");
  if (c.data_dir().empty()) c.set_data_dir("./data");
  // Lane threads never wait for an fsync (the WAL-sync thread does that), so
  // one per core keeps the cores busy without extra context switches.
  if (c.worker_threads() == 0) c.set_worker_threads(std::max(2u, std::thread::hardware_concurrency()));
  if (c.member_strands() == 0) c.set_member_strands(1024);
  if (c.block_cache_mb() == 0) c.set_block_cache_mb(256);
  if (c.member_cache_mb() == 0) c.set_member_cache_mb(256);
  if (c.program_currency().empty()) c.set_program_currency("EUR");
  if (c.points_per_major_unit() == 0) c.set_points_per_major_unit(1);
  if (c.shutdown_grace_ms() == 0) c.set_shutdown_grace_ms(5000);
  if (c.http_listen().empty()) c.set_http_listen("127.0.0.1:8080");
  if (c.http_threads() == 0) c.set_http_threads(2);
  if (c.http_max_connections() == 0) c.set_http_max_connections(1024);
  if (c.http_idle_timeout_ms() == 0) c.set_http_idle_timeout_ms(60'000);
  if (c.http_request_timeout_ms() == 0) c.set_http_request_timeout_ms(30'000);
  if (c.http_max_body_bytes() == 0) c.set_http_max_body_bytes(1 << 20);
  if (c.http_max_backlog_body_bytes() == 0) c.set_http_max_backlog_body_bytes(32 << 20);
  if (c.http_max_header_bytes() == 0) c.set_http_max_header_bytes(16 << 10);
  if (c.http_heartbeat_ms() == 0) c.set_http_heartbeat_ms(15'000);
  if (c.dry_run_memory_mb() == 0) c.set_dry_run_memory_mb(512);
  if (c.grpc_max_concurrent_streams() == 0) c.set_grpc_max_concurrent_streams(100);
  if (c.grpc_max_connection_idle_ms() == 0) c.set_grpc_max_connection_idle_ms(300'000);
  if (c.grpc_keepalive_time_ms() == 0) c.set_grpc_keepalive_time_ms(60'000);
  if (c.grpc_keepalive_timeout_ms() == 0) c.set_grpc_keepalive_timeout_ms(20'000);
  if (c.grpc_handshake_timeout_ms() == 0) c.set_grpc_handshake_timeout_ms(10'000);
  if (c.grpc_max_backlog_bytes() == 0) c.set_grpc_max_backlog_bytes(32 << 20);
  if (c.grpc_backlog_buffer_mb() == 0) c.set_grpc_backlog_buffer_mb(256);
  if (c.storage_min_free_mb() == 0) c.set_storage_min_free_mb(256);
  if (c.lane_queue_limit() == 0) c.set_lane_queue_limit(100'000);
  if (c.storage_max_sync_waiters() == 0) c.set_storage_max_sync_waiters(50'000);
  if (c.has_member_jwt()) {
    auto* jwt = c.mutable_member_jwt();
    if (jwt->clock_skew_s() == 0) jwt->set_clock_skew_s(60);
    if (jwt->member_claim().empty()) jwt->set_member_claim("sub");
    if (jwt->reload_interval_s() == 0) jwt->set_reload_interval_s(60);
  }
  // A limit written in the file (even per_second 0, no limit) is kept;
  // an absent one gets its default.
  for (auto [has, limit, per_second, burst] :
       {std::tuple{c.has_terminal_rate_limit(), c.mutable_terminal_rate_limit(), 500.0, 1000u},
        std::tuple{c.has_member_rate_limit(), c.mutable_member_rate_limit(), 10.0, 40u},
        std::tuple{c.has_admin_rate_limit(), c.mutable_admin_rate_limit(), 200.0, 400u},
        std::tuple{c.has_member_lookup_rate_limit(), c.mutable_member_lookup_rate_limit(), 5.0, 30u}}) {
    if (!has) {
      limit->set_per_second(per_second);
      limit->set_burst(burst);
    }
    if (limit->burst() == 0) limit->set_burst(static_cast<uint32_t>(std::max(1.0, 2 * limit->per_second())));
  }
}

bool IsLoopback(std::string_view listen) {
  const size_t colon = listen.rfind(':');
  std::string_view host = colon == std::string_view::npos ? listen : listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  return host == "localhost" || host == "::1" || host.substr(0, 4) == "127.";
}

absl::Status ValidateConfig(const internal::ServerConfig& c) {
  if (c.worker_threads() > 1024) return absl::InvalidArgumentError("worker_threads: must be at most 1024");
  if (c.member_strands() > 1 << 20) return absl::InvalidArgumentError("member_strands: must be at most 1048576");
  if (c.member_cache_mb() > 1 << 20) return absl::InvalidArgumentError("member_cache_mb: must be at most 1048576");
  for (const auto& [name, listen] : {std::pair<const char*, std::string>{"grpc_listen", c.grpc_listen()},
                                     {"http_listen", c.http_listen()}}) {
    if (!IsLoopback(listen) && !c.allow_plaintext_beyond_loopback() && c.tls().cert_chain_file().empty()) {
      return absl::InvalidArgumentError(loyalty::StrCat(
          name, ": ", listen, " is beyond loopback and this server speaks plaintext (no TLS); credentials would "
          "cross the network in the clear. Listen on 127.0.0.1 behind a TLS-terminating proxy, or set "
          "allow_plaintext_beyond_loopback (flag --allow_plaintext) for a network you trust"));
    }
  }
  for (const auto& [name, limit] : {std::pair<const char*, const internal::RateLimit*>{"terminal_rate_limit", &c.terminal_rate_limit()},
                                    {"member_rate_limit", &c.member_rate_limit()},
                                    {"admin_rate_limit", &c.admin_rate_limit()},
                                    {"member_lookup_rate_limit", &c.member_lookup_rate_limit()}}) {
    if (!(limit->per_second() >= 0 && limit->per_second() <= 1e6)) {
      return absl::InvalidArgumentError(loyalty::StrCat(name, ".per_second: must be 0 (no limit) to 1000000"));
    }
  }
  if (c.has_member_jwt()) {
    const internal::MemberJwtConfig& jwt = c.member_jwt();
    if (jwt.jwks_file().empty()) return absl::InvalidArgumentError("member_jwt.jwks_file: is required");
    if (jwt.issuer().empty()) return absl::InvalidArgumentError("member_jwt.issuer: is required");
    if (jwt.audience().empty()) return absl::InvalidArgumentError("member_jwt.audience: is required");
    if (jwt.clock_skew_s() > 3600) return absl::InvalidArgumentError("member_jwt.clock_skew_s: must be at most 3600");
  }
  if (const internal::TlsConfig& tls = c.tls(); c.has_tls()) {
    if (tls.cert_chain_file().empty() != tls.private_key_file().empty()) {
      return absl::InvalidArgumentError("tls: cert_chain_file and private_key_file go together");
    }
    if (tls.cert_chain_file().empty() && !tls.client_ca_file().empty()) {
      return absl::InvalidArgumentError("tls.client_ca_file: needs cert_chain_file and private_key_file (TLS itself)");
    }
    if (tls.require_terminal_certificate() && tls.client_ca_file().empty()) {
      return absl::InvalidArgumentError("tls.require_terminal_certificate: needs client_ca_file to verify them by");
    }
    for (const auto& [name, path] : {std::pair<const char*, const std::string*>{"tls.cert_chain_file", &tls.cert_chain_file()},
                                     {"tls.private_key_file", &tls.private_key_file()},
                                     {"tls.client_ca_file", &tls.client_ca_file()}}) {
      if (!path->empty() && !std::ifstream(*path).good()) {
        return absl::InvalidArgumentError(loyalty::StrCat(name, ": cannot read ", *path));
      }
    }
    if (tls.reload_interval_s() > 86'400) return absl::InvalidArgumentError("tls.reload_interval_s: must be at most 86400");
  }
  if (c.grpc_max_concurrent_streams() > 10'000) {
    return absl::InvalidArgumentError("grpc_max_concurrent_streams: must be at most 10000");
  }
  for (const auto& [name, ms] : {std::pair<const char*, uint32_t>{"grpc_max_connection_idle_ms", c.grpc_max_connection_idle_ms()},
                                 {"grpc_keepalive_time_ms", c.grpc_keepalive_time_ms()},
                                 {"grpc_keepalive_timeout_ms", c.grpc_keepalive_timeout_ms()},
                                 {"grpc_handshake_timeout_ms", c.grpc_handshake_timeout_ms()}}) {
    if (ms > 86'400'000) return absl::InvalidArgumentError(std::string(name) + ": must be at most 86400000 (a day)");
  }
  if (c.grpc_max_backlog_bytes() > (1ull << 30)) return absl::InvalidArgumentError("grpc_max_backlog_bytes: must be at most 1 GiB");
  if (c.grpc_backlog_buffer_mb() > 1 << 20) return absl::InvalidArgumentError("grpc_backlog_buffer_mb: must be at most 1048576");
  if (c.dry_run_memory_mb() > 1 << 20) return absl::InvalidArgumentError("dry_run_memory_mb: must be at most 1048576");
  if (c.block_cache_mb() > 1 << 20) return absl::InvalidArgumentError("block_cache_mb: must be at most 1048576");
  if (c.http_threads() > 64) return absl::InvalidArgumentError("http_threads: must be at most 64");
  if (c.http_max_connections() > 1'000'000) return absl::InvalidArgumentError("http_max_connections: must be at most 1000000");
  if (c.http_max_body_bytes() > (1ull << 30) || c.http_max_backlog_body_bytes() > (1ull << 30)) {
    return absl::InvalidArgumentError("http_max_body_bytes, http_max_backlog_body_bytes: must be at most 1 GiB");
  }
  if (c.http_max_header_bytes() > (1u << 20)) return absl::InvalidArgumentError("http_max_header_bytes: must be at most 1 MiB");
  for (const auto& origin : c.http_cors_origins()) {
    if (origin.rfind("http://", 0) != 0 && origin.rfind("https://", 0) != 0) {
      return absl::InvalidArgumentError(loyalty::StrCat("http_cors_origins: '", origin,
                                                        "' must be an origin like https://console.example.com"));
    }
  }
  LOYALTY_RETURN_IF_ERROR(pos::ValidateCurrency("program_currency", c.program_currency()));
  if (c.points_per_major_unit() < 0 || c.points_per_major_unit() > engine::kMaxPointsPerMajorUnit) {
    return absl::InvalidArgumentError(
        loyalty::StrCat("points_per_major_unit: must be between 0 and ", engine::kMaxPointsPerMajorUnit));
  }
  return absl::OkStatus();
}

}  // namespace loyalty::server
