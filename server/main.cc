// loyaltyd: the loyalty backend in one process.
//
//   loyaltyd [--config FILE] [--data_dir DIR] [--grpc_listen HOST:PORT]
//            [--http_listen HOST:PORT] [--port_file FILE]
//            [--http_port_file FILE] [--demo]
//   loyaltyd --hash-token TOKEN      prints the SHA-256 to put in the config
//   loyaltyd --help                  every flag with its default
//
// Flags take `--flag value` or `--flag=value`. With no --config, it runs the
// embedded default: data in ./data, the demo program, demo credentials
// printed at start. SIGTERM or SIGINT: stop taking calls, finish those in
// flight, close RocksDB cleanly, exit 0.
#include <sys/resource.h>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>

#include <pthread.h>

#include <CLI/CLI.hpp>

#include "absl/synchronization/mutex.h"
#include "base/log.h"
#include "base/str_cat.h"
#include "server/config.h"
#include "server/demo.h"
#include "server/loyalty_server.h"
#include "services/common/fingerprint.h"
#include "services/loyalty/codec.h"

namespace {

int Fail(std::string_view message) {
  loyalty::LogError(loyalty::StrCat("loyaltyd: ", message));
  return 2;
}
int Fail(const absl::Status& s) { return Fail(std::string(s.message())); }

// Writes `port` to `path` atomically: readers never see half a file.
void WritePortFile(const std::string& path, int port) {
  if (path.empty()) return;
  const std::string tmp = path + ".tmp";
  std::ofstream(tmp) << port << "\n";
  std::rename(tmp.c_str(), path.c_str());
}

// Connections cost a file descriptor each: the soft limit (often 1024 or
// 4096) is raised to the hard one, so a burst of connections meets the
// server's own limits before the kernel's.
void RaiseOpenFileLimit() {
  struct rlimit limit {};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur >= limit.rlim_max) return;
  const rlim_t before = limit.rlim_cur;
  limit.rlim_cur = limit.rlim_max;
  if (setrlimit(RLIMIT_NOFILE, &limit) == 0) {
    loyalty::LogInfo(loyalty::StrCat("loyaltyd: open file limit raised from ", before, " to ", limit.rlim_cur));
  }
}

}  // namespace

