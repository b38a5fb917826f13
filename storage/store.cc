#include "storage/store.h"
#include "storage/rocks_status.h"

#include <pthread.h>
#include <sys/statvfs.h>

#include <algorithm>
#include <cassert>
#include <filesystem>
#include <map>
#include <future>

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <rocksdb/cache.h>
#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/merge_operator.h>
#include <rocksdb/slice_transform.h>
#include <rocksdb/table.h>
#include <rocksdb/utilities/checkpoint.h>

#include "absl/strings/escaping.h"
#include "base/log.h"
#include "base/metrics.h"
#include "base/status_payloads.h"
#include "base/str_cat.h"

namespace loyalty::storage {

#define LOYALTY_RETURN_IF_ERROR_ROCKS(expr, context)             \
  do {                                                             \
    if (const rocksdb::Status _rs = (expr); !_rs.ok()) return FromRocks(_rs, context); \
  } while (0)

absl::Status FromRocks(const rocksdb::Status& s, std::string_view context) {
  if (s.ok()) return absl::OkStatus();
  std::string msg = loyalty::StrCat(context, ": ", s.ToString());
  absl::Status out;
  if (s.IsNotFound()) out = absl::NotFoundError(msg);
  else if (s.IsCorruption()) out = absl::DataLossError(msg);
  else if (s.IsIOError()) out = absl::UnavailableError(msg);
  else if (s.IsBusy() || s.IsTryAgain()) out = absl::AbortedError(msg);
  else out = absl::InternalError(msg);  // RocksDB's InvalidArgument is ours, not the caller's
  // RocksDB's text describes the server: never shown to a caller as it is.
  out.SetPayload(kStorageFaultPayload, absl::Cord("1"));
  return out;
}

void AppendDeterministicBytes(const google::protobuf::Message& m, std::string& out) {
  const size_t size = m.ByteSizeLong();
  const size_t start = out.size();
  out.resize(start + size);
  google::protobuf::io::ArrayOutputStream array(out.data() + start, static_cast<int>(size));
  google::protobuf::io::CodedOutputStream coded(&array);
  coded.SetSerializationDeterministic(true);
  m.SerializeWithCachedSizes(&coded);
  coded.Trim();
  assert(!coded.HadError() && static_cast<size_t>(coded.ByteCount()) == size);
}

void WriteSet::Put(Cf cf, std::string_view key, const google::protobuf::Message& value) {
  std::string bytes;
  AppendDeterministicBytes(value, bytes);
  ops_.push_back(Op{cf, std::string(key), std::move(bytes)});
}

void WriteSet::PutRaw(Cf cf, std::string_view key, std::string value) {
  ops_.push_back(Op{cf, std::string(key), std::move(value)});
}

void WriteSet::Delete(Cf cf, std::string_view key) {
  ops_.push_back(Op{cf, std::string(key), std::nullopt});
}

namespace {

std::string EncodeCounter(int64_t n) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((static_cast<uint64_t>(n) >> (8 * i)) & 0xff);
  return out;
}

// nullopt unless `s` is 8 bytes: a damaged counter, never read as 0.
std::optional<int64_t> DecodeCounter(const rocksdb::Slice& s) {
  if (s.size() != 8) return std::nullopt;
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<uint8_t>(s[i]);
  return static_cast<int64_t>(n);
}

// Counters are fixed64 little-endian; a merge operand is a delta to add.
// A value or operand of another size fails the merge, which RocksDB reports
// as a corruption on the read (or compaction) that meets it.
class CounterAddOperator : public rocksdb::AssociativeMergeOperator {
 public:
  bool Merge(const rocksdb::Slice&, const rocksdb::Slice* existing, const rocksdb::Slice& value,
             std::string* new_value, rocksdb::Logger*) const override {
    const std::optional<int64_t> base = existing ? DecodeCounter(*existing) : std::optional<int64_t>(0);
    const std::optional<int64_t> delta = DecodeCounter(value);
    if (!base || !delta) return false;
    *new_value = EncodeCounter(static_cast<int64_t>(static_cast<uint64_t>(*base) + static_cast<uint64_t>(*delta)));
    return true;
  }
  const char* Name() const override { return "loyalty.CounterAdd"; }
};

// The memtable's insert-hint prefix of a column family's keys (see
// InsertHintPrefixLength in keys.h). Only RocksDB's memtable uses it; it
// changes no stored byte and no read.
class InsertHintPrefix : public rocksdb::SliceTransform {
 public:
  explicit InsertHintPrefix(Cf cf) : cf_(cf), name_(loyalty::StrCat("loyalty.InsertHintPrefix.", CfName(cf))) {}
  const char* Name() const override { return name_.c_str(); }
  rocksdb::Slice Transform(const rocksdb::Slice& key) const override {
    const size_t n = InsertHintPrefixLength(cf_, std::string_view(key.data(), key.size()));
    assert(n > 0 && "Transform called outside the domain");
    return rocksdb::Slice(key.data(), n);
  }
  bool InDomain(const rocksdb::Slice& key) const override {
    return InsertHintPrefixLength(cf_, std::string_view(key.data(), key.size())) > 0;
  }

