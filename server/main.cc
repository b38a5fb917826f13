// loyaltyd: the loyalty backend in one process.
//
//   loyaltyd [--config FILE] [--data_dir DIR] [--grpc_listen HOST:PORT]
//            [--port_file FILE] [--demo]
//   loyaltyd --hash-token TOKEN      prints the SHA-256 to put in the config
//
// With no --config, it runs the embedded default: data in ./data, the demo
// program, demo credentials printed at start. SIGTERM or SIGINT: stop taking
// calls, finish those in flight, close RocksDB cleanly, exit 0.
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>

#include <pthread.h>

#include "absl/synchronization/mutex.h"
#include "base/log.h"
#include "base/str_cat.h"
#include "server/config.h"
#include "server/demo.h"
#include "server/loyalty_server.h"
#include "services/common/fingerprint.h"
#include "services/loyalty/codec.h"

namespace {

constexpr char kUsage[] =
    "usage: loyaltyd [--config FILE] [--data_dir DIR] [--grpc_listen HOST:PORT]\n"
    "                [--port_file FILE] [--demo]\n"
    "       loyaltyd --hash-token TOKEN\n"
    "Without --config: embedded demo (data in ./data, demo credentials printed).\n";

int Fail(std::string_view message) {
  loyalty::LogError(loyalty::StrCat("loyaltyd: ", message));
  return 2;
}
int Fail(const absl::Status& s) { return Fail(std::string(s.message())); }

}  // namespace

int main(int argc, char** argv) {
  using loyalty::StrCat;
  std::string config_path, data_dir, listen, port_file;
  bool demo = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&](const char* name) -> const char* {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "loyaltyd: %s needs a value\n%s", name, kUsage);
        std::exit(2);
      }
      return argv[++i];
    };
    if (arg == "--config") config_path = value("--config");
    else if (arg == "--data_dir") data_dir = value("--data_dir");
    else if (arg == "--grpc_listen") listen = value("--grpc_listen");
    else if (arg == "--port_file") port_file = value("--port_file");
    else if (arg == "--demo") demo = true;
    else if (arg == "--hash-token") {
      std::printf("%s\n", loyalty::Sha256Hex(value("--hash-token")).c_str());
      return 0;
    } else if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    } else {
      std::fprintf(stderr, "loyaltyd: unknown flag %s\n%s", arg.c_str(), kUsage);
      return 2;
    }
  }

  loyalty::internal::ServerConfig config;
  if (!config_path.empty()) {
    auto loaded = loyalty::server::LoadConfigFile(config_path);
    if (!loaded.ok()) return Fail(loaded.status());
    config = std::move(*loaded);
  } else {
    config.set_demo(true);  // the embedded default
  }
  if (demo) config.set_demo(true);
  if (!data_dir.empty()) config.set_data_dir(data_dir);
  if (!listen.empty()) config.set_grpc_listen(listen);
  if (!port_file.empty()) config.set_port_file(port_file);
  loyalty::server::ApplyDefaults(config);
  if (auto s = loyalty::server::ValidateConfig(config); !s.ok()) return Fail(s);

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
  loyalty::LogInfo(StrCat("loyaltyd: serving gRPC on ", config.grpc_listen(), " (port ", port,
                          "): loyalty.v1.PosService, MemberService, AdminService, health, reflection"));
  if (!config.port_file().empty()) {
    const std::string tmp = config.port_file() + ".tmp";
    std::ofstream(tmp) << port << "\n";
    std::rename(tmp.c_str(), config.port_file().c_str());  // readers never see half a file
  }

  int sig = 0;
  sigwait(&signals, &sig);
  loyalty::LogInfo(StrCat("loyaltyd: ", strsignal(sig), ": stopping (grace ",
                          config.shutdown_grace_ms(), " ms)"));
  absl::Status closed = (*server)->Shutdown(std::chrono::milliseconds(config.shutdown_grace_ms()));
  if (!closed.ok()) return Fail(StrCat("close: ", closed.message()));
  loyalty::LogInfo("loyaltyd: stopped cleanly");
  return 0;
}
