// storage/store.h: the one owner of RocksDB.
//
// Usage:
//   auto store = Store::Open({.path = "data"});
//   WriteSet writes;
//   writes.Put(Cf::kMembers, MemberKey(id), member_record);
//   writes.Put(Cf::kLedger, LedgerKey(id, entry_id), entry);
//   store->Commit(writes, Durability::kSynced);   // all or nothing, durable
//
// Everything one event changes (the event, its ledger entries, the member's
// state, the idempotency record) goes into one WriteSet, so it commits
// atomically.
//
// Durability. A commit is visible at once and durable once the WAL holding it
// is fsynced. One WAL-sync thread does every fsync: it takes all waiters
// queued so far, syncs once, and calls them. Commits keep going while it
// syncs, so one fsync covers every commit made during the previous one (group
// commit without holding a thread per commit). The hot paths commit with
// Durability::kBuffered and then WhenDurable(callback): the callback answers
// the caller after the fsync, and no thread waits. Durability::kSynced and
// SyncWal() are the blocking forms of the same thing. Because the WAL is one
// sequential log, a sync also makes every earlier commit durable: an answer
// that depends on earlier (buffered) commits is safe once it waited for a
// sync that started after it read them.
//
// A full disk. RocksDB must never meet one: Debian's build keeps its
// assertions, and a WAL write that fails half way aborts the process in the
// next sync. So the store keeps `min_free_bytes` free on the data folder's
// file system: a disk thread reads its free space every
// `disk_check_interval`, and while it is below the reserve every Commit
// answers UNAVAILABLE (reads keep working); once space is freed, writes go
// on by themselves. Started on a disk already below the reserve, the store
// opens RocksDB read-only (which writes nothing) and reopens it read-write
// when space returns; the read-only instance stays open until Close, since
// readers may still hold its iterators. A failed WAL sync stops all writes
// (see RunWalSync), and the WAL is not touched again until Close.
//
// Thread-safety: all methods are safe to call concurrently, except Close(),
// which must be called once after every other call has returned.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <google/protobuf/message.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "storage/cursor.h"
#include "storage/keys.h"

// RocksDB's file system, for tests that make files fail (StoreOptions::env):
// the only RocksDB name outside storage/store.cc, and opaque here.
namespace rocksdb {
class Env;
}

namespace loyalty::storage {

enum class Durability { kSynced, kBuffered };

// Called once the commits before it are durable, or with the sync's error
// (then nothing since the last good sync may be acknowledged).
using DurableCallback = std::function<void(absl::Status)>;

struct StoreOptions {
  std::string path;
  size_t block_cache_bytes = 256ull << 20;
  size_t write_buffer_bytes = 32ull << 20;  // per column family memtable
  // All memtables together: past this RocksDB flushes the largest, so memory
  // stays bounded however many column families are busy.
  size_t memtable_budget_bytes = 256ull << 20;
  bool create_if_missing = true;
  // Commits stay in RocksDB's WAL buffer until the WAL-sync thread writes
  // and fsyncs them (they are visible at once either way).
  bool manual_wal_flush = true;
  // The environment RocksDB does its file I/O through; null: the default.
  // Tests pass one whose files fail on purpose.
  rocksdb::Env* env = nullptr;
  // Where Checkpoint writes, one folder per checkpoint; empty: the data
  // folder's path with "-checkpoints" added.
  std::string checkpoint_dir;
  // Writes are refused while the data folder's file system has less free
  // than this (room for RocksDB's flushes and compactions, which write
  // whatever the callers do). 0: no reserve (tests of storage faults).
  uint64_t min_free_bytes = 256ull << 20;
  std::chrono::milliseconds disk_check_interval{250};
  // Answers that may wait for the next WAL sync at once (each holds a
  // call's result): past it AdmitWrite refuses new writes. 0: no limit.
  size_t max_sync_waiters = 50'000;
};

// Why writes are refused, if they are.
enum class WriteRefusal {
  kNone,
  kDiskLow,     // free space below the reserve; resumes by itself
  kReadOnly,    // opened read-only on a full disk; reopens by itself
  kSyncFailed,  // a WAL sync failed: a restart recovers
};

// Appends the deterministic encoding of `m` to `out`: equal messages give
// equal bytes (fingerprints, stored records, tests). One pass into a buffer
// of the exact size: a string-backed stream grows and zero-fills as it goes,
// several times for an event record.
void AppendDeterministicBytes(const google::protobuf::Message& m, std::string& out);

// A set of writes that commit together or not at all. Not thread-safe.
class WriteSet {
 public:
  void Put(Cf cf, std::string_view key, const google::protobuf::Message& value);
  void PutRaw(Cf cf, std::string_view key, std::string value);
  void Delete(Cf cf, std::string_view key);
  // Adds `delta` to the counter at `key` (CF counters only): concurrent
  // commits add up without reading, so counters need no lock.
  void AddToCounter(std::string_view key, int64_t delta);
  size_t Count() const { return ops_.size(); }
  bool Empty() const { return ops_.empty(); }

