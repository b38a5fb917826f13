// AttemptLimiter: attempts count as failures from the start (a burst cannot
// pass before the first failure is counted), successes give theirs back,
// the window forgets, and the key limit holds.
#include "services/common/attempt_limiter.h"

#include <gtest/gtest.h>

namespace loyalty {
namespace {

TEST(AttemptLimiterTest, ABurstOfAttemptsIsLimitedBeforeAnyAnswer) {
  AttemptLimiter limiter(5, 600, 100);
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(limiter.Begin("m-1", 1000, "claims").ok()) << i;
  const absl::Status sixth = limiter.Begin("m-1", 1000, "claims");
  EXPECT_TRUE(absl::IsResourceExhausted(sixth));
  EXPECT_EQ(sixth.message(), "claims: 5 failed attempts within 600 s; try again in 600 s");
  EXPECT_TRUE(limiter.Begin("m-2", 1000, "claims").ok()) << "another key is not limited";
  limiter.Succeeded("m-1");
  EXPECT_TRUE(limiter.Begin("m-1", 1000, "claims").ok()) << "a success gives its attempt back";
  EXPECT_FALSE(limiter.Begin("m-1", 1599, "claims").ok());
  EXPECT_TRUE(limiter.Begin("m-1", 1600, "claims").ok()) << "the window passed";
}

TEST(AttemptLimiterTest, KeysPastTheLimitAreForgotten) {
  AttemptLimiter limiter(1, 600, 3);
  for (int i = 0; i < 10; ++i) {
    const std::string key = "m-" + std::to_string(i);
    EXPECT_TRUE(limiter.Begin(key, 1000 + i, "claims").ok());
    limiter.Succeeded(key);  // leaves no empty entry behind
    EXPECT_TRUE(limiter.Begin(key, 1000 + i, "claims").ok());
  }
  // m-0's failure was forgotten to keep 3 keys; m-9's is remembered.
  EXPECT_TRUE(limiter.Begin("m-0", 1100, "claims").ok());
  EXPECT_FALSE(limiter.Begin("m-9", 1100, "claims").ok());
}

}  // namespace
}  // namespace loyalty