int main(int argc, char** argv) {
  using loyalty::StrCat;
  std::string config_path, data_dir, grpc_listen, http_listen, port_file, http_port_file, hash_token;
  bool demo = false, allow_plaintext = false;
  CLI::App app{"loyaltyd: the loyalty-program backend (gRPC and JSON over HTTP).\n"
               "--demo without --config: the embedded demo (data in ./data, demo credentials printed)."};
  app.set_version_flag("--version", StrCat("loyaltyd ", LOYALTY_VERSION, " (", LOYALTY_GIT_COMMIT, ")"));
  app.add_option("--config", config_path, "configuration file (protobuf text; deploy/loyaltyd.textproto)")
      ->type_name("FILE");
  app.add_option("--data_dir", data_dir, "RocksDB data folder")->type_name("DIR")->default_str("./data");
  app.add_option("--grpc_listen", grpc_listen, "gRPC address; port 0 picks one")
      ->type_name("HOST:PORT")
      ->default_str("127.0.0.1:50051");
  app.add_option("--http_listen", http_listen, "HTTP address (JSON API, /healthz, /readyz, /metrics); port 0 picks one")
      ->type_name("HOST:PORT")
      ->default_str("127.0.0.1:8080");
  app.add_option("--port_file", port_file, "write the bound gRPC port here once serving")->type_name("FILE");
  app.add_option("--http_port_file", http_port_file, "write the bound HTTP port here once serving")->type_name("FILE");
  app.add_flag("--demo", demo, "add the demo credentials (public tokens), program and members");
  app.add_flag("--allow_plaintext,--allow-plaintext", allow_plaintext,
               "allow listening beyond loopback without TLS (allow_plaintext_beyond_loopback)");
  app.add_option("--hash-token,--hash_token", hash_token, "print the SHA-256 to put in token_sha256, and exit")
      ->type_name("TOKEN");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);  // prints the help, the version or the problem
    return code == 0 ? 0 : 2;     // --help, --version: 0; a bad flag: 2
  }
  if (!hash_token.empty()) {
    std::printf("%s\n", loyalty::Sha256Hex(hash_token).c_str());
    return 0;
  }

  loyalty::internal::ServerConfig config;
  if (!config_path.empty()) {
    auto loaded = loyalty::server::LoadConfigFile(config_path);
    if (!loaded.ok()) return Fail(loaded.status());
    config = std::move(*loaded);
  } else if (!demo) {
    // The demo's tokens are public: they exist only when asked for.
    return Fail(
        "no --config FILE; pass one (deploy/loyaltyd.textproto is an annotated example), or --demo for "
        "the embedded demo with its public demo credentials (deploy/run-demo.sh)");
  }
  if (demo) config.set_demo(true);
  if (allow_plaintext) config.set_allow_plaintext_beyond_loopback(true);
  if (!data_dir.empty()) config.set_data_dir(data_dir);
  if (!grpc_listen.empty()) config.set_grpc_listen(grpc_listen);
  if (!http_listen.empty()) config.set_http_listen(http_listen);
  if (!port_file.empty()) config.set_port_file(port_file);
  if (!http_port_file.empty()) config.set_http_port_file(http_port_file);
  loyalty::server::ApplyDefaults(config);
  if (auto s = loyalty::server::ValidateConfig(config); !s.ok()) return Fail(s);
  RaiseOpenFileLimit();

  std::string demo_text;
  if (config.demo()) {
    demo_text = loyalty::server::AddDemoCredentials(config);
    if (!config.has_initial_program()) {
      *config.mutable_initial_program() =
          loyalty::codec::ToProto(loyalty::server::DemoProgram(config.program_currency()));
    }
  }

  // Signals go to a waiting thread, not to whichever thread gRPC is running:
  // block them before any thread starts.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  // Debian's Abseil checks every mutex acquisition for deadlock cycles; gRPC
  // takes many. Measured at 1.5-3.6% of CPU under load (docs/BENCHMARKS.md).
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);

  loyalty::SystemClock clock;
  auto server = loyalty::server::LoyaltyServer::Start(config, clock);
  if (!server.ok()) return Fail(server.status());
  if (config.demo()) {
    if (auto s = loyalty::server::SeedDemoMembers((*server)->admin()); !s.ok()) {
      return Fail(StrCat("seeding demo members: ", s.message()));
    }
    loyalty::LogInfo(demo_text);
  }
  const int port = (*server)->grpc_port();
  const int http_port = (*server)->http_port();
  loyalty::LogInfo(StrCat("loyaltyd: serving gRPC on ", config.grpc_listen(), " (port ", port,
                          "): loyalty.v1.PosService, MemberService, AdminService, health, reflection"));
  loyalty::LogInfo(StrCat("loyaltyd: serving HTTP on ", config.http_listen(), " (port ", http_port,
                          "): JSON API /v1/..., /openapi.json, /healthz, /readyz, /metrics"));
  WritePortFile(config.port_file(), port);
  WritePortFile(config.http_port_file(), http_port);

  int sig = 0;
  sigwait(&signals, &sig);
  loyalty::LogInfo(StrCat("loyaltyd: ", strsignal(sig), ": stopping (grace ",
                          config.shutdown_grace_ms(), " ms)"));
  absl::Status closed = (*server)->Shutdown(std::chrono::milliseconds(config.shutdown_grace_ms()));
  if (!closed.ok()) return Fail(StrCat("close: ", closed.message()));
  loyalty::LogInfo("loyaltyd: stopped cleanly");
  return 0;
}