 private:
  const Cf cf_;
  const std::string name_;
};

}  // namespace

struct Store::Instance {
  rocksdb::DB* db = nullptr;
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  bool read_only = false;
  rocksdb::ColumnFamilyHandle* Handle(Cf cf) const { return handles[static_cast<int>(cf)]; }
};

struct Store::RocksConfig {
  rocksdb::DBOptions db_options;
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  std::shared_ptr<rocksdb::Cache> block_cache;
};

struct Store::Snapshot::Impl {
  rocksdb::DB* db;
  const rocksdb::Snapshot* snapshot;
};

Store::Snapshot::Snapshot(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Store::Snapshot::~Snapshot() { impl_->db->ReleaseSnapshot(impl_->snapshot); }

struct Cursor::Impl {
  std::unique_ptr<rocksdb::Iterator> it;
};

Cursor::Cursor(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Cursor::~Cursor() = default;
void Cursor::SeekToFirst() { impl_->it->SeekToFirst(); }
void Cursor::SeekToLast() { impl_->it->SeekToLast(); }
void Cursor::Seek(std::string_view key) { impl_->it->Seek(rocksdb::Slice(key.data(), key.size())); }
void Cursor::SeekForPrev(std::string_view key) { impl_->it->SeekForPrev(rocksdb::Slice(key.data(), key.size())); }
void Cursor::Next() { impl_->it->Next(); }
void Cursor::Prev() { impl_->it->Prev(); }
bool Cursor::Valid() const { return impl_->it->Valid(); }
std::string_view Cursor::key() const {
  const rocksdb::Slice k = impl_->it->key();
  return std::string_view(k.data(), k.size());
}
std::string_view Cursor::value() const {
  const rocksdb::Slice v = impl_->it->value();
  return std::string_view(v.data(), v.size());
}
absl::Status Cursor::status(std::string_view context) const {
  const rocksdb::Status s = impl_->it->status();
  return s.ok() ? absl::OkStatus() : FromRocks(s, context);
}

Store::Store() = default;

void WriteSet::AddToCounter(std::string_view key, int64_t delta) {
  ops_.push_back(Op{Cf::kCounters, std::string(key), EncodeCounter(delta), /*merge=*/true});
}

absl::StatusOr<std::unique_ptr<Store>> Store::Open(const StoreOptions& options) {
  if (options.path.empty()) return absl::InvalidArgumentError("storage path is empty");
  std::error_code ec;
  std::filesystem::create_directories(options.path, ec);
  if (ec) {
    return absl::UnavailableError(
        loyalty::StrCat("cannot create data folder ", options.path, ": ", ec.message()));
  }

  rocksdb::BlockBasedTableOptions table;
  table.block_cache = rocksdb::NewLRUCache(options.block_cache_bytes);
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  // Index and filter blocks count against the cache, so memory stays bounded.
  table.cache_index_and_filter_blocks = true;
  table.pin_l0_filter_and_index_blocks_in_cache = true;

  rocksdb::ColumnFamilyOptions cf_options;
  cf_options.write_buffer_size = options.write_buffer_bytes;

  cf_options.max_write_buffer_number = 3;
  cf_options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  // A bloom filter over whole keys in each memtable: a point lookup of a key
  // the memtable does not hold (an idempotency check of a new transaction, an
  // identifier written long ago) skips the skiplist search, which profiles
  // showed among the top costs of a sale.
  cf_options.memtable_prefix_bloom_size_ratio = 0.05;
  cf_options.memtable_whole_key_filtering = true;
  // LZ4 on every level, the last one included. ZSTD there saved 20% of the
  // disk but took 23% of loyaltyd's CPU at a million members (compressing
  // compaction output, decompressing blocks for reads): with it the backlog
  // ran at 5,829 events/s, with LZ4 at 8,242 (docs/BENCHMARKS.md). CPU, not
  // disk, is what a small store server runs out of.
  cf_options.compression = rocksdb::kLZ4Compression;
  cf_options.bottommost_compression = rocksdb::kLZ4Compression;

  rocksdb::DBOptions db_options;
  db_options.create_if_missing = options.create_if_missing;
  if (options.env != nullptr) db_options.env = options.env;
  db_options.create_missing_column_families = true;
  db_options.max_background_jobs = 2;
  db_options.db_write_buffer_size = options.memtable_budget_bytes;
  // A write-ahead log file is kept until every column family with data in it
  // has flushed, so a family written rarely holds every log since its last
  // write: by default up to four times all memtables' capacity, about 4.5 GB
  // here (2.83 GB of a 3.77 GB data folder after a medium load,
  // docs/BENCHMARKS.md). Past this bound RocksDB flushes the families that
  // hold the oldest log: disk use and the replay after a crash stay bounded.
  db_options.max_total_wal_size = 2 * options.memtable_budget_bytes;
  db_options.keep_log_file_num = 5;
  // Writes append to RocksDB's WAL buffer; the WAL-sync thread writes and
  // fsyncs it in one go (FlushWAL(true)): one write(2) per group instead of
  // one per commit.
  db_options.manual_wal_flush = options.manual_wal_flush;
  // After a crash, recover to the last consistent point of the WAL: a torn
  // tail of unacknowledged writes is dropped, acknowledged ones were synced.
  db_options.wal_recovery_mode = rocksdb::WALRecoveryMode::kPointInTimeRecovery;

  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (int i = 0; i < static_cast<int>(Cf::kCount); ++i) {
    const char* name = i == 0 ? rocksdb::kDefaultColumnFamilyName.c_str()
                              : CfName(static_cast<Cf>(i));
    descriptors.emplace_back(name, cf_options);
  }
  descriptors[static_cast<int>(Cf::kCounters)].options.merge_operator =
      std::make_shared<CounterAddOperator>();
  // Profiles of ingest put 18-31% of the server's CPU in memtable inserts,
  // most of it the skiplist search for random keys. A sale's transaction key
  // sorts right after its terminal's previous ones: with a hint per terminal
  // the insert starts there (see InsertHintPrefixLength). (CF sales is only
  // read and emptied now: a sale's state is in its transaction record.)
  descriptors[static_cast<int>(Cf::kTxn)].options.memtable_insert_with_hint_prefix_extractor =
      std::make_shared<InsertHintPrefix>(Cf::kTxn);
  // Every event rewrites its member's record, so the members family stays
  // small (one live record per member) but takes the most bytes of all. With
  // the defaults RocksDB merged every 4 flushed files into the whole of L1
  // again: over a load of a million members and 20 million events that was
  // 56% of all compaction CPU, 50 GB compacted for 14.7 GB flushed; with
  // this tuning 31% and 14.5 GB (docs/BENCHMARKS.md, Scale). Larger memtables
  // and more level-0 files per compaction let one rewrite of L1 absorb more
  // updates (and drop more superseded versions of the same member). Reads
  // check level-0 files through their bloom filters, pinned in the cache.
  // The memtable budget (db_write_buffer_size) still bounds all memtables.
  rocksdb::ColumnFamilyOptions& members = descriptors[static_cast<int>(Cf::kMembers)].options;
  members.write_buffer_size = 2 * options.write_buffer_bytes;
  members.level0_file_num_compaction_trigger = 12;  // default 4
  members.level0_slowdown_writes_trigger = 36;      // default 20
  members.level0_stop_writes_trigger = 48;          // default 36

  std::unique_ptr<Store> store(new Store());
  store->rocks_ = std::make_unique<RocksConfig>();
  store->rocks_->block_cache = table.block_cache;
  store->path_ = options.path;
  std::string data_path = std::filesystem::path(options.path).lexically_normal().string();
  while (data_path.size() > 1 && data_path.back() == '/') data_path.pop_back();  // "x/" + "-checkpoints" is inside x
  store->checkpoint_dir_ = options.checkpoint_dir.empty() ? data_path + "-checkpoints" : options.checkpoint_dir;
  while (store->checkpoint_dir_.size() > 1 && store->checkpoint_dir_.back() == '/') store->checkpoint_dir_.pop_back();
  store->rocks_->db_options = db_options;
  store->rocks_->descriptors = std::move(descriptors);
  store->min_free_bytes_ = options.min_free_bytes;
  store->max_sync_waiters_ = options.max_sync_waiters;
  store->disk_check_interval_ = options.disk_check_interval;
  store->manual_wal_flush_ = options.manual_wal_flush;

  // On a disk below the reserve, read-only: opening read-write writes a new
  // MANIFEST and WAL and may flush the recovered one.
  const uint64_t free_bytes = store->ReadFreeDiskBytes();
  store->free_disk_bytes_.store(free_bytes);
  const bool read_only = free_bytes < store->min_free_bytes_;
  store->disk_low_.store(read_only);
  if (read_only) {
    LogWarning(loyalty::StrCat("storage: the disk of ", options.path, " has ", free_bytes >> 20, " MiB free, less than the ",
                               store->min_free_bytes_ >> 20, " MiB kept free: opening read-only; writes start once space is freed"));
  }
  auto instance = std::make_unique<Instance>();
  if (absl::Status opened = store->OpenInstance(read_only, *instance); !opened.ok()) {
    if (read_only) {
      return absl::UnavailableError(loyalty::StrCat(opened.message(), " (the disk is nearly full: ", free_bytes >> 20,
                                                    " MiB free; a new data folder cannot be created read-only)"));
    }
    return opened;
  }
  store->live_.store(instance.get(), std::memory_order_release);
  store->instances_.push_back(std::move(instance));
  if (absl::Status read = store->ReadNextEventSeq(); !read.ok()) return read;
  store->sync_thread_ = std::thread([s = store.get()] { s->RunWalSync(); });
  store->disk_thread_ = std::thread([s = store.get()] { s->RunDiskChecks(); });
  return store;
}

absl::Status Store::OpenInstance(bool read_only, Instance& out) {
  rocksdb::Status s =
      read_only ? rocksdb::DB::OpenForReadOnly(rocks_->db_options, path_, rocks_->descriptors, &out.handles, &out.db)
                : rocksdb::DB::Open(rocks_->db_options, path_, rocks_->descriptors, &out.handles, &out.db);
  if (!s.ok()) return FromRocks(s, loyalty::StrCat(read_only ? "open RocksDB read-only at " : "open RocksDB at ", path_));
  assert(out.handles.size() == static_cast<size_t>(Cf::kCount));
  out.read_only = read_only;
  return absl::OkStatus();
}

// Recovers the event sequence from the last event in the log.
absl::Status Store::ReadNextEventSeq() {
  auto it = NewCursor(Cf::kEvents);
  it->SeekToLast();
  if (it->Valid()) {
    auto last = DecodeEventKey(it->key());
    if (!last.ok()) return last.status();
    next_event_seq_.store(*last + 1);
  } else if (absl::Status read = it->status("read last event"); !read.ok()) {
    return read;
  }
  return absl::OkStatus();
}

uint64_t Store::ReadFreeDiskBytes() const {
  struct statvfs vfs {};
  if (statvfs(path_.c_str(), &vfs) != 0) return UINT64_MAX;  // unknown: not a reason to refuse writes
  return static_cast<uint64_t>(vfs.f_bavail) * vfs.f_frsize;
}

WriteRefusal Store::write_refusal() const {
  if (sync_failed_.load(std::memory_order_acquire)) return WriteRefusal::kSyncFailed;
  if (live().read_only) return WriteRefusal::kReadOnly;
  if (disk_low_.load(std::memory_order_acquire)) return WriteRefusal::kDiskLow;
  return WriteRefusal::kNone;
}

absl::Status Store::AdmitWrite() const {
  const size_t waiting = pending_waiters_.load(std::memory_order_relaxed);
  if (max_sync_waiters_ != 0 && waiting >= max_sync_waiters_) {
    overload_refusals_.fetch_add(1, std::memory_order_relaxed);
    return WithRetryAfter(absl::UnavailableError(loyalty::StrCat(
                              "server busy: ", waiting, " answers already wait for the disk (storage_max_sync_waiters ",
                              max_sync_waiters_, "); retry shortly")),
                          50);
  }
  return absl::OkStatus();
}

absl::Status Store::WritesAllowed() const {
  // Not a storage fault: the caller may be told this as it is.
  switch (write_refusal()) {
    case WriteRefusal::kNone:
      return absl::OkStatus();
    case WriteRefusal::kDiskLow:
    case WriteRefusal::kReadOnly:
      return absl::UnavailableError(
          "storage: writes are paused while the server's disk is nearly full (reads keep working); retry later");
    case WriteRefusal::kSyncFailed:
      return absl::UnavailableError("storage: writes stopped after a failed disk write; the server needs a restart");
  }
  return absl::InternalError("unknown write refusal");
}

void Store::CheckDisk() {
  const uint64_t free_bytes = ReadFreeDiskBytes();
  free_disk_bytes_.store(free_bytes, std::memory_order_relaxed);
  const bool low = free_bytes < min_free_bytes_;
  if (disk_low_.exchange(low, std::memory_order_acq_rel) != low) {
    if (low) {
      LogWarning(loyalty::StrCat("storage: the disk of ", path_, " has ", free_bytes >> 20, " MiB free, less than the ",
                                 min_free_bytes_ >> 20, " MiB kept free: writes are paused, reads go on"));
    } else {
      LogInfo(loyalty::StrCat("storage: the disk of ", path_, " has ", free_bytes >> 20, " MiB free again"));
    }
  }
  if (low || !live().read_only) return;
  std::lock_guard<std::mutex> lock(instances_mu_);
  if (!live().read_only) return;
  auto instance = std::make_unique<Instance>();
  if (absl::Status opened = OpenInstance(/*read_only=*/false, *instance); !opened.ok()) {
    LogError(loyalty::StrCat("storage: reopening read-write failed (retried at the next check): ", opened.ToString()));
    return;
  }
  // The same data: the read-only instance saw every commit made before it.
  live_.store(instance.get(), std::memory_order_release);
  instances_.push_back(std::move(instance));
  LogInfo(loyalty::StrCat("storage: ", path_, " reopened read-write; writes go on"));
}

void Store::RunDiskChecks() {
  pthread_setname_np(pthread_self(), "disk-check");
  std::unique_lock<std::mutex> lock(disk_mu_);
  while (!disk_cv_.wait_for(lock, disk_check_interval_, [this] { return disk_stopping_; })) {
    lock.unlock();
    CheckDisk();
    lock.lock();
  }
}

namespace {

metrics::Histogram& WalSyncSeconds() {
  static auto& h = metrics::DefaultRegistry().AddHistogram(
      "loyaltyd_wal_sync_duration_seconds", "Time of one WAL write and fsync (group commit)",
      {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1});
  return h;
}
metrics::Histogram& CommitsPerSync() {
  static auto& h = metrics::DefaultRegistry().AddHistogram(
      "loyaltyd_wal_sync_waiters", "Answers one WAL sync made durable (commits sharing one fsync)",
      {1, 2, 4, 8, 16, 32, 64, 128, 256, 1024, 4096});
  return h;
}

uint64_t IntProperty(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* cf, const std::string& name) {
  uint64_t v = 0;
  return db->GetIntProperty(cf, name, &v) ? v : 0;
}

}  // namespace

Store::Figures Store::ReadFigures() const {
  Figures f;
  if (live_.load() == nullptr) return f;
  const Instance& in = live();
  rocksdb::DB* db_ = in.db;
  for (int i = 0; i < static_cast<int>(Cf::kCount); ++i) {
    FamilyFigures ff{CfName(static_cast<Cf>(i))};
    ff.live_table_bytes = IntProperty(db_, in.handles[i], rocksdb::DB::Properties::kLiveSstFilesSize);
    ff.memtable_bytes = IntProperty(db_, in.handles[i], rocksdb::DB::Properties::kCurSizeAllMemTables);
    ff.pending_compaction_bytes = IntProperty(db_, in.handles[i], rocksdb::DB::Properties::kEstimatePendingCompactionBytes);
    std::map<std::string, std::string> stats;
    if (db_->GetMapProperty(in.handles[i], rocksdb::DB::Properties::kCFStats, &stats)) {
      for (const char* key : {"io_stalls.total_stop", "io_stalls.total_slowdown"}) {
        auto it = stats.find(key);
        if (it != stats.end()) f.write_stalls += std::strtoull(it->second.c_str(), nullptr, 10);
      }
    }
    f.families.push_back(ff);
  }
  if (rocks_->block_cache) {
    f.block_cache_usage_bytes = rocks_->block_cache->GetUsage();
    f.block_cache_capacity_bytes = rocks_->block_cache->GetCapacity();
  }
  f.free_disk_bytes = free_disk_bytes();
  f.write_refusal = write_refusal();
  f.writes_stopped = IntProperty(db_, db_->DefaultColumnFamily(), rocksdb::DB::Properties::kIsWriteStopped) != 0;
  f.delayed_write_rate = IntProperty(db_, db_->DefaultColumnFamily(), rocksdb::DB::Properties::kActualDelayedWriteRate);
  return f;
}

void Store::RunWalSync() {
  pthread_setname_np(pthread_self(), "wal-sync");
  std::vector<DurableCallback> batch;
  std::unique_lock<std::mutex> lock(sync_mu_);
  for (;;) {
    sync_cv_.wait(lock, [&] { return sync_stopping_ || !sync_waiters_.empty(); });
    if (sync_waiters_.empty()) return;  // stopping, nothing left to answer
    batch.swap(sync_waiters_);
    lock.unlock();
    // Every waiter in `batch` queued after its commits returned, so this
    // sync covers them. Commits made meanwhile wait for the next one.
    // A failed sync is final: after a failed fsync the kernel may drop the
    // dirty pages and report a later fsync as good, so nothing committed
    // after it may be acknowledged either (the operator restarts the server;
    // RocksDB recovers to the last consistent point of its WAL). The WAL is
    // not touched again: a sync after a failed write asserts in RocksDB.
    // A read-only instance has nothing to sync.
    const Instance& in = live();
    if (sync_failure_.ok() && !in.read_only) {
      const auto sync_started = std::chrono::steady_clock::now();
      const rocksdb::Status s = manual_wal_flush_ ? in.db->FlushWAL(/*sync=*/true) : in.db->SyncWAL();
      WalSyncSeconds().Observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - sync_started).count());
      CommitsPerSync().Observe(static_cast<double>(batch.size()));
      if (!s.ok()) {
        sync_failure_ = FromRocks(s, "sync WAL");
        sync_failed_.store(true, std::memory_order_release);
        LogError(loyalty::StrCat("storage: ", sync_failure_.ToString(), "; writes stop until a restart"));
      }
    }
    const absl::Status status = sync_failure_;
    wal_syncs_.fetch_add(1, std::memory_order_relaxed);
    wal_sync_waiters_.fetch_add(batch.size(), std::memory_order_relaxed);
    for (auto& waiter : batch) {
      pending_waiters_.fetch_sub(1, std::memory_order_relaxed);  // before: an answer may admit the next write
      waiter(status);
    }
    batch.clear();
    lock.lock();
  }
}

