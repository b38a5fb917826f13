// tools/simulate_runner.h: plays a SimulationPlan against loyaltyd through
// the real gRPC API (AdminService as marketing, PosService as the stores'
// terminals) and counts what the server acknowledged.
//
// Every method prints a refusal on stderr and returns false; the caller
// then stops and exits non-zero.
#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "loyalty/v1/admin.grpc.pb.h"
#include "loyalty/v1/pos.grpc.pb.h"
#include "tools/rpc_call.h"
#include "tools/simulate_options.h"
#include "tools/simulate_plan.h"

namespace loyalty::tools {

// One count of the simulator, for the report.
struct CountLine {
  std::string key;    // machine-readable name, e.g. "points_earned"
  std::string label;  // for people, e.g. "points earned (acknowledged)"
  int64_t value = 0;
};

class SimulationRunner {
 public:
  SimulationRunner(const SimulateOptions& options, std::shared_ptr<grpc::Channel> channel);

  // Reads the program (checks the target and the admin token).
  bool GetProgram(loyalty::v1::Program& program);
  // Enrolls every member, `concurrency` at a time.
  bool Enroll(const std::vector<loyalty::v1::EnrollMemberRequest>& enrollments);
  // Sends every event in plan order with `concurrency` parallel callers; an
  // event waits until the one it depends on is acknowledged.
  bool SendEvents(const std::vector<PlannedEvent>& events);
  bool GetFigures(loyalty::v1::ProgramFigures& figures);

  // What the server acknowledged so far.
  std::vector<CountLine> Counts() const;
  int64_t points_earned() const { return points_earned_.load(); }
  int64_t points_reversed() const { return points_reversed_.load(); }

 private:
  bool SendEvent(const PlannedEvent& planned);
  bool SendSale(const PlannedEvent& planned);
  bool SendReturn(const PlannedEvent& planned);
  bool SendVoid(const PlannedEvent& planned);
  // Counts a call's attempts; on failure prints the refusal (and `hint` if
  // the credential was refused) and returns false.
  bool Check(const CallResult& result, const std::string& what, const std::string& hint = "");
  void CountOutcome(const loyalty::v1::EventOutcome& outcome, const CallResult& result);
  std::string TerminalToken(int store) const;
  std::string TerminalHint(int store) const;

  const SimulateOptions& options_;
  std::unique_ptr<loyalty::v1::AdminService::Stub> admin_;
  std::unique_ptr<loyalty::v1::PosService::Stub> pos_;

  std::atomic<bool> refusal_printed_{false};
  std::atomic<int64_t> members_enrolled_{0};
  std::atomic<int64_t> members_created_{0};
  std::atomic<int64_t> events_acknowledged_{0};
  std::atomic<int64_t> sales_{0};
  std::atomic<int64_t> anonymous_sales_{0};
  std::atomic<int64_t> returns_{0};
  std::atomic<int64_t> voids_{0};
  std::atomic<int64_t> points_earned_{0};
  std::atomic<int64_t> points_reversed_{0};
  std::atomic<int64_t> replays_{0};
  std::atomic<int64_t> retries_{0};
};

}  // namespace loyalty::tools
