// tools/simulate_plan.h: the deterministic plan of a simulation: which
// members enroll, and every sale, return and void of the simulated period,
// in time order, as ready-to-send loyalty.v1 messages.
//
// Pure: no gRPC, no clock. Everything follows from the options and the
// period's end, so the same seed gives the same members, baskets and
// transaction ids.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "loyalty/v1/admin.pb.h"
#include "loyalty/v1/pos.pb.h"
#include "tools/simulate_options.h"

namespace loyalty::tools {

// One sale, return or void, with what the sender needs around it.
struct PlannedEvent {
  int64_t at_seconds = 0;         // occurred_at, Unix seconds
  int store = 0;                  // 1..stores: its terminal token is prefix + store
  // Index (in SimulationPlan::events) of an event that must be acknowledged
  // before this one is sent: the same member's previous event, or, for a
  // return or void of an anonymous sale, that sale. -1: none.
  int wait_for = -1;
  loyalty::v1::BacklogEvent event;  // exactly one of sale, return, void
};

struct SimulationPlan {
  int64_t period_start_seconds = 0;
  int64_t period_end_seconds = 0;
  std::vector<loyalty::v1::EnrollMemberRequest> enrollments;
  std::vector<PlannedEvent> events;  // sorted by time
};

// Plans a simulation of `options.months` months ending at
// `period_end_seconds` (Unix seconds).
SimulationPlan MakePlan(const SimulateOptions& options, int64_t period_end_seconds);

// The start of the current UTC day: the end of the simulated period. Every
// event is at or before it, so none is in the future, and a run on the same
// day with the same seed sends exactly the same events again.
int64_t StartOfTodayUtc();

// "2025-03-14": the UTC date of Unix time `seconds`.
std::string UtcDate(int64_t seconds);

}  // namespace loyalty::tools
