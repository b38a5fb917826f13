// tools/simulate_runner.h: plays a SimulationPlan against loyaltyd through
// the real gRPC API (AdminService as marketing, PosService as the stores'
// terminals, MemberService as the members' app) and counts what the server
// acknowledged.
//
// A member's sale goes as a terminal sends it: PosService.EvaluateBasket
// (with the member's reward code, if any), then RecordSale at the total it
// gives. If the discounts changed meanwhile (FAILED_PRECONDITION "evaluate the
// basket again" / "has just run out"), the basket is evaluated again and the
// same transaction recorded at the new total. After a sale, a member who can
// afford a reward sometimes redeems one (MemberService.Redeem) and uses the
// code on the next visit, adding an item the reward applies to.
//
// Every method prints a refusal on stderr and returns false; the caller
// then stops and exits non-zero.
#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "loyalty/v1/admin.grpc.pb.h"
#include "loyalty/v1/member.grpc.pb.h"
#include "loyalty/v1/pos.grpc.pb.h"
#include "tools/rpc_call.h"
#include "tools/sale_journal.h"
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
  // `journal` may be a disabled one (no --journal).
  SimulationRunner(const SimulateOptions& options, std::shared_ptr<grpc::Channel> channel, SaleJournal& journal);

  // Reads the program (checks the target and the admin token) and keeps the
  // rewards members can use with the simulator's catalogue.
  bool GetProgram(loyalty::v1::Program& program);
  // Rewards kept by GetProgram.
  size_t usable_rewards() const { return rewards_.size(); }
  // Enrolls every member, `concurrency` at a time.
  bool Enroll(const std::vector<loyalty::v1::EnrollMemberRequest>& enrollments);
  // Sends every event (and app opening) in plan order with `concurrency`
  // parallel callers; an event waits until the one it depends on is
  // acknowledged.
  bool SendEvents(const std::vector<PlannedEvent>& events);
  bool GetFigures(loyalty::v1::ProgramFigures& figures);

  // What the server acknowledged so far.
  std::vector<CountLine> Counts() const;

 private:
  struct Reward {
    std::string id;
    int64_t cost_points = 0;
    std::vector<std::string> categories;  // empty: any line
  };
  struct HeldCode {
    std::string code;
    Reward reward;
  };
  // What the simulator knows of one member. Only the member's own chain of
  // events touches it (one at a time, ordered by CompletionBoard).
  struct MemberTrack {
    int64_t available_points = 0;   // from the last answer about the member
    std::vector<HeldCode> codes;    // redeemed, not used yet
  };

  bool SendStep(const PlannedEvent& planned, size_t index);
  bool SendAnonymousSale(const PlannedEvent& planned);
  bool SendMemberSale(const PlannedEvent& planned, size_t index);
  bool SendReturn(const PlannedEvent& planned);
  bool SendVoid(const PlannedEvent& planned);
  bool OpenApp(const PlannedEvent& planned);
  // Adds the member's first held code to `sale`, with a line it applies to
  // if the basket has none.
  void UseHeldCode(const MemberTrack& track, loyalty::v1::Sale& sale, size_t index) const;
  // EvaluateBasket for `sale`; sets its total and tender. A refused code is
  // taken out of the sale (and out of the member's codes unless it is still
  // good for another basket) and the basket evaluated again.
  bool Evaluate(const PlannedEvent& planned, MemberTrack& track, loyalty::v1::Sale& sale);
  void DropCodes(MemberTrack& track, loyalty::v1::Sale& sale, const grpc::Status& status);
  // After an acknowledged sale: sometimes redeems an affordable reward.
  bool MaybeRedeem(const PlannedEvent& planned, MemberTrack& track, size_t index);
  // Counts a call's attempts; on failure prints the refusal (and `hint` if
  // the credential was refused) and returns false.
  bool Check(const CallResult& result, const std::string& what, const std::string& hint = "");
  // Prints `message` as the run's refusal (the first one only); returns false.
  bool Fail(const std::string& message);
  void CountAttempts(const CallResult& result) { retries_ += result.attempts - 1; }
  void CountOutcome(const loyalty::v1::EventOutcome& outcome, const CallResult& result);
  std::string TerminalToken(int store) const;
  std::string TerminalHint(int store) const;

  const SimulateOptions& options_;
  SaleJournal& journal_;
  std::unique_ptr<loyalty::v1::AdminService::Stub> admin_;
  std::unique_ptr<loyalty::v1::PosService::Stub> pos_;
  std::unique_ptr<loyalty::v1::MemberService::Stub> members_;
  std::vector<Reward> rewards_;       // set by GetProgram
  std::vector<MemberTrack> tracks_;   // by member index
  std::mutex codes_mu_;
  std::map<std::string, std::vector<HeldCode>> codes_of_sale_;  // "store/terminal/txn" -> codes it used

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
  std::atomic<int64_t> evaluations_{0};
  std::atomic<int64_t> reevaluations_{0};
  std::atomic<int64_t> journal_sales_{0};
  std::atomic<int64_t> sales_with_offers_{0};
  std::atomic<int64_t> discounts_minor_{0};
  std::atomic<int64_t> codes_redeemed_{0};
  std::atomic<int64_t> redemptions_refused_{0};
  std::atomic<int64_t> points_spent_{0};
  std::atomic<int64_t> codes_used_{0};
  std::atomic<int64_t> codes_given_back_{0};
  std::atomic<int64_t> codes_refused_{0};
  std::atomic<int64_t> offer_listings_{0};
  std::atomic<int64_t> offers_listed_{0};
};

}  // namespace loyalty::tools
