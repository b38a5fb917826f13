// tools/simulate_runner.cc: sends the plan's enrollments and events to
// loyaltyd (see simulate_runner.h), with progress on stderr.
#include "tools/simulate_runner.h"

#include <iostream>

#include "base/str_cat.h"
#include "tools/parallel.h"
#include "tools/progress.h"

namespace loyalty::tools {
namespace {

namespace v1 = loyalty::v1;

const v1::TransactionRef& RefOf(const v1::BacklogEvent& event) {
  if (event.has_sale()) return event.sale().ref();
  if (event.has_return_()) return event.return_().ref();
  return event.void_().ref();
}

// "RecordSale store-1/t-2/sim1-s0000042 of 2025-03-04"
std::string Describe(const PlannedEvent& planned) {
  const char* method = planned.event.has_sale()      ? "RecordSale"
                       : planned.event.has_return_() ? "RecordReturn"
                                                     : "VoidSale";
  const auto& ref = RefOf(planned.event);
  return loyalty::StrCat(method, " ", ref.store_id(), "/", ref.terminal_id(), "/", ref.transaction_id(),
                         " of ", UtcDate(planned.at_seconds));
}

bool IsAuthProblem(grpc::StatusCode code) {
  return code == grpc::StatusCode::UNAUTHENTICATED || code == grpc::StatusCode::PERMISSION_DENIED;
}

}  // namespace

SimulationRunner::SimulationRunner(const SimulateOptions& options, std::shared_ptr<grpc::Channel> channel)
    : options_(options),
      admin_(v1::AdminService::NewStub(channel)),
      pos_(v1::PosService::NewStub(channel)) {}

bool SimulationRunner::Check(const CallResult& result, const std::string& what, const std::string& hint) {
  retries_ += result.attempts - 1;
  if (result.status.ok()) return true;
  if (!refusal_printed_.exchange(true)) {
    std::cerr << "loyaltyctl: " << what << " failed";
    if (result.attempts > 1) std::cerr << " after " << result.attempts << " attempts";
    std::cerr << ": " << StatusCodeName(result.status.error_code()) << ": "
              << result.status.error_message() << std::endl;
    if (!hint.empty() && IsAuthProblem(result.status.error_code())) {
      std::cerr << "loyaltyctl: (" << hint << ")" << std::endl;
    }
    if (result.status.error_code() == grpc::StatusCode::ALREADY_EXISTS) {
      std::cerr << "loyaltyctl: (transaction ids depend only on --seed, and event times on the day:"
                << " this server already holds a run with seed " << options_.seed
                << " from another day; use another --seed or a fresh data directory)" << std::endl;
    }
  }
  return false;
}

bool SimulationRunner::GetProgram(v1::Program& program) {
  const auto result = CallWithRetry(options_.admin_token, [&](grpc::ClientContext* context) {
    return admin_->GetProgram(context, v1::GetProgramRequest(), &program);
  });
  return Check(result, loyalty::StrCat("AdminService.GetProgram on ", options_.target),
               "is --admin-token an admin credential of this loyaltyd?");
}

bool SimulationRunner::GetFigures(v1::ProgramFigures& figures) {
  const auto result = CallWithRetry(options_.admin_token, [&](grpc::ClientContext* context) {
    return admin_->GetFigures(context, v1::GetFiguresRequest(), &figures);
  });
  return Check(result, "AdminService.GetFigures");
}

bool SimulationRunner::Enroll(const std::vector<v1::EnrollMemberRequest>& enrollments) {
  ProgressReporter progress([&](double) {
    return loyalty::StrCat("simulate: enrolled ", members_enrolled_.load(), "/", enrollments.size(),
                           " members");
  });
  return ForEachInOrder(enrollments.size(), options_.concurrency, [&](size_t i) {
    v1::EnrollMemberResponse response;
    const auto result = CallWithRetry(options_.admin_token, [&](grpc::ClientContext* context) {
      return admin_->EnrollMember(context, enrollments[i], &response);
    });
    if (!Check(result, "AdminService.EnrollMember " + enrollments[i].member_id())) return false;
    ++members_enrolled_;
    if (response.created()) ++members_created_;
    return true;
  });
}

bool SimulationRunner::SendEvents(const std::vector<PlannedEvent>& events) {
  CompletionBoard board(events.size());
  std::atomic<size_t> latest_started{0};  // for the progress line; tasks start in order
  int64_t acknowledged_at_last_line = 0;
  ProgressReporter progress([&](double seconds) {
    const int64_t acknowledged = events_acknowledged_.load();
    const int64_t per_second = static_cast<int64_t>((acknowledged - acknowledged_at_last_line) / seconds);
    acknowledged_at_last_line = acknowledged;
    const int64_t simulated_day = events.empty() ? 0 : events[latest_started.load()].at_seconds;
    return loyalty::StrCat("simulate: at ", UtcDate(simulated_day), "  ", acknowledged, "/", events.size(),
                           " events sent  ", per_second, " events/s");
  });
  return ForEachInOrder(events.size(), options_.concurrency, [&](size_t i) {
    latest_started.store(i);
    const int wait_for = events[i].wait_for;
    if (wait_for >= 0 && !board.WaitDone(static_cast<size_t>(wait_for))) return false;
    if (!SendEvent(events[i])) {
      board.Abandon();
      return false;
    }
    board.MarkDone(i);
    return true;
  });
}

bool SimulationRunner::SendEvent(const PlannedEvent& planned) {
  if (planned.event.has_sale()) return SendSale(planned);
  if (planned.event.has_return_()) return SendReturn(planned);
  return SendVoid(planned);
}

bool SimulationRunner::SendSale(const PlannedEvent& planned) {
  v1::RecordSaleRequest request;
  *request.mutable_sale() = planned.event.sale();
  v1::EventOutcome outcome;
  const auto result = CallWithRetry(TerminalToken(planned.store), [&](grpc::ClientContext* context) {
    return pos_->RecordSale(context, request, &outcome);
  });
  if (!Check(result, Describe(planned), TerminalHint(planned.store))) return false;
  ++sales_;
  if (!request.sale().has_member()) ++anonymous_sales_;
  CountOutcome(outcome, result);
  return true;
}

bool SimulationRunner::SendReturn(const PlannedEvent& planned) {
  v1::RecordReturnRequest request;
  *request.mutable_return_() = planned.event.return_();
  v1::EventOutcome outcome;
  const auto result = CallWithRetry(TerminalToken(planned.store), [&](grpc::ClientContext* context) {
    return pos_->RecordReturn(context, request, &outcome);
  });
  if (!Check(result, Describe(planned), TerminalHint(planned.store))) return false;
  ++returns_;
  CountOutcome(outcome, result);
  return true;
}

bool SimulationRunner::SendVoid(const PlannedEvent& planned) {
  v1::VoidSaleRequest request;
  *request.mutable_void_() = planned.event.void_();
  v1::EventOutcome outcome;
  const auto result = CallWithRetry(TerminalToken(planned.store), [&](grpc::ClientContext* context) {
    return pos_->VoidSale(context, request, &outcome);
  });
  if (!Check(result, Describe(planned), TerminalHint(planned.store))) return false;
  ++voids_;
  CountOutcome(outcome, result);
  return true;
}

void SimulationRunner::CountOutcome(const v1::EventOutcome& outcome, const CallResult& result) {
  points_earned_ += outcome.points_earned();
  points_reversed_ += outcome.points_reversed();
  if (result.replayed) ++replays_;
  ++events_acknowledged_;
}

std::string SimulationRunner::TerminalToken(int store) const {
  return loyalty::StrCat(options_.terminal_token_prefix, store);
}

std::string SimulationRunner::TerminalHint(int store) const {
  return loyalty::StrCat("store-", store, " calls with --terminal-token-prefix followed by '", store,
                         "'; is that a terminal credential of store-", store, " in this loyaltyd?");
}

std::vector<CountLine> SimulationRunner::Counts() const {
  return {
      {"members_enrolled", "members enrolled", members_enrolled_.load()},
      {"members_created", "  of them new", members_created_.load()},
      {"events", "events acknowledged", events_acknowledged_.load()},
      {"sales", "sales", sales_.load()},
      {"anonymous_sales", "  of them anonymous", anonymous_sales_.load()},
      {"returns", "returns", returns_.load()},
      {"voids", "voids", voids_.load()},
      {"points_earned", "points earned (acknowledged)", points_earned_.load()},
      {"points_reversed", "points reversed (acknowledged)", points_reversed_.load()},
      {"points_net", "points earned - reversed", points_earned_.load() - points_reversed_.load()},
      {"replays", "replayed answers", replays_.load()},
      {"retries", "retried calls", retries_.load()},
  };
}

}  // namespace loyalty::tools
