// services/loyalty/member_cache.h: recently used members, decoded, in memory.
//
// Every event and every read needs a member's state. Reading it from RocksDB
// means a lookup, a protobuf parse and a conversion into the engine's values
// on every call; for a regular customer with a long history that was the
// largest cost of a sale and of a member read (docs/BENCHMARKS.md). The cache
// keeps the decoded form (an immutable Member shared by readers), bounded in
// bytes, least recently used out first.
//
// Consistency: only a member's lane changes the member, and it calls Put
// after each successful commit, which always replaces the entry. Readers on
// other threads that miss read RocksDB and Insert what they read only if no
// Put reached the same shard since they looked (their "ticket"): a reader can
// never put back a state older than one a lane has put.
//
// Thread-safety: all methods are safe to call concurrently.
#pragma once

#include <atomic>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "loyalty/internal/records.pb.h"
#include "services/loyalty/engine/member.h"

namespace loyalty {

// One member as last committed.
struct Member {
  internal::MemberRecord record;  // everything but `engine`, which is cleared
  engine::MemberState state;      // the record's `engine` field, decoded
};
using MemberPtr = std::shared_ptr<const Member>;

// Approximate heap bytes of `member` (what the cache's bound counts).
size_t MemoryOf(const Member& member);

class MemberCache {
 public:
  // capacity_bytes 0: caches nothing (every read goes to storage).
  explicit MemberCache(size_t capacity_bytes);

  struct Lookup {
    MemberPtr member;     // null on a miss
    uint64_t ticket = 0;  // on a miss: pass to Insert
  };
  Lookup Find(std::string_view member_id);
  // A member read from storage after a missed Find; kept unless a Put to the
  // same shard happened after the Find.
  void Insert(MemberPtr member, uint64_t ticket);
  // The member's state after a commit, from its lane.
  void Put(MemberPtr member);

  size_t bytes() const;
  size_t entries() const;
  // Finds that found the member, and that did not, since start.
  uint64_t hits() const { return hits_.load(std::memory_order_relaxed); }
  uint64_t misses() const { return misses_.load(std::memory_order_relaxed); }

 private:
  struct Entry {
    MemberPtr member;
    size_t bytes = 0;
    std::list<std::string>::iterator lru;  // position in Shard::lru (front: newest)
  };
  // Lets the map be searched with a string_view (no allocation per lookup).
  struct IdHash {
    using is_transparent = void;
    size_t operator()(std::string_view id) const { return std::hash<std::string_view>{}(id); }
  };
  struct Shard {
    mutable std::mutex mu;
    std::unordered_map<std::string, Entry, IdHash, std::equal_to<>> entries;
    std::list<std::string> lru;
    size_t bytes = 0;
    uint64_t puts = 0;  // the tickets
  };
  static constexpr size_t kShards = 64;
  Shard& ShardOf(std::string_view member_id);
  // Under the shard's lock: stores `member`, then evicts down to the bound.
  void StoreLocked(Shard& shard, MemberPtr member);

  const size_t capacity_per_shard_;
  std::atomic<uint64_t> hits_{0};
  std::atomic<uint64_t> misses_{0};
  std::vector<Shard> shards_;
};

}  // namespace loyalty