void Store::WhenDurable(DurableCallback on_durable) {
  assert(on_durable);
  {
    std::lock_guard<std::mutex> lock(sync_mu_);
    assert(!sync_stopping_ && "WhenDurable after Close");
    sync_waiters_.push_back(std::move(on_durable));
    pending_waiters_.fetch_add(1, std::memory_order_relaxed);
  }
  sync_cv_.notify_one();
}

Store::~Store() {
  absl::Status s = Close();
  (void)s;  // Nothing more to do on a failed close in a destructor.
}

absl::Status Store::Close() {
  if (live_.load() == nullptr) return absl::OkStatus();
  {
    std::lock_guard<std::mutex> lock(disk_mu_);
    disk_stopping_ = true;
  }
  disk_cv_.notify_one();
  if (disk_thread_.joinable()) disk_thread_.join();
  {
    std::lock_guard<std::mutex> lock(sync_mu_);
    sync_stopping_ = true;
  }
  sync_cv_.notify_one();
  if (sync_thread_.joinable()) sync_thread_.join();  // answers every waiter first
  std::lock_guard<std::mutex> lock(instances_mu_);
  absl::Status result;
  for (auto it = instances_.rbegin(); it != instances_.rend(); ++it) {
    Instance& in = **it;
    rocksdb::Status flushed;
    // After a failed sync the WAL is left alone (see RunWalSync); on a
    // full disk a flush would only fail. RocksDB replays the WAL at the
    // next open either way.
    if (!in.read_only && !sync_failed_.load() && !disk_low_.load()) {
      if (manual_wal_flush_) (void)in.db->FlushWAL(/*sync=*/true);  // the memtable flush below persists it anyway
      rocksdb::FlushOptions flush;
      flush.wait = true;
      flushed = in.db->Flush(flush, in.handles);
    }
    for (auto* h : in.handles) in.db->DestroyColumnFamilyHandle(h);
    in.handles.clear();
    rocksdb::Status closed = in.db->Close();
    delete in.db;
    in.db = nullptr;
    if (result.ok() && !flushed.ok()) result = FromRocks(flushed, "flush on close");
    if (result.ok() && !closed.ok()) result = FromRocks(closed, "close RocksDB");
  }
  live_.store(nullptr);
  instances_.clear();
  return result;
}

