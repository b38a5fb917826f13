// tools/loyaltyctl.cc: loyaltyctl, a command-line tool that talks to a
// running loyaltyd over gRPC.
//
//   loyaltyctl simulate --target 127.0.0.1:50051 --admin-token demo-admin
//       --terminal-token-prefix demo-terminal-store- --stores 2
//
// Subcommands:
//   simulate   acts as a retail chain's terminals: enrolls members, sends
//              months of sales (evaluated with the members' offers and reward
//              codes), returns and voids in time order, with members
//              redeeming rewards and opening the app, then prints the
//              program's figures and its own counts.
//
// Exit codes: 0 done; 1 the server refused something (printed) or could not
// be reached; 2 bad command line.
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <chrono>
#include <iomanip>
#include <iostream>
#include <string>
#include <vector>

#include "base/str_cat.h"
#include "tools/figures_report.h"
#include "tools/sale_journal.h"
#include "tools/simulate_options.h"
#include "tools/simulate_plan.h"
#include "tools/simulate_runner.h"

namespace loyalty::tools {
namespace {

constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;

std::string Usage() {
  return "usage: loyaltyctl <subcommand> [flags]\n"
         "\n"
         "subcommands:\n"
         "  simulate   act as a retail chain's terminals against a running loyaltyd\n"
         "\n" +
         SimulateUsage();
}

// Reconnect quickly if loyaltyd restarts: calls are retried meanwhile.
std::shared_ptr<grpc::Channel> ConnectTo(const std::string& target) {
  grpc::ChannelArguments arguments;
  arguments.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  arguments.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
  arguments.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  return grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), arguments);
}

// "plan: 300 members; 2650 sales (265 anonymous), 80 returns, 13 voids,
//  1500 app openings at 4 stores from 2025-05-22 to 2025-11-22 (seed 1)"
std::string DescribePlan(const SimulationPlan& plan, const SimulateOptions& options) {
  int64_t sales = 0, anonymous_sales = 0, returns = 0, voids = 0;
  for (const auto& planned : plan.events) {
    if (planned.IsAppOpening()) continue;
    if (planned.event.has_sale()) {
      ++sales;
      if (!planned.event.sale().has_member()) ++anonymous_sales;
    } else if (planned.event.has_return_()) {
      ++returns;
    } else {
      ++voids;
    }
  }
  return loyalty::StrCat("plan: ", plan.enrollments.size(), " members; ", sales, " sales (", anonymous_sales,
                         " anonymous), ", returns, " returns, ", voids, " voids, ", plan.app_openings,
                         " app openings at ", options.stores,
                         " stores from ", UtcDate(plan.period_start_seconds), " to ",
                         UtcDate(plan.period_end_seconds), " (seed ", options.seed, ")");
}

// "program: version 1, 1 point(s) per 1.00 EUR, 7 offers, 3 rewards (3 for
//  categories the simulated stores sell)"
std::string DescribeProgram(const loyalty::v1::Program& program, size_t usable_rewards) {
  return loyalty::StrCat("program: version ", program.version(), ", ", program.points_per_major_unit(),
                         " point(s) per 1.00 ", program.currency(), ", ", program.offers_size(), " offers, ",
                         program.rewards_size(), " rewards (", usable_rewards,
                         " for categories the simulated stores sell)");
}

// Enrolls, sends the events, reads the figures and prints the report.
bool RunSimulation(const SimulateOptions& options, const SimulationPlan& plan) {
  SaleJournal journal;
  if (!options.journal.empty()) {
    std::string error;
    if (!journal.Open(options.journal, error)) {
      std::cerr << "loyaltyctl: " << error << std::endl;
      return false;
    }
    std::cerr << "journal: " << options.journal << ", " << journal.loaded() << " sales from earlier runs"
              << std::endl;
  }
  SimulationRunner runner(options, ConnectTo(options.target), journal);
  loyalty::v1::Program program;
  if (!runner.GetProgram(program)) return false;
  std::cerr << DescribeProgram(program, runner.usable_rewards()) << std::endl;

  if (!runner.Enroll(plan.enrollments)) return false;
  const auto started = std::chrono::steady_clock::now();
  if (!runner.SendEvents(plan.events)) return false;
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();

  loyalty::v1::ProgramFigures figures;
  if (!runner.GetFigures(figures)) return false;
  const auto events = static_cast<int64_t>(plan.events.size()) - plan.app_openings;
  std::cout << "sent " << events << " events in " << std::fixed << std::setprecision(1) << seconds
            << " s (" << static_cast<int64_t>(events / std::max(seconds, 0.001)) << " events/s)\n";
  PrintReport(std::cout, figures, runner.Counts());
  return true;
}

int Simulate(const std::vector<std::string>& args) {
  if (std::find_if(args.begin(), args.end(), [](const std::string& a) { return a == "--help" || a == "-h"; }) !=
      args.end()) {
    std::cout << SimulateUsage();
    return kExitOk;
  }
  std::string error;
  const auto options = ParseSimulateOptions(args, error);
  if (!options) {
    std::cerr << "loyaltyctl simulate: " << error << "\n\n" << SimulateUsage();
    return kExitUsage;
  }
  const SimulationPlan plan = MakePlan(*options, StartOfTodayUtc());
  std::cerr << DescribePlan(plan, *options) << std::endl;
  return RunSimulation(*options, plan) ? kExitOk : kExitFailed;
}

}  // namespace
}  // namespace loyalty::tools

int main(int argc, char** argv) {
  using namespace loyalty::tools;
  const std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "help" || args[0] == "--help" || args[0] == "-h") {
    std::cout << Usage();
    return args.empty() ? kExitUsage : kExitOk;
  }
  if (args[0] == "simulate") {
    return Simulate(std::vector<std::string>(args.begin() + 1, args.end()));
  }
  std::cerr << "loyaltyctl: unknown subcommand '" << args[0] << "'\n\n" << Usage();
  return kExitUsage;
}
