// services/loyalty/engine/earn.h: line arithmetic shared by earning and
// returns. Pure functions over plain values. (What a line earns is
// engine.h's QuoteSale: per line, rounded down, so a return can take back
// exactly what its lines earned.)
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

// The largest line value the engine accepts; validation's limits keep every
// line below it (9,999 units x 1,000,000.00).
inline constexpr int64_t kMaxLineNetMinor = 9999LL * 100'000'000LL;

// quantity * unit_price - discount. Callers validate inputs first.
int64_t LineNetMinor(int32_t quantity, int64_t unit_price_minor, int64_t discount_minor);

// What a share of a line is worth when `returned_total` of `quantity` units
// have been returned so far: floor(whole * returned_total / quantity).
int64_t ShareOfLine(int64_t whole, int32_t quantity, int32_t returned_total);

}  // namespace loyalty::engine

