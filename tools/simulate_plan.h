// tools/simulate_plan.h: the deterministic plan of a simulation: which
// members enroll, and every sale, return and void of the simulated period,
// in time order, as ready-to-send loyalty.v1 messages, with the moments some
// members open the app (to see their personal offers).
//
// Pure: no gRPC, no clock. Everything follows from the options and the
// period's end, so the same seed gives the same members, baskets and
// transaction ids.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "loyalty/v1/admin.pb.h"
#include "loyalty/v1/pos.pb.h"
#include "tools/simulate_options.h"

namespace loyalty::tools {

// One sale, return or void, with what the sender needs around it; or a
// member opening the app (`event` unset).
struct PlannedEvent {
  int64_t at_seconds = 0;         // occurred_at, Unix seconds
  int store = 0;                  // 1..stores: its terminal token is prefix + store (0: app)
  int member_index = -1;          // 0-based; -1: anonymous (and its return or void)
  std::string member_id;          // empty when anonymous
  // Index (in SimulationPlan::events) of an event that must be acknowledged
  // before this one is sent: the same member's previous event, or, for a
  // return or void of an anonymous sale, that sale. -1: none.
  int wait_for = -1;
  loyalty::v1::BacklogEvent event;  // exactly one of sale, return, void; unset: app opening

  bool IsAppOpening() const { return event.event_case() == loyalty::v1::BacklogEvent::EVENT_NOT_SET; }
};

struct SimulationPlan {
  int64_t period_start_seconds = 0;
  int64_t period_end_seconds = 0;
  std::vector<loyalty::v1::EnrollMemberRequest> enrollments;
  std::vector<PlannedEvent> events;  // sorted by time; includes the app openings
  int64_t app_openings = 0;          // how many of `events` are app openings
};

// Plans a simulation of `options.months` months ending at
// `period_end_seconds` (Unix seconds).
SimulationPlan MakePlan(const SimulateOptions& options, int64_t period_end_seconds);

// The start of the current UTC day: the end of the simulated period. Every
// event is at or before it, so none is in the future, and a run on the same
// day with the same seed sends exactly the same events again.
int64_t StartOfTodayUtc();

// A line of one unit of a catalogue product of `category` (the `n`-th of its
// products, cyclically), or nullopt if the catalogue has no such category.
// The simulator adds one to a basket for the member's reward code.
std::optional<loyalty::v1::LineItem> CatalogueLine(const std::string& category, uint64_t n);

// "2025-03-14": the UTC date of Unix time `seconds`.
std::string UtcDate(int64_t seconds);

}  // namespace loyalty::tools