absl::Status Store::Commit(const WriteSet& writes, Durability durability) {
  if (writes.Empty()) return absl::OkStatus();
  if (absl::Status allowed = WritesAllowed(); !allowed.ok()) return allowed;
  rocksdb::WriteBatch batch;
  for (const auto& op : writes.ops_) {
    rocksdb::Status s = op.merge   ? batch.Merge(live().Handle(op.cf), op.key, *op.value)
                        : op.value ? batch.Put(live().Handle(op.cf), op.key, *op.value)
                                   : batch.Delete(live().Handle(op.cf), op.key);
    if (!s.ok()) return FromRocks(s, "build write batch");
  }
  // Never sync=true here: the WAL-sync thread does every fsync, so a commit
  // never holds RocksDB's write group (and the commits behind it) for one.
  LOYALTY_RETURN_IF_ERROR_ROCKS(live().db->Write(rocksdb::WriteOptions(), &batch), "commit");
  if (durability == Durability::kSynced) return SyncWal();
  return absl::OkStatus();
}

absl::Status Store::SyncWal() {
  std::promise<absl::Status> synced;
  std::future<absl::Status> result = synced.get_future();
  WhenDurable([&synced](absl::Status s) { synced.set_value(std::move(s)); });
  return result.get();
}

absl::StatusOr<std::string> Store::Get(Cf cf, std::string_view key) const {
  std::string value;
  rocksdb::Status s = live().db->Get(rocksdb::ReadOptions(), live().Handle(cf), key, &value);
  if (s.IsNotFound()) return absl::NotFoundError(CfName(cf));
  if (!s.ok()) return FromRocks(s, loyalty::StrCat("read ", CfName(cf)));
  return value;
}

