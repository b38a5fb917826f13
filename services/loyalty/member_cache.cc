#include "services/loyalty/member_cache.h"

#include <cassert>
#include <functional>

namespace loyalty {

size_t MemoryOf(const Member& m) {
  const engine::MemberState& s = m.state;
  size_t bytes = sizeof(Member) + m.record.SpaceUsedLong();
  bytes += s.batches.capacity() * sizeof(engine::Batch);
  bytes += s.credits.capacity() * sizeof(engine::CreditDay);
  bytes += s.stage_history.capacity() * sizeof(engine::StageChange);
  for (const auto& c : s.categories) bytes += sizeof(c) + c.category.capacity();
  // std::map nodes: about 48 bytes of node plus the key.
  for (const auto& [k, v] : s.offer_uses) bytes += 48 + k.capacity();
  for (const auto& [k, v] : s.punches) bytes += 48 + k.capacity();
  for (const auto& [k, v] : s.offer_first_used) bytes += 48 + k.capacity();
  return bytes;
}

MemberCache::MemberCache(size_t capacity_bytes)
    : capacity_per_shard_(capacity_bytes / kShards), shards_(kShards) {}

MemberCache::Shard& MemberCache::ShardOf(std::string_view member_id) {
  return shards_[std::hash<std::string_view>{}(member_id) % kShards];
}

MemberCache::Lookup MemberCache::Find(std::string_view member_id) {
  Shard& shard = ShardOf(member_id);
  std::lock_guard<std::mutex> lock(shard.mu);
  auto it = shard.entries.find(member_id);
  if (it == shard.entries.end()) {
    misses_.fetch_add(1, std::memory_order_relaxed);
    return {nullptr, shard.puts};
  }
  hits_.fetch_add(1, std::memory_order_relaxed);
  shard.lru.splice(shard.lru.begin(), shard.lru, it->second.lru);
  return {it->second.member, 0};
}

void MemberCache::Insert(MemberPtr member, uint64_t ticket) {
  assert(member != nullptr);
  Shard& shard = ShardOf(member->record.member_id());
  std::lock_guard<std::mutex> lock(shard.mu);
  // A Put since the Find may hold a newer state (or be about to be undone
  // by eviction): what the reader read may be older, so it is not kept.
  if (shard.puts != ticket || shard.entries.count(member->record.member_id()) > 0) return;
  StoreLocked(shard, std::move(member));
}

void MemberCache::Put(MemberPtr member) {
  assert(member != nullptr);
  Shard& shard = ShardOf(member->record.member_id());
  std::lock_guard<std::mutex> lock(shard.mu);
  ++shard.puts;
  StoreLocked(shard, std::move(member));
}

void MemberCache::StoreLocked(Shard& shard, MemberPtr member) {
  if (capacity_per_shard_ == 0) return;
  const size_t bytes = MemoryOf(*member);
  const std::string& id = member->record.member_id();
  auto it = shard.entries.find(id);
  if (it != shard.entries.end()) {
    shard.bytes -= it->second.bytes;
    it->second.member = std::move(member);
    it->second.bytes = bytes;
    shard.lru.splice(shard.lru.begin(), shard.lru, it->second.lru);
  } else {
    shard.lru.push_front(id);
    shard.entries.emplace(id, Entry{std::move(member), bytes, shard.lru.begin()});
  }
  shard.bytes += bytes;
  while (shard.bytes > capacity_per_shard_ && !shard.lru.empty()) {
    auto victim = shard.entries.find(shard.lru.back());
    assert(victim != shard.entries.end());
    shard.bytes -= victim->second.bytes;
    shard.entries.erase(victim);
    shard.lru.pop_back();
  }
}

size_t MemberCache::bytes() const {
  size_t total = 0;
  for (const auto& s : shards_) {
    std::lock_guard<std::mutex> lock(s.mu);
    total += s.bytes;
  }
  return total;
}

size_t MemberCache::entries() const {
  size_t total = 0;
  for (const auto& s : shards_) {
    std::lock_guard<std::mutex> lock(s.mu);
    total += s.entries.size();
  }
  return total;
}

}  // namespace loyalty
