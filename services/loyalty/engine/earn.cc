#include "services/loyalty/engine/earn.h"

#include <cassert>

namespace loyalty::engine {

int64_t LineNetMinor(int32_t quantity, int64_t unit_price_minor, int64_t discount_minor) {
  assert(quantity > 0 && unit_price_minor >= 0 && discount_minor >= 0);
  const int64_t gross = static_cast<int64_t>(quantity) * unit_price_minor;
  assert(discount_minor <= gross);
  return gross - discount_minor;
}

int64_t ShareOfLine(int64_t whole, int32_t quantity, int32_t returned_total) {
  assert(quantity > 0 && returned_total >= 0 && returned_total <= quantity);
  assert(whole >= 0);
  if (returned_total == quantity) return whole;
  const __int128 share = static_cast<__int128>(whole) * returned_total / quantity;
  return static_cast<int64_t>(share);
}

}  // namespace loyalty::engine