absl::Status Store::CorruptValue(Cf cf, std::string_view key) const {
  return absl::DataLossError(loyalty::StrCat("unparseable value in ", CfName(cf), " at key ",
                                          absl::CHexEscape(absl::string_view(key.data(), key.size()))));
}

std::unique_ptr<Store::Snapshot> Store::GetSnapshot() const {
  rocksdb::DB* db = live().db;
  return std::unique_ptr<Snapshot>(new Snapshot(std::make_unique<Snapshot::Impl>(Snapshot::Impl{db, db->GetSnapshot()})));
}

std::unique_ptr<Cursor> Store::NewCursor(Cf cf, const Snapshot* snapshot) const {
  const Instance* in = &live();
  rocksdb::ReadOptions options;
  if (snapshot != nullptr) {
    // A snapshot taken before a reopen reads the instance it came from
    // (kept open until Close), so a reader spanning the reopen sees one time.
    if (snapshot->impl_->db != in->db) {
      std::lock_guard<std::mutex> lock(instances_mu_);
      for (const auto& i : instances_) {
        if (i->db == snapshot->impl_->db) in = i.get();
      }
    }
    assert(snapshot->impl_->db == in->db);
    options.snapshot = snapshot->impl_->snapshot;
  }
  auto impl = std::make_unique<Cursor::Impl>();
  impl->it.reset(in->db->NewIterator(options, in->Handle(cf)));
  return std::unique_ptr<Cursor>(new Cursor(std::move(impl)));
}

