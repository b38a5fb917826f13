// tests/support/programs.h: programs for tests that check one rule at a time.
#pragma once

#include "services/loyalty/engine/program.h"

namespace loyalty::testing {

// 1 point per 1.00 EUR, no tiers, no stages, no pending, no expiry: what a
// sale earns is exactly floor(net / 100) per line.
inline engine::ProgramConfig PlainProgram() {
  engine::ProgramConfig p;
  p.expiry_days = 0;
  return p;
}

}  // namespace loyalty::testing
