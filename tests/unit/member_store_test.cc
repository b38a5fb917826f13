// Unit tests of the stored member record (services/loyalty/member_store.h):
// CommitMemberChanges writes the record and the engine state as one message
// (the state encoded on an arena and appended), and Members::Read decodes it
// back to the same state, also when the state outgrows the arena's first
// (stack) block; the packed batch and credit-day columns round-trip every
// value, records from before them still read, and damaged ones are
// DATA_LOSS.
#include "services/loyalty/member_store.h"

#include <gtest/gtest.h>
#include <google/protobuf/util/message_differencer.h>

#include <cstdint>
#include <limits>
#include <string>
#include <tuple>

#include "services/loyalty/codec.h"
#include "storage/keys.h"
#include "tests/support/legacy_records.h"
#include "tests/support/temp_dir.h"

namespace loyalty {
namespace {

using google::protobuf::util::MessageDifferencer;

// A member with `batches` points batches and some of everything else.
Member MakeMember(int batches) {
  Member m;
  m.record.set_member_id("m-1");
  m.record.set_display_name("Ada");
  m.record.set_card_number("4000123412341234");
  m.record.mutable_enrolled_at()->set_seconds(1'700'000'000);
  engine::MemberState& s = m.state;
  s.enrolled_at = 1'700'000'000;
  int64_t total = 0;
  for (int i = 0; i < batches; ++i) {
    const int64_t at = 1'700'000'000 + i * 3600;
    s.batches.push_back({static_cast<uint64_t>(i + 1), at, at + 86400, at + 365 * 86400, 10 + i, 5 + i});
    total += 5 + i;
  }
  for (int d = 0; d < 300; ++d) s.credits.push_back({19'700 + d, 1000 + d, 1});
  s.categories.push_back({"coffee-and-a-longer-category-name", 1'700'000'100, 4200});
  s.stage_history.push_back({0, 2, 1'700'000'200});
  s.offer_uses["winback"] = 2;
  s.punches["coffee-card"] = 7;
  s.birthday_mmdd = "03-14";
  s.tier = 1;
  // The record's total agrees with the batches (CommitMemberChanges asserts it).
  m.record.set_ledger_total_points(total);
  return m;
}

void CommitAndCheck(int batches) {
  loyalty::testing::TempDir dir;
  auto store = storage::Store::Open({.path = dir.Sub("db")});
  ASSERT_TRUE(store.ok()) << store.status();

  Member member = MakeMember(batches);
  const internal::MemberEngineState expected_state = codec::ToProto(member.state);
  storage::WriteSet writes;
  CommitMemberChanges(member, writes, /*seq=*/42, {}, LedgerCause{});
  ASSERT_TRUE((*store)->Commit(writes, storage::Durability::kSynced).ok());
  EXPECT_FALSE(member.record.has_engine()) << "the in-memory record keeps the state decoded only";

  // As stored: one record, identity fields and state together.
  auto stored = ReadMember(**store, "m-1");
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_EQ(stored->display_name(), "Ada");
  EXPECT_EQ(stored->card_number(), "4000123412341234");
  EXPECT_EQ(stored->last_event_seq(), 42u);
  EXPECT_EQ(stored->ledger_total_points(), member.record.ledger_total_points());
  EXPECT_TRUE(MessageDifferencer::Equals(stored->engine(), expected_state));

  // Decoded through Members (no cache: every read parses the record).
  Members members(**store, /*cache_bytes=*/0);
  auto read = members.Read("m-1");
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_FALSE((*read)->record.has_engine());
  EXPECT_EQ((*read)->record.display_name(), "Ada");
  EXPECT_EQ((*read)->state.batches.size(), static_cast<size_t>(batches));
  EXPECT_TRUE(MessageDifferencer::Equals(codec::ToProto((*read)->state), expected_state));

  EXPECT_TRUE(absl::IsNotFound(members.Read("m-2").status()));
}

TEST(MemberStoreTest, RecordAndStateRoundTrip) { CommitAndCheck(3); }

// Thousands of batches: the state no longer fits the arena's first block.
TEST(MemberStoreTest, LongHistoryRoundTrip) { CommitAndCheck(5000); }

// The packed columns round-trip every value exactly: ids and earn times
// going backwards (as they do in spending order), a never-expiring batch
// (expires_at 0), and the extremes of the types. The codec keeps the order
// it is given; this list is not in spending order.
TEST(MemberStoreTest, PackedColumnsRoundTripEveryValue) {
  constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  engine::MemberState s;
  s.batches = {
      {900, 1'700'000'000, 1'700'086'400, 1'731'536'000, 50, 20},
      {17, 1'600'000'000, 1'600'000'000, 1'731'536'001, 7, 7},  // older, expires later
      {std::numeric_limits<uint64_t>::max(), kMax, kMin, 0, kMax, kMin},
      {0, kMin, kMax, kMin, 0, 0},
  };
  s.credits = {{-5, kMax, 3}, {19'700, -1, std::numeric_limits<int32_t>::max()}, {kMax, kMin, -7}};
  const engine::MemberState back = codec::FromProto(codec::ToProto(s));
  ASSERT_EQ(back.batches.size(), s.batches.size());
  for (size_t i = 0; i < s.batches.size(); ++i) {
    const engine::Batch& a = s.batches[i];
    const engine::Batch& b = back.batches[i];
    EXPECT_EQ(std::tie(a.id, a.earned_at, a.available_at, a.expires_at, a.points, a.remaining),
              std::tie(b.id, b.earned_at, b.available_at, b.expires_at, b.points, b.remaining))
        << "batch " << i;
  }
  ASSERT_EQ(back.credits.size(), s.credits.size());
  for (size_t i = 0; i < s.credits.size(); ++i) {
    EXPECT_EQ(std::tie(s.credits[i].day, s.credits[i].spend_minor, s.credits[i].visits),
              std::tie(back.credits[i].day, back.credits[i].spend_minor, back.credits[i].visits))
        << "credit day " << i;
  }
}

// A record written before the packed columns (one submessage per batch and
// per day), stored and read back through Members, is the same member; one
// that mixes both forms is DATA_LOSS.
TEST(MemberStoreTest, RecordWithoutPackedColumnsStillReads) {
  loyalty::testing::TempDir dir;
  auto store = storage::Store::Open({.path = dir.Sub("db")});
  ASSERT_TRUE(store.ok()) << store.status();
  const Member member = MakeMember(40);
  internal::MemberRecord old_record = member.record;
  *old_record.mutable_engine() = loyalty::testing::LegacyEngineState(member.state);
  ASSERT_GT(old_record.engine().batches_size(), 0);
  ASSERT_EQ(old_record.engine().batch_columns_size(), 0);
  storage::WriteSet writes;
  writes.PutRaw(storage::Cf::kMembers, storage::MemberKey("m-1"), old_record.SerializeAsString());
  ASSERT_TRUE((*store)->Commit(writes, storage::Durability::kSynced).ok());

  Members members(**store, 0);
  auto read = members.Read("m-1");
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ((*read)->record.display_name(), "Ada");
  EXPECT_TRUE(MessageDifferencer::Equals(codec::ToProto((*read)->state), codec::ToProto(member.state)));

  internal::MemberRecord mixed = old_record;
  codec::ToProto(member.state, mixed.mutable_engine());
  *mixed.mutable_engine()->add_batches() = old_record.engine().batches(0);
  storage::WriteSet mixed_writes;
  mixed_writes.PutRaw(storage::Cf::kMembers, storage::MemberKey("m-1"), mixed.SerializeAsString());
  ASSERT_TRUE((*store)->Commit(mixed_writes, storage::Durability::kSynced).ok());
  EXPECT_TRUE(absl::IsDataLoss(members.Read("m-1").status()));
}

// What the packing buys: a regular's batches (one sale an hour, points
// pending a day, expiring after a year) take at most 16 bytes each, where a
// submessage per batch took about 30.
TEST(MemberStoreTest, PackedBatchesAreCompact) {
  const Member few = MakeMember(10);
  const Member many = MakeMember(1010);
  internal::MemberEngineState a = codec::ToProto(few.state);
  internal::MemberEngineState b = codec::ToProto(many.state);
  const double per_batch = static_cast<double>(b.ByteSizeLong() - a.ByteSizeLong()) / 1000;
  EXPECT_LE(per_batch, 16.0);
  EXPECT_GT(per_batch, 4.0);  // six values, each at least a byte
}

// Bytes that are not a record are DATA_LOSS naming the member, not a crash.
TEST(MemberStoreTest, CorruptRecordIsDataLoss) {
  loyalty::testing::TempDir dir;
  auto store = storage::Store::Open({.path = dir.Sub("db")});
  ASSERT_TRUE(store.ok()) << store.status();
  storage::WriteSet writes;
  writes.PutRaw(storage::Cf::kMembers, storage::MemberKey("m-1"), std::string("\xff\xff\xff", 3));
  ASSERT_TRUE((*store)->Commit(writes, storage::Durability::kSynced).ok());
  Members members(**store, 0);
  const absl::Status s = members.Read("m-1").status();
  EXPECT_TRUE(absl::IsDataLoss(s)) << s;
  EXPECT_NE(s.message().find("m-1"), std::string::npos) << s;
}

// A record whose packed batches are cut short (five values of a six-value
// batch) is DATA_LOSS too: the balance would silently lose the batch.
TEST(MemberStoreTest, CutShortColumnsAreDataLoss) {
  loyalty::testing::TempDir dir;
  auto store = storage::Store::Open({.path = dir.Sub("db")});
  ASSERT_TRUE(store.ok()) << store.status();
  internal::MemberRecord record;
  record.set_member_id("m-1");
  for (int64_t v : {1, 1'700'000'000, 0, 0, 10}) record.mutable_engine()->add_batch_columns(v);
  storage::WriteSet writes;
  writes.PutRaw(storage::Cf::kMembers, storage::MemberKey("m-1"), record.SerializeAsString());
  ASSERT_TRUE((*store)->Commit(writes, storage::Durability::kSynced).ok());
  Members members(**store, 0);
  const absl::Status s = members.Read("m-1").status();
  EXPECT_TRUE(absl::IsDataLoss(s)) << s;
  EXPECT_NE(s.message().find("m-1"), std::string::npos) << s;
  EXPECT_TRUE(absl::IsDataLoss(ReadMember(**store, "m-1").status()));
}

}  // namespace
}  // namespace loyalty
