// tools/figures_report.h: prints the end-of-run report of
// `loyaltyctl simulate`: the program's figures (every field of
// ProgramFigures, found by reflection, so fields added later show up too)
// and the simulator's own counts, first for people, then as a
// machine-readable block:
//
//   --- machine-readable ---
//   figure members 300
//   figure members_per_tier.gold 12
//   sim points_earned 23456
//   --- end ---
#pragma once

#include <google/protobuf/message.h>

#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "tools/simulate_runner.h"

namespace loyalty::tools {

// Every field of `message`, in declaration order, as (dotted name, value)
// pairs: scalars by name, map entries as name.key (sorted by key, spaces in
// keys turned into '_'), repeated fields as name.0, name.1, .., nested
// messages as name.field. Unset scalars appear with their default value; an
// empty map or repeated field appears once with an empty value.
std::vector<std::pair<std::string, std::string>> FlattenFields(const google::protobuf::Message& message);

void PrintReport(std::ostream& out, const google::protobuf::Message& figures,
                 const std::vector<CountLine>& counts);

}  // namespace loyalty::tools
