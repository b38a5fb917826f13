// Unit tests of the pure earn and return arithmetic (engine/earn.h).
#include "services/loyalty/engine/earn.h"

#include <gtest/gtest.h>

namespace loyalty::engine {
namespace {

// Net amount is quantity times price less the line discount.
TEST(EarnTest, LineNet) { EXPECT_EQ(LineNetMinor(3, 250, 100), 650); }

// Returning units in any steps takes back exactly the line's points in total.
TEST(EarnTest, SharesOfALineAddUpToTheWhole) {
  const int64_t points = 17;
  const int32_t quantity = 3;
  int64_t taken = 0;
  for (int32_t returned = 1; returned <= quantity; ++returned) {
    const int64_t share = ShareOfLine(points, quantity, returned);
    EXPECT_GE(share, taken);
    taken = share;
  }
  EXPECT_EQ(taken, points);
  EXPECT_EQ(ShareOfLine(17, 3, 1), 5);  // floor(17/3)
  EXPECT_EQ(ShareOfLine(17, 3, 2), 11); // floor(34/3)
  EXPECT_EQ(ShareOfLine(17, 3, 0), 0);
}

}  // namespace
}  // namespace loyalty::engine
