#include "services/common/token_buckets.h"

#include <gtest/gtest.h>

namespace loyalty {
namespace {

using Clock = TokenBuckets::Clock;
using std::chrono::milliseconds;

TEST(TokenBucketsTest, BurstThenOnePerIntervalWithARetryHint) {
  TokenBuckets buckets(RateLimit{10, 3}, 100);
  const Clock::time_point t0 = Clock::now();
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(buckets.Take("a", "calls of a", t0).ok()) << i;
  absl::Status refused = buckets.Take("a", "calls of a", t0);
  ASSERT_TRUE(absl::IsResourceExhausted(refused)) << refused;
  EXPECT_NE(refused.message().find("calls of a: at most 10 a second (bursts of 3); retry in 100 ms"), std::string::npos)
      << refused.message();
  EXPECT_EQ(RetryAfterMs(refused), 100);
  // Another key has its own bucket.
  EXPECT_TRUE(buckets.Take("b", "calls of b", t0).ok());
  // 50 ms refill half a token: still refused, with the rest of the wait.
  refused = buckets.Take("a", "calls of a", t0 + milliseconds(50));
  ASSERT_TRUE(absl::IsResourceExhausted(refused));
  EXPECT_EQ(RetryAfterMs(refused), 50);
  EXPECT_TRUE(buckets.Take("a", "calls of a", t0 + milliseconds(100)).ok());
  // A quiet key saves up no more than its burst.
  const Clock::time_point later = t0 + std::chrono::hours(1);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(buckets.Take("a", "calls of a", later).ok()) << i;
  EXPECT_FALSE(buckets.Take("a", "calls of a", later).ok());
}

TEST(TokenBucketsTest, UnlimitedTakesEverything) {
  TokenBuckets buckets(RateLimit{0, 0}, 100);
  for (int i = 0; i < 10'000; ++i) ASSERT_TRUE(buckets.Take("a", "x").ok());
  EXPECT_EQ(buckets.size(), 0u);
}

TEST(TokenBucketsTest, KeysAreBoundedAndFullBucketsGoFirst) {
  TokenBuckets buckets(RateLimit{1, 2}, 16 * 4);  // 4 a shard
  const Clock::time_point t0 = Clock::now();
  for (int i = 0; i < 10'000; ++i) ASSERT_TRUE(buckets.Take("k" + std::to_string(i), "x", t0).ok());
  EXPECT_LE(buckets.size(), 16u * 4);
  // Still a limit for the key being used.
  EXPECT_TRUE(buckets.Take("drained", "x", t0).ok());
  EXPECT_TRUE(buckets.Take("drained", "x", t0).ok());
  EXPECT_FALSE(buckets.Take("drained", "x", t0).ok());
  EXPECT_LE(buckets.size(), 16u * 4);
}

}  // namespace
}  // namespace loyalty
