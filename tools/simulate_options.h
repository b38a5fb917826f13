// tools/simulate_options.h: the flags of `loyaltyctl simulate` and their
// parsing and range checks.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>

namespace loyalty::tools {

struct SimulateOptions {
  std::string target;                 // loyaltyd's gRPC address, HOST:PORT
  std::string admin_token;            // for AdminService (enroll, figures)
  std::string terminal_token_prefix;  // store k's terminal token is prefix + k
  int stores = 4;                     // store ids "store-1".."store-N"
  int members = 300;                  // member ids "sim-m-000001"..
  int months = 6;                     // simulated period, ending today
  uint64_t seed = 1;                  // same seed, same plan and transaction ids
  int concurrency = 16;               // parallel callers
  double return_share_percent = 3.0;  // share of sales followed by a return
  // If set: a file recording each member sale as sent (its total depends on
  // the loyalty discounts of that moment); a later run with the same file
  // sends the same sales again, so that they are answered as replays.
  std::string journal;
};

// The usage text of `loyaltyctl simulate`.
std::string SimulateUsage();

// Parses the arguments after "simulate" (`--flag value` or `--flag=value`).
// On a bad or missing flag returns nullopt and sets `error`.
std::optional<SimulateOptions> ParseSimulateOptions(std::span<const std::string> args,
                                                    std::string& error);

}  // namespace loyalty::tools
