// Unit tests of the member cache (services/loyalty/member_cache.h): a reader
// can never put back an older state than a lane's Put, and memory is bounded.
#include "services/loyalty/member_cache.h"

#include <gtest/gtest.h>

#include <string>

namespace loyalty {
namespace {

MemberPtr MakeMember(const std::string& id, uint64_t last_event_seq, size_t batches = 0) {
  auto m = std::make_shared<Member>();
  m->record.set_member_id(id);
  m->record.set_last_event_seq(last_event_seq);
  m->state.batches.resize(batches);
  return m;
}

// A miss hands out a ticket; what the reader read is kept if nothing was Put.
TEST(MemberCacheTest, MissThenInsertIsFound) {
  MemberCache cache(1 << 20);
  auto miss = cache.Find("m-1");
  EXPECT_EQ(miss.member, nullptr);
  cache.Insert(MakeMember("m-1", 5), miss.ticket);
  auto hit = cache.Find("m-1");
  ASSERT_NE(hit.member, nullptr);
  EXPECT_EQ(hit.member->record.last_event_seq(), 5u);
}

// A reader that read storage before a lane's commit must not overwrite the
// lane's newer state, even if that entry was evicted meanwhile.
TEST(MemberCacheTest, StaleReaderInsertIsDropped) {
  MemberCache cache(1 << 20);
  auto miss = cache.Find("m-1");              // reader looks, misses
  cache.Put(MakeMember("m-1", 7));            // lane commits event 7
  cache.Insert(MakeMember("m-1", 6), miss.ticket);  // reader read event 6's state
  EXPECT_EQ(cache.Find("m-1").member->record.last_event_seq(), 7u);

  // Same when the lane's entry is gone again before the reader comes back:
  // tiny cache, a Put of another member in the same shard evicts it.
  MemberCache tiny(64 * 2000);  // ~2000 bytes per shard
  auto miss2 = tiny.Find("m-2");
  tiny.Put(MakeMember("m-2", 9, 100));  // bigger than a shard: evicted at once
  tiny.Insert(MakeMember("m-2", 8), miss2.ticket);
  EXPECT_EQ(tiny.Find("m-2").member, nullptr);
}

// Put always replaces what is there.
TEST(MemberCacheTest, PutReplaces) {
  MemberCache cache(1 << 20);
  cache.Put(MakeMember("m-1", 1));
  cache.Put(MakeMember("m-1", 2));
  EXPECT_EQ(cache.Find("m-1").member->record.last_event_seq(), 2u);
  EXPECT_EQ(cache.entries(), 1u);
}

// The cache never holds more than its capacity; the least recently used go.
TEST(MemberCacheTest, BoundedByBytes) {
  const size_t capacity = 256 * 1024;
  MemberCache cache(capacity);
  for (int i = 0; i < 10000; ++i) cache.Put(MakeMember("m-" + std::to_string(i), 1, 20));
  EXPECT_LE(cache.bytes(), capacity);
  EXPECT_GT(cache.entries(), 0u);
  EXPECT_LT(cache.entries(), 10000u);
  EXPECT_NE(cache.Find("m-9999").member, nullptr);  // the newest stays
  EXPECT_EQ(cache.Find("m-0").member, nullptr);     // the oldest went
}

// Capacity 0 keeps nothing: every read goes to storage.
TEST(MemberCacheTest, ZeroCapacityKeepsNothing) {
  MemberCache cache(0);
  cache.Put(MakeMember("m-1", 1));
  EXPECT_EQ(cache.Find("m-1").member, nullptr);
  EXPECT_EQ(cache.bytes(), 0u);
}

}  // namespace
}  // namespace loyalty
