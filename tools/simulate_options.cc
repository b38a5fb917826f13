// tools/simulate_options.cc: parses and checks the flags of
// `loyaltyctl simulate` (see simulate_options.h).
#include "tools/simulate_options.h"

#include <charconv>
#include <cstdlib>
#include <functional>
#include <map>
#include <utility>

#include "base/str_cat.h"

namespace loyalty::tools {
namespace {

// Parses a whole decimal integer in [min, max] into `out`.
template <class Int>
bool ParseInt(const std::string& text, Int min, Int max, Int& out) {
  Int value{};
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return false;
  if (value < min || value > max) return false;
  out = value;
  return true;
}

bool ParsePercent(const std::string& text, double& out) {
  if (text.empty()) return false;
  char* end = nullptr;
  const double value = std::strtod(text.c_str(), &end);
  if (end != text.c_str() + text.size() || !(value >= 0.0 && value <= 50.0)) return false;
  out = value;
  return true;
}

// One flag: how to store its value, and what the value must be.
struct FlagSpec {
  std::function<bool(const std::string&)> store;
  const char* expected;
};

std::map<std::string, FlagSpec> FlagsOf(SimulateOptions& o) {
  auto text = [](std::string& field) {
    return [&field](const std::string& v) { field = v; return !v.empty(); };
  };
  auto integer = [](int& field, int min, int max) {
    return [&field, min, max](const std::string& v) { return ParseInt(v, min, max, field); };
  };
  return {
      {"target", {text(o.target), "HOST:PORT"}},
      {"admin-token", {text(o.admin_token), "a non-empty token"}},
      {"terminal-token-prefix", {text(o.terminal_token_prefix), "a non-empty prefix"}},
      {"stores", {integer(o.stores, 1, 999), "1..999"}},
      {"members", {integer(o.members, 1, 999999), "1..999999"}},
      // 12 months is 365 days: within the server's 400-day limit on event age.
      {"months", {integer(o.months, 1, 12), "1..12"}},
      {"seed", {[&o](const std::string& v) { return ParseInt<uint64_t>(v, 0, UINT64_MAX, o.seed); },
                "an unsigned 64-bit integer"}},
      {"concurrency", {integer(o.concurrency, 1, 256), "1..256"}},
      {"return-share", {[&o](const std::string& v) { return ParsePercent(v, o.return_share_percent); },
                        "a percentage 0..50"}},
      {"journal", {text(o.journal), "a file path"}},
  };
}

}  // namespace

std::string SimulateUsage() {
  return "usage: loyaltyctl simulate --target HOST:PORT --admin-token TOKEN\n"
         "                          --terminal-token-prefix PREFIX\n"
         "                          [--stores 4] [--members 300] [--months 6] [--seed 1]\n"
         "                          [--concurrency 16] [--return-share 3] [--journal FILE]\n"
         "\n"
         "Acts as a retail chain's terminals against a running loyaltyd: enrolls\n"
         "members sim-m-000001.., then sends the sales, returns and voids of the\n"
         "last --months months (up to today 00:00 UTC) in time order, and prints\n"
         "the program's figures. Store k (store-k) uses the terminal token\n"
         "PREFIX<k>.\n"
         "\n"
         "Members' sales go through PosService.EvaluateBasket first and are\n"
         "recorded at the total it gives (less the loyalty discounts). Members\n"
         "who can afford a reward sometimes redeem it (AdminService.GetProgram\n"
         "lists the rewards) and use the code on their next visit, buying an item\n"
         "it applies to; a fifth of the members open the app every few days\n"
         "(MemberService.ListOffers). Redemptions and app openings use the admin\n"
         "token.\n"
         "\n"
         "The same --seed gives the same members, baskets and transaction ids.\n"
         "Run again on the same day, every event is a replay, except member sales\n"
         "whose discounts have changed since (an offer used up, a code already\n"
         "used): give both runs the same --journal FILE, which records each member\n"
         "sale as sent, to have those sent unchanged too.\n";
}

std::optional<SimulateOptions> ParseSimulateOptions(std::span<const std::string> args,
                                                    std::string& error) {
  SimulateOptions options;
  const auto flags = FlagsOf(options);
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg.rfind("--", 0) != 0) {
      error = loyalty::StrCat("unexpected argument '", arg, "'");
      return std::nullopt;
    }
    const size_t equals = arg.find('=');
    const std::string name = arg.substr(2, equals == std::string::npos ? std::string::npos : equals - 2);
    const auto flag = flags.find(name);
    if (flag == flags.end()) {
      error = loyalty::StrCat("unknown flag --", name);
      return std::nullopt;
    }
    std::string value;
    if (equals != std::string::npos) {
      value = arg.substr(equals + 1);
    } else if (i + 1 < args.size()) {
      value = args[++i];
    } else {
      error = loyalty::StrCat("--", name, " needs a value (", flag->second.expected, ")");
      return std::nullopt;
    }
    if (!flag->second.store(value)) {
      error = loyalty::StrCat("--", name, ": expected ", flag->second.expected, ", got '", value, "'");
      return std::nullopt;
    }
  }
  const std::pair<const char*, const std::string*> required_flags[] = {
      {"target", &options.target},
      {"admin-token", &options.admin_token},
      {"terminal-token-prefix", &options.terminal_token_prefix}};
  for (const auto& [name, value] : required_flags) {
    if (value->empty()) {
      error = loyalty::StrCat("--", name, " is required");
      return std::nullopt;
    }
  }
  return options;
}

}  // namespace loyalty::tools
