// Unit tests of the pure earn and return arithmetic (engine/earn.h).
#include "services/loyalty/engine/earn.h"

#include <gtest/gtest.h>

namespace loyalty::engine {
namespace {

// Points are per line, rounded down: 4.99 EUR at 1 point per euro earns 4.
TEST(EarnTest, PointsPerLineRoundDown) {
  EarnRule rule{.points_per_major_unit = 1, .minor_units_per_major = 100};
  EXPECT_EQ(PointsForLine(rule, 499), 4);
  EXPECT_EQ(PointsForLine(rule, 500), 5);
  EXPECT_EQ(PointsForLine(rule, 99), 0);
  EarnRule ten{.points_per_major_unit = 10, .minor_units_per_major = 100};
  EXPECT_EQ(PointsForLine(ten, 499), 49);
  EarnRule yen{.points_per_major_unit = 1, .minor_units_per_major = 1};
  EXPECT_EQ(PointsForLine(yen, 1234), 1234);
}

// The largest valid line does not overflow.
TEST(EarnTest, LargestLineDoesNotOverflow) {
  EarnRule rule{.points_per_major_unit = kMaxPointsPerMajorUnit, .minor_units_per_major = 1};
  EXPECT_EQ(PointsForLine(rule, kMaxLineNetMinor), kMaxLineNetMinor * kMaxPointsPerMajorUnit);
}

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
