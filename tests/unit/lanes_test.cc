// Unit tests of the member lanes (services/common/lanes.h): per-key order, no
// two tasks of one lane at once, inline runs, and Stop waiting for work.
#include "services/common/lanes.h"

#include "base/status_payloads.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace loyalty {
namespace {

// Tasks given to one key run in the order given, one at a time, whether they
// come through Run or Post and from however many threads.
TEST(LanesTest, OneKeyRunsInOrderAndNeverConcurrently) {
  constexpr int kThreads = 4;
  constexpr int kPerThread = 2000;
  Lanes lanes(2, 8);
  std::atomic<int> running{0};
  std::atomic<bool> overlapped{false};
  std::mutex mu;
  std::vector<std::vector<int>> seen(kThreads);  // per producer, in run order
  std::vector<std::thread> producers;
  for (int t = 0; t < kThreads; ++t) {
    producers.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        auto task = [&, t, i] {
          if (running.fetch_add(1) != 0) overlapped = true;
          {
            std::lock_guard<std::mutex> lock(mu);
            seen[t].push_back(i);
          }
          running.fetch_sub(1);
        };
        if (i % 2 == 0) {
          lanes.Run("member-1", task);
        } else {
          lanes.Post("member-1", task);
        }
      }
    });
  }
  for (auto& p : producers) p.join();
  lanes.Stop();
  EXPECT_FALSE(overlapped);
  for (int t = 0; t < kThreads; ++t) {
    ASSERT_EQ(seen[t].size(), static_cast<size_t>(kPerThread));
    for (int i = 0; i < kPerThread; ++i) ASSERT_EQ(seen[t][i], i) << "producer " << t;
  }
}

// Run on an idle lane runs the task on the caller's thread, before returning.
TEST(LanesTest, RunOnIdleLaneRunsInline) {
  Lanes lanes(1, 4);
  std::thread::id ran_on;
  lanes.Run("m", [&] { ran_on = std::this_thread::get_id(); });
  EXPECT_EQ(ran_on, std::this_thread::get_id());
}

// A task may give work to its own lane (it runs after it) and to others.
TEST(LanesTest, TasksMayGiveWorkToLanes) {
  Lanes lanes(2, 4);
  std::vector<std::string> order;
  std::mutex mu;
  auto note = [&](const std::string& s) {
    std::lock_guard<std::mutex> lock(mu);
    order.push_back(s);
  };
  lanes.Run("a", [&] {
    lanes.Run("a", [&] { note("a2"); });  // same lane: queued behind this task
    note("a1");
  });
  lanes.Stop();
  ASSERT_EQ(order.size(), 2u);
  EXPECT_EQ(order[0], "a1");
  EXPECT_EQ(order[1], "a2");
}

// Stop returns only after every posted task (and what those post) ran.
TEST(LanesTest, StopWaitsForPostedWork) {
  Lanes lanes(2, 16);
  std::atomic<int> done{0};
  for (int i = 0; i < 1000; ++i) {
    lanes.Post("k" + std::to_string(i % 50), [&, i] {
      if (i % 10 == 0) lanes.Post("other", [&] { ++done; });
      ++done;
    });
  }
  lanes.Stop();
  EXPECT_EQ(done.load(), 1100);
}

// Back-pressure: past max_queued_tasks waiting, Admit refuses with
// UNAVAILABLE, a retry hint and the limit's name; once the lanes drain it
// admits again. Tasks already given still run.
TEST(LanesTest, AdmitRefusesPastTheQueueLimitUntilTheLanesDrain) {
  Lanes lanes(1, 4, 3);
  EXPECT_TRUE(lanes.Admit().ok());
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::atomic<int> ran{0};
  lanes.Post("m-1", [released, &ran] { released.wait(); ++ran; });  // the one pool thread waits here
  while (lanes.queued_tasks() != 0) std::this_thread::yield();       // it is running, not queued
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(lanes.Admit().ok()) << i;
    lanes.Post("m-" + std::to_string(i + 2), [&ran] { ++ran; });
  }
  EXPECT_EQ(lanes.queued_tasks(), 3u);
  const absl::Status refused = lanes.Admit();
  EXPECT_TRUE(absl::IsUnavailable(refused)) << refused;
  EXPECT_EQ(refused.message(), "server busy: 3 events wait in the member lanes (lane_queue_limit 3); retry shortly");
  EXPECT_GT(RetryAfterMs(refused), 0);
  EXPECT_EQ(lanes.refusals(), 1u);
  release.set_value();
  lanes.Stop();
  EXPECT_EQ(ran.load(), 4);
  EXPECT_EQ(lanes.queued_tasks(), 0u);
  EXPECT_TRUE(lanes.Admit().ok());
}

}  // namespace
}  // namespace loyalty
