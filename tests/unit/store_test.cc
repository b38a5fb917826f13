// Unit tests of storage::Store's WAL-sync thread (storage/store.h): every
// waiter is answered once, concurrent waiters share syncs, Close answers
// what is still waiting, buffered commits are visible at once, and a failed
// WAL sync is never followed by an acknowledgement.
#include "services/loyalty/member_updates.h"
#include "storage/store.h"
#include "storage/scans.h"
#include "base/status_payloads.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <thread>
#include <vector>

#include <rocksdb/env.h>
#include <rocksdb/file_system.h>

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

// A file system whose WAL files (*.log) fail to sync while `fail_syncs` is
// set, as a disk does when fsync reports EIO.
class FailingWalSyncFs : public rocksdb::FileSystemWrapper {
 public:
  FailingWalSyncFs() : FileSystemWrapper(rocksdb::FileSystem::Default()) {}
  const char* Name() const override { return "FailingWalSyncFs"; }

  rocksdb::IOStatus NewWritableFile(const std::string& name, const rocksdb::FileOptions& options,
                                    std::unique_ptr<rocksdb::FSWritableFile>* file,
                                    rocksdb::IODebugContext* dbg) override {
    rocksdb::IOStatus s = target()->NewWritableFile(name, options, file, dbg);
    if (s.ok() && name.size() > 4 && name.compare(name.size() - 4, 4, ".log") == 0) {
      *file = std::make_unique<WalFile>(std::move(*file), this);
    }
    return s;
  }

  std::atomic<bool> fail_syncs{false};
  std::atomic<int> failed_syncs{0};

 private:
  class WalFile : public rocksdb::FSWritableFileOwnerWrapper {
   public:
    WalFile(std::unique_ptr<rocksdb::FSWritableFile> file, FailingWalSyncFs* fs)
        : FSWritableFileOwnerWrapper(std::move(file)), fs_(fs) {}
    rocksdb::IOStatus Sync(const rocksdb::IOOptions& o, rocksdb::IODebugContext* d) override {
      return Failed() ? rocksdb::IOStatus::IOError("injected fsync failure") : FSWritableFileOwnerWrapper::Sync(o, d);
    }
    rocksdb::IOStatus Fsync(const rocksdb::IOOptions& o, rocksdb::IODebugContext* d) override {
      return Failed() ? rocksdb::IOStatus::IOError("injected fsync failure") : FSWritableFileOwnerWrapper::Fsync(o, d);
    }
    rocksdb::IOStatus RangeSync(uint64_t offset, uint64_t n, const rocksdb::IOOptions& o,
                                rocksdb::IODebugContext* d) override {
      return Failed() ? rocksdb::IOStatus::IOError("injected fsync failure")
                      : FSWritableFileOwnerWrapper::RangeSync(offset, n, o, d);
    }

   private:
    bool Failed() {
      if (!fs_->fail_syncs.load()) return false;
      fs_->failed_syncs.fetch_add(1);
      return true;
    }
    FailingWalSyncFs* fs_;
  };
};

// Once a WAL sync failed, no later sync may acknowledge anything, even when
// the disk's next fsync reports success: after a failed fsync the kernel may
// have dropped the dirty pages, so a later "good" fsync proves nothing about
// the commits before it. Two layers hold this: RocksDB (7.8) stops accepting
// writes and syncs after a failed WAL sync, and the Store keeps the first
// failure and answers every later waiter with it. The test checks the
// contract; it fails if the Store acknowledges after the failure (checked by
// answering every waiter OK: four expectations fail).
TEST(StoreTest, FailedWalSyncIsNeverFollowedByAnAcknowledgement) {
  loyalty::testing::TempDir dir;
  auto fs = std::make_shared<FailingWalSyncFs>();
  std::unique_ptr<rocksdb::Env> env = rocksdb::NewCompositeEnv(fs);
  auto store = Store::Open({.path = dir.Sub("db"), .env = env.get()});
  ASSERT_TRUE(store.ok()) << store.status();

  WriteSet before;
  before.PutRaw(Cf::kMeta, "before", "v");
  ASSERT_TRUE((*store)->Commit(before, Durability::kSynced).ok());  // the disk works

  fs->fail_syncs = true;
  WriteSet lost;
  lost.PutRaw(Cf::kMeta, "lost", "v");
  ASSERT_TRUE((*store)->Commit(lost, Durability::kBuffered).ok());
  std::promise<absl::Status> answer;
  (*store)->WhenDurable([&](absl::Status s) { answer.set_value(s); });
  const absl::Status first = answer.get_future().get();
  EXPECT_GT(fs->failed_syncs.load(), 0);
  EXPECT_EQ(first.code(), absl::StatusCode::kUnavailable) << first;
  EXPECT_NE(first.message().find("sync WAL"), std::string_view::npos) << first;

  // The disk "recovers": still nothing is acknowledged, by either form.
  fs->fail_syncs = false;
  WriteSet after;
  after.PutRaw(Cf::kMeta, "after", "v");
  (void)(*store)->Commit(after, Durability::kBuffered);  // RocksDB may refuse it itself
  EXPECT_FALSE((*store)->SyncWal().ok());
  std::promise<absl::Status> later;
  (*store)->WhenDurable([&](absl::Status s) { later.set_value(s); });
  EXPECT_FALSE(later.get_future().get().ok());
  WriteSet synced;
  synced.PutRaw(Cf::kMeta, "synced", "v");
  EXPECT_FALSE((*store)->Commit(synced, Durability::kSynced).ok());
  (void)(*store)->Close();
}

