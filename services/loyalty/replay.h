// services/loyalty/replay.h: rebuilds member state from the stored event log.
//
// Every state change is an event in CF "events" (enrolments, sales, returns,
// voids, adjustments, expiry runs), recorded with the time it was applied and
// the program version it was applied with. Replaying them in sequence order
// through the same code as live ingest (event_apply.h, the engine) gives the
// same member states: VerifyLedger compares them with the stored ones. With a
// proposed program in place of the recorded versions, the same replay is the
// dry run of a configuration change.
//
// Memory: holds every member's state and every sale's state while it runs.
#pragma once

#include <functional>
#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "services/loyalty/engine/member.h"
#include "services/loyalty/program_store.h"
#include "storage/store.h"

namespace loyalty {

struct ReplayResult {
  std::map<std::string, engine::MemberState> members;
  uint64_t events = 0;
  uint64_t last_seq = 0;
};

// The program to apply an event recorded with `version` with.
using ProgramFor = std::function<absl::StatusOr<ProgramPtr>(uint64_t version)>;

// `what_if`: replaying under a program the events were not recorded with (a
// dry run); recorded totals are accepted as they are.
absl::StatusOr<ReplayResult> ReplayEventLog(const storage::Store& store,
                                            const storage::Store::Snapshot* snapshot,
                                            const ProgramFor& program_for, bool what_if = false);

}  // namespace loyalty