 private:
  friend class Store;
  struct Op {
    Cf cf;
    std::string key;
    std::optional<std::string> value;  // nullopt: delete
    bool merge = false;
  };
  std::vector<Op> ops_;
};

class Store {
 public:
  static absl::StatusOr<std::unique_ptr<Store>> Open(const StoreOptions& options);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // Commits all writes atomically. kSynced: returns once they are durable.
  absl::Status Commit(const WriteSet& writes, Durability durability);
  // Runs `on_durable` on the WAL-sync thread once every commit made before
  // this call is durable. It must be quick (answer a call, post work).
  void WhenDurable(DurableCallback on_durable);
  // Makes every commit so far durable (blocks until then).
  absl::Status SyncWal();
  // Whether a new write may start now: fewer than max_sync_waiters answers
  // waiting for the disk (else UNAVAILABLE with a retry hint). A full disk
  // is Commit's to refuse: a retry of an acknowledged event is still
  // answered then, from what is stored. Callers ask before they queue the work, so a refused call
  // has changed nothing. A soft bound: calls admitted at the same moment
  // may pass it by as many.
  absl::Status AdmitWrite() const;
  // Answers waiting for the next WAL sync now.
  size_t pending_sync_waiters() const { return pending_waiters_.load(std::memory_order_relaxed); }
  size_t max_sync_waiters() const { return max_sync_waiters_; }
  // Writes AdmitWrite refused for the waiters' limit so far.
  uint64_t overload_refusals() const { return overload_refusals_.load(std::memory_order_relaxed); }

  // WAL syncs done so far and the callbacks they answered (for figures).
  uint64_t wal_syncs() const { return wal_syncs_.load(std::memory_order_relaxed); }
  uint64_t wal_sync_waiters() const { return wal_sync_waiters_.load(std::memory_order_relaxed); }

  // RocksDB's own figures, read at the moment (for /metrics: cheap, no scan).
  struct FamilyFigures {
    const char* name;
    uint64_t live_table_bytes = 0;        // rocksdb.live-sst-files-size
    uint64_t memtable_bytes = 0;          // rocksdb.cur-size-all-mem-tables
    uint64_t pending_compaction_bytes = 0;  // rocksdb.estimate-pending-compaction-bytes
  };
  struct Figures {
    std::vector<FamilyFigures> families;
    uint64_t block_cache_usage_bytes = 0;
    uint64_t block_cache_capacity_bytes = 0;
    bool writes_stopped = false;        // rocksdb.is-write-stopped
    uint64_t delayed_write_rate = 0;    // bytes/s while writes are slowed, else 0
    uint64_t write_stalls = 0;          // stops and slowdowns so far, all families
    uint64_t free_disk_bytes = 0;       // the data folder's file system, last check
    WriteRefusal write_refusal = WriteRefusal::kNone;
  };
  Figures ReadFigures() const;

  // Free bytes of the data folder's file system at the last check, and the
  // reserve kept free.
  uint64_t free_disk_bytes() const { return free_disk_bytes_.load(std::memory_order_relaxed); }
  uint64_t min_free_bytes() const { return min_free_bytes_; }
  WriteRefusal write_refusal() const;
  // OK if commits are taken now, else the UNAVAILABLE a Commit answers.
  absl::Status WritesAllowed() const;
  // Reads the free space now (the disk thread does this every interval;
  // tests call it to act at once). Reopens a read-only store read-write if
  // space returned.
  void CheckDisk();