// Below the free-space reserve a store opens read-only: what was committed
// reads back, commits are refused as a pause (not a fault), and a new data
// folder cannot be made at all.
TEST(StoreTest, OpensReadOnlyBelowTheFreeSpaceReserve) {
  loyalty::testing::TempDir dir;
  {
    auto store = Store::Open({.path = dir.Sub("db")});
    ASSERT_TRUE(store.ok()) << store.status();
    WriteSet writes;
    writes.PutRaw(Cf::kMeta, "kept", "v");
    ASSERT_TRUE((*store)->Commit(writes, Durability::kBuffered).ok());  // in the WAL only
    ASSERT_TRUE((*store)->SyncWal().ok());
    EXPECT_EQ((*store)->write_refusal(), WriteRefusal::kNone);
  }
  StoreOptions full{.path = dir.Sub("db")};
  full.min_free_bytes = uint64_t{1} << 62;  // more than any disk has
  auto store = Store::Open(full);
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_EQ((*store)->write_refusal(), WriteRefusal::kReadOnly);
  auto kept = (*store)->Get(Cf::kMeta, "kept");
  ASSERT_TRUE(kept.ok()) << kept.status();
  EXPECT_EQ(*kept, "v");
  WriteSet refused;
  refused.PutRaw(Cf::kMeta, "new", "v");
  const absl::Status s = (*store)->Commit(refused, Durability::kSynced);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_NE(s.message().find("disk is nearly full"), std::string_view::npos) << s;
  EXPECT_TRUE((*store)->SyncWal().ok());  // nothing to sync: reads that wait for durability still answer
  (*store)->CheckDisk();                  // still full: stays read-only
  EXPECT_EQ((*store)->write_refusal(), WriteRefusal::kReadOnly);
  EXPECT_TRUE((*store)->Close().ok());

  StoreOptions fresh{.path = dir.Sub("new-db")};
  fresh.min_free_bytes = uint64_t{1} << 62;
  EXPECT_EQ(Store::Open(fresh).status().code(), absl::StatusCode::kUnavailable);
}

// Watchers hear of a buffered commit only through a WAL sync that made it
// durable: after a failed sync they hear nothing, so no watcher is shown a
// state a crash could take back (they were told before the sync, and told
// even when it failed).
TEST(StoreTest, WatchersHearOfACommitOnlyOnceItIsDurable) {
  loyalty::testing::TempDir dir;
  auto fs = std::make_shared<FailingWalSyncFs>();
  std::unique_ptr<rocksdb::Env> env = rocksdb::NewCompositeEnv(fs);
  auto store = Store::Open({.path = dir.Sub("db"), .env = env.get()});
  ASSERT_TRUE(store.ok()) << store.status();
  MemberUpdates updates;
  std::atomic<int> heard{0};
  ASSERT_TRUE(updates.Subscribe("m-1", {[&] { ++heard; }, [] {}}).ok());
  auto barrier = [&] {
    std::promise<void> synced;
    (*store)->WhenDurable([&](absl::Status) { synced.set_value(); });
    synced.get_future().get();
  };

  WriteSet first;
  first.PutRaw(Cf::kMeta, "first", "v");
  ASSERT_TRUE((*store)->Commit(first, Durability::kBuffered).ok());
  updates.NotifyWhenDurable(**store, "m-1");
  updates.NotifyWhenDurable(**store, "m-2");  // nobody watches m-2: nothing queued, nothing heard
  barrier();
  EXPECT_EQ(heard.load(), 1);

  fs->fail_syncs = true;
  WriteSet lost;
  lost.PutRaw(Cf::kMeta, "lost", "v");
  ASSERT_TRUE((*store)->Commit(lost, Durability::kBuffered).ok());
  updates.NotifyWhenDurable(**store, "m-1");
  barrier();
  EXPECT_EQ(heard.load(), 1);
  (void)(*store)->Close();
}

