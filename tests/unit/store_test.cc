// Unit tests of storage::Store's WAL-sync thread (storage/store.h): every
// waiter is answered once, concurrent waiters share syncs, Close answers
// what is still waiting, and buffered commits are visible at once.
#include "storage/store.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "tests/support/temp_dir.h"

namespace loyalty::storage {
namespace {

// A buffered commit is readable at once; WhenDurable answers after a sync.
TEST(StoreTest, BufferedCommitVisibleThenDurable) {
  loyalty::testing::TempDir dir;
  auto store = Store::Open({.path = dir.Sub("db")});
  ASSERT_TRUE(store.ok()) << store.status();
  WriteSet writes;
  writes.PutRaw(Cf::kMeta, "k", "v");
  ASSERT_TRUE((*store)->Commit(writes, Durability::kBuffered).ok());
  EXPECT_EQ(*(*store)->Get(Cf::kMeta, "k"), "v");
  const uint64_t syncs_before = (*store)->wal_syncs();
  std::atomic<int> answered{0};
  (*store)->WhenDurable([&](absl::Status s) {
    EXPECT_TRUE(s.ok()) << s;
    ++answered;
  });
  ASSERT_TRUE((*store)->SyncWal().ok());  // queued after the callback: answered by then
  EXPECT_EQ(answered.load(), 1);
  EXPECT_GT((*store)->wal_syncs(), syncs_before);
}

// Many threads waiting at once: each answered exactly once, in fewer syncs
// than waiters (one fsync covers everyone queued during the previous one).
TEST(StoreTest, ConcurrentWaitersShareSyncs) {
  loyalty::testing::TempDir dir;
  auto store = Store::Open({.path = dir.Sub("db")});
  ASSERT_TRUE(store.ok());
  constexpr int kThreads = 8;
  constexpr int kPerThread = 200;
  std::atomic<int> answered{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        WriteSet writes;
        writes.PutRaw(Cf::kMeta, "k" + std::to_string(t * kPerThread + i), "v");
        ASSERT_TRUE((*store)->Commit(writes, Durability::kSynced).ok());
        ++answered;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(answered.load(), kThreads * kPerThread);
  EXPECT_EQ((*store)->wal_sync_waiters(), static_cast<uint64_t>(kThreads * kPerThread));
  EXPECT_LT((*store)->wal_syncs(), (*store)->wal_sync_waiters());
}

// Close answers every waiter still queued before it closes RocksDB.
TEST(StoreTest, CloseAnswersPendingWaiters) {
  loyalty::testing::TempDir dir;
  auto store = Store::Open({.path = dir.Sub("db")});
  ASSERT_TRUE(store.ok());
  std::atomic<int> answered{0};
  for (int i = 0; i < 100; ++i) {
    WriteSet writes;
    writes.PutRaw(Cf::kMeta, "k" + std::to_string(i), "v");
    ASSERT_TRUE((*store)->Commit(writes, Durability::kBuffered).ok());
    (*store)->WhenDurable([&](absl::Status s) { answered += s.ok() ? 1 : 0; });
  }
  ASSERT_TRUE((*store)->Close().ok());
  EXPECT_EQ(answered.load(), 100);
  auto reopened = Store::Open({.path = dir.Sub("db")});
  ASSERT_TRUE(reopened.ok());
  EXPECT_EQ(*(*reopened)->Get(Cf::kMeta, "k99"), "v");
}

}  // namespace
}  // namespace loyalty::storage