  // The raw value, or NotFound.
  absl::StatusOr<std::string> Get(Cf cf, std::string_view key) const;
  // The parsed value, nullopt if absent, DataLoss if it does not parse.
  template <class Message>
  absl::StatusOr<std::optional<Message>> GetProto(Cf cf, std::string_view key) const {
    auto raw = Get(cf, key);
    if (absl::IsNotFound(raw.status())) return std::optional<Message>();
    if (!raw.ok()) return raw.status();
    Message m;
    if (!m.ParseFromString(*raw)) return CorruptValue(cf, key);
    return std::optional<Message>(std::move(m));
  }

  // A consistent point-in-time view across column families, released when
  // destroyed. Pass it to NewCursor to read several families as of one time.
  class Snapshot {
   public:
    ~Snapshot();
    Snapshot(const Snapshot&) = delete;
    Snapshot& operator=(const Snapshot&) = delete;

   private:
    friend class Store;
    struct Impl;
    explicit Snapshot(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
  };
  std::unique_ptr<Snapshot> GetSnapshot() const;

  // A cursor over one column family (caller seeks). Reads `snapshot`, or a
  // consistent view taken when the cursor is created.
  std::unique_ptr<Cursor> NewCursor(Cf cf, const Snapshot* snapshot = nullptr) const;

  // A new, unique, increasing event sequence number (1, 2, ...). Numbers of
  // events that never committed are simply skipped.
  uint64_t NextEventSeq() { return next_event_seq_.fetch_add(1); }
  uint64_t LastAllocatedEventSeq() const { return next_event_seq_.load() - 1; }

  // Every counter (CF counters) with its value.
  absl::StatusOr<std::vector<std::pair<std::string, int64_t>>> ReadCounters() const;

  // A consistent, openable copy of the database in the folder `name` of the
  // checkpoint folder (StoreOptions::checkpoint_dir), which the copy's path
  // is returned. Hard links where possible, so it is fast and small. `name`
  // is 1..64 of A-Z a-z 0-9 . _ - not starting with '.' (INVALID_ARGUMENT:
  // no caller picks where the server writes); ALREADY_EXISTS if taken.
  absl::StatusOr<std::string> Checkpoint(std::string_view name);
  const std::string& checkpoint_dir() const { return checkpoint_dir_; }

  // Flushes memtables and closes RocksDB. Idempotent.
  absl::Status Close();

  const std::string& path() const { return path_; }

 private:
  // One opened RocksDB instance (store.cc). Replaced only once: read-only
  // to read-write (see CheckDisk); the replaced one stays open until Close.
  struct Instance;
  // What Open gave RocksDB, kept for the reopen (store.cc).
  struct RocksConfig;

  Store();
  absl::Status CorruptValue(Cf cf, std::string_view key) const;
  const Instance& live() const { return *live_.load(std::memory_order_acquire); }
  absl::Status OpenInstance(bool read_only, Instance& out);
  absl::Status ReadNextEventSeq();

  void RunWalSync();
  void RunDiskChecks();
  uint64_t ReadFreeDiskBytes() const;

  std::string path_;
  std::string checkpoint_dir_;
  std::unique_ptr<RocksConfig> rocks_;
  mutable std::mutex instances_mu_;  // guards instances_ and the reopen
  std::vector<std::unique_ptr<Instance>> instances_;
  std::atomic<Instance*> live_{nullptr};

  // The disk thread and what it last read.
  uint64_t min_free_bytes_ = 0;
  std::chrono::milliseconds disk_check_interval_{250};
  std::atomic<uint64_t> free_disk_bytes_{UINT64_MAX};
  std::atomic<bool> disk_low_{false};
  std::atomic<bool> sync_failed_{false};
  std::mutex disk_mu_;
  std::condition_variable disk_cv_;
  bool disk_stopping_ = false;
  std::thread disk_thread_;
  std::atomic<uint64_t> next_event_seq_{1};

  // The WAL-sync thread and its queue of waiters.
  bool manual_wal_flush_ = false;
  std::mutex sync_mu_;
  std::condition_variable sync_cv_;
  std::vector<DurableCallback> sync_waiters_;
  absl::Status sync_failure_;  // the first failed sync; WAL-sync thread only
  bool sync_stopping_ = false;
  std::thread sync_thread_;
  std::atomic<uint64_t> wal_syncs_{0};
  std::atomic<uint64_t> wal_sync_waiters_{0};
  std::atomic<size_t> pending_waiters_{0};
  size_t max_sync_waiters_ = 0;
  mutable std::atomic<uint64_t> overload_refusals_{0};
};

}  // namespace loyalty::storage