absl::StatusOr<std::vector<std::pair<std::string, int64_t>>> Store::ReadCounters() const {
  std::vector<std::pair<std::string, int64_t>> out;
  auto it = NewCursor(Cf::kCounters);
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    const std::optional<int64_t> value = DecodeCounter(it->value());
    if (!value) {
      return absl::DataLossError(loyalty::StrCat("counter ", it->key(), ": value of ", it->value().size(),
                                                 " bytes, not 8"));
    }
    out.emplace_back(std::string(it->key()), *value);
  }
  if (absl::Status read = it->status("read counters"); !read.ok()) return read;
  return out;
}

absl::StatusOr<std::string> Store::Checkpoint(std::string_view name) {
  const bool name_ok = !name.empty() && name.size() <= 64 && name[0] != '.' &&
                       std::all_of(name.begin(), name.end(), [](char c) {
                         return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                                c == '.' || c == '_' || c == '-';
                       });
  if (!name_ok) {
    return absl::InvalidArgumentError(
        "name: must be 1 to 64 characters of A-Z a-z 0-9 . _ - not starting with '.' (a checkpoint is a folder "
        "of the server's checkpoint folder)");
  }
  std::error_code ec;
  std::filesystem::create_directories(checkpoint_dir_, ec);
  if (ec) {
    return absl::UnavailableError(
        loyalty::StrCat("checkpoint: cannot create the checkpoint folder ", checkpoint_dir_, ": ", ec.message()));
  }
  const std::string dir = loyalty::StrCat(checkpoint_dir_, "/", name);
  if (std::filesystem::exists(dir, ec)) {
    return absl::AlreadyExistsError(loyalty::StrCat("name: a checkpoint named ", name, " exists"));
  }
  rocksdb::Checkpoint* raw = nullptr;
  // A checkpoint writes (a MANIFEST copy, a flush): not on a nearly full disk.
  if (absl::Status allowed = WritesAllowed(); !allowed.ok()) return allowed;
  rocksdb::Status s = rocksdb::Checkpoint::Create(live().db, &raw);
  if (!s.ok()) return FromRocks(s, "create checkpoint object");
  std::unique_ptr<rocksdb::Checkpoint> checkpoint(raw);
  if (absl::Status made = FromRocks(checkpoint->CreateCheckpoint(dir), loyalty::StrCat("checkpoint to ", dir));
      !made.ok()) {
    return made;
  }
  return dir;
}

}  // namespace loyalty::storage
