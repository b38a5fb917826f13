// server/demo.h: the embedded demo program, so `loyaltyd --demo` runs with no
// setup: demo credentials (printed at start) and a few enrolled members.
#pragma once

#include "absl/status/status.h"
#include "loyalty/internal/config.pb.h"
#include "services/loyalty/admin_operations.h"
#include "services/loyalty/engine/program.h"

namespace loyalty::server {

// Adds the demo credentials to `config` and returns the text to print.
std::string AddDemoCredentials(internal::ServerConfig& config);

// The demo program: the default tiers and ladder, plus offers of every kind
// and a rewards catalog.
engine::ProgramConfig DemoProgram(const std::string& currency);

// Enrolls the demo members (idempotent: safe on every start).
absl::Status SeedDemoMembers(AdminOperations& admin);

}  // namespace loyalty::server
