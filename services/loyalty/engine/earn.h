// services/loyalty/engine/earn.h: what a sale earns and what a return takes
// back. Pure functions over plain values: no gRPC, no RocksDB, no clock.
//
// Rounding rule: points are earned per line and rounded down,
//   line_points = floor(line_net_minor * points_per_major_unit / minor_units_per_major)
// so a return can take back exactly what its lines earned.
//
// Return rule: returning units of a line takes back the share of that line's
// points that the cumulative returned quantity stands for, rounded down, minus
// what earlier returns of the line already took back:
//   reverse = floor(line_points * returned_total / quantity) - reversed_before
// Returning every unit, in any number of steps, takes back exactly line_points.
#pragma once

#include <cstdint>
#include <string>

namespace loyalty::engine {

struct EarnRule {
  int64_t points_per_major_unit = 1;   // points per 1.00 of currency
  int64_t minor_units_per_major = 100;  // 100 for EUR/USD, 1 for JPY
};

// The largest line value the engine accepts; validation enforces the limits
// that keep every product below under 2^63.
inline constexpr int64_t kMaxLineNetMinor = 9999LL * 100'000'000LL;
inline constexpr int64_t kMaxPointsPerMajorUnit = 1000;

// quantity * unit_price - discount. Callers validate inputs first.
int64_t LineNetMinor(int32_t quantity, int64_t unit_price_minor, int64_t discount_minor);

// Points one line earns under `rule` (rounded down, never negative).
int64_t PointsForLine(const EarnRule& rule, int64_t line_net_minor);

// What a share of a line is worth when `returned_total` of `quantity` units
// have been returned so far: floor(whole * returned_total / quantity).
int64_t ShareOfLine(int64_t whole, int32_t quantity, int32_t returned_total);

}  // namespace loyalty::engine

namespace loyalty::engine {

// The program's rules as the engine sees them. Grows with the engine issue
// (tiers, multipliers, promotions, expiry).
struct ProgramRules {
  std::string currency = "EUR";
  EarnRule earn;
};

}  // namespace loyalty::engine