// Back-pressure: past max_sync_waiters answers waiting for a WAL sync,
// AdmitWrite refuses with UNAVAILABLE and a retry hint; once the sync thread
// has answered them it admits again.
TEST(StoreTest, AdmitWriteRefusesPastTheSyncWaitersLimit) {
  loyalty::testing::TempDir dir;
  auto store = Store::Open({.path = dir.Sub("db"), .max_sync_waiters = 2});
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_TRUE((*store)->AdmitWrite().ok());
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::promise<void> blocking;
  // The first answer holds the WAL-sync thread, so the next ones wait.
  (*store)->WhenDurable([&blocking, released](absl::Status) { blocking.set_value(); released.wait(); });
  blocking.get_future().wait();
  std::atomic<int> answered{0};
  (*store)->WhenDurable([&answered](absl::Status s) { answered += s.ok(); });
  EXPECT_TRUE((*store)->AdmitWrite().ok()) << "1 waiting, limit 2";
  (*store)->WhenDurable([&answered](absl::Status s) { answered += s.ok(); });
  const absl::Status refused = (*store)->AdmitWrite();
  EXPECT_TRUE(absl::IsUnavailable(refused)) << refused;
  EXPECT_EQ(refused.message(), "server busy: 2 answers already wait for the disk (storage_max_sync_waiters 2); retry shortly");
  EXPECT_GT(RetryAfterMs(refused), 0);
  EXPECT_EQ((*store)->overload_refusals(), 1u);
  release.set_value();
  ASSERT_TRUE((*store)->SyncWal().ok());  // answered after the two queued before it
  EXPECT_EQ(answered.load(), 2);
  EXPECT_EQ((*store)->pending_sync_waiters(), 0u);
  EXPECT_TRUE((*store)->AdmitWrite().ok());
}

// A counter of the wrong size is a corruption, not a silent 0: reading it
// is DATA_LOSS naming the key, and adding to it fails the read after.
TEST(StoreTest, ACounterOfTheWrongSizeIsACorruption) {
  loyalty::testing::TempDir dir;
  auto store = Store::Open({.path = dir.Sub("db")});
  ASSERT_TRUE(store.ok()) << store.status();
  WriteSet good;
  good.AddToCounter("offer-used/a", 5);
  good.AddToCounter("offer-used/a", 2);
  ASSERT_TRUE((*store)->Commit(good, Durability::kSynced).ok());
  auto counters = (*store)->ReadCounters();
  ASSERT_TRUE(counters.ok()) << counters.status();
  ASSERT_EQ(counters->size(), 1u);
  EXPECT_EQ((*counters)[0].second, 7);

  WriteSet damaged;
  damaged.PutRaw(Cf::kCounters, "offer-used/b", "abc");
  ASSERT_TRUE((*store)->Commit(damaged, Durability::kSynced).ok());
  counters = (*store)->ReadCounters();
  EXPECT_TRUE(absl::IsDataLoss(counters.status())) << counters.status();
  EXPECT_EQ(counters.status().message(), "counter offer-used/b: value of 3 bytes, not 8");

  WriteSet added;
  added.AddToCounter("offer-used/b", 1);
  ASSERT_TRUE((*store)->Commit(added, Durability::kSynced).ok());
  counters = (*store)->ReadCounters();
  EXPECT_FALSE(counters.ok()) << "the merge onto 3 bytes fails instead of counting from 0";
}

// ScanMembers hands each member's id (decoded) and record bytes in key
// order, stops when told, and calls a key that does not decode DATA_LOSS.
TEST(StoreTest, ScanMembersDecodesStopsAndRefusesDamagedKeys) {
  loyalty::testing::TempDir dir;
  auto store = Store::Open({.path = dir.Sub("db")});
  ASSERT_TRUE(store.ok()) << store.status();
  WriteSet writes;
  for (const char* id : {"m-2", "m-1", "m-3"}) writes.PutRaw(Cf::kMembers, MemberKey(id), std::string("record of ") + id);
  ASSERT_TRUE((*store)->Commit(writes, Durability::kSynced).ok());
  std::vector<std::string> seen;
  ASSERT_TRUE(ScanMembers(**store, nullptr, "test", [&](std::string_view id, std::string_view bytes) -> absl::StatusOr<ScanStep> {
                EXPECT_EQ(bytes, "record of " + std::string(id));
                seen.emplace_back(id);
                return seen.size() == 2 ? ScanStep::kStop : ScanStep::kContinue;
              }).ok());
  EXPECT_EQ(seen, (std::vector<std::string>{"m-1", "m-2"}));
  const absl::Status refused = ScanMembers(**store, nullptr, "test", [](std::string_view id, std::string_view) -> absl::StatusOr<ScanStep> {
    if (id == "m-2") return absl::FailedPreconditionError("stop at m-2");
    return ScanStep::kContinue;
  });
  EXPECT_EQ(refused.message(), "stop at m-2") << "the visit's error ends the scan and is returned";

  WriteSet damaged;
  damaged.PutRaw(Cf::kMembers, "\x05ab", "x");  // says 5 bytes, has 2
  ASSERT_TRUE((*store)->Commit(damaged, Durability::kSynced).ok());
  const absl::Status s = ScanMembers(**store, nullptr, "figures", [](std::string_view, std::string_view) -> absl::StatusOr<ScanStep> {
    return ScanStep::kContinue;
  });
  EXPECT_TRUE(absl::IsDataLoss(s)) << s;
  EXPECT_EQ(s.message().rfind("figures: ", 0), 0u) << s;
}

}  // namespace
}  // namespace loyalty::storage
