// Unit tests of the program counters' lagging figures (services/loyalty/
// counters.h): visible at once, persisted only by a flush.
#include "services/loyalty/counters.h"

#include <gtest/gtest.h>

#include "tests/support/temp_dir.h"

namespace loyalty {
namespace {

// A figure counts in memory at once and survives a reopen once flushed.
TEST(CountersTest, FiguresPersistWhenFlushed) {
  loyalty::testing::TempDir dir;
  {
    auto store = storage::Store::Open({.path = dir.Sub("db")});
    ASSERT_TRUE(store.ok());
    auto counters = std::move(*Counters::Load(**store));
    counters->AddFigure("offer-shown/a", 2);
    counters->AddFigure("offer-shown/a", 1);
    EXPECT_EQ(counters->Get("offer-shown/a"), 3);
    ASSERT_TRUE(counters->FlushFigures(**store).ok());
    counters->AddFigure("offer-shown/a", 5);  // a second flush adds only what came since
    EXPECT_EQ(counters->Get("offer-shown/a"), 8);
    ASSERT_TRUE(counters->FlushFigures(**store).ok());
    counters->AddFigure("offer-shown/b", 1);  // never flushed: lost on reopen
  }
  auto store = storage::Store::Open({.path = dir.Sub("db")});
  ASSERT_TRUE(store.ok());
  auto counters = std::move(*Counters::Load(**store));
  EXPECT_EQ(counters->Get("offer-shown/a"), 8);
  EXPECT_EQ(counters->Get("offer-shown/b"), 0);
}

}  // namespace
}  // namespace loyalty
