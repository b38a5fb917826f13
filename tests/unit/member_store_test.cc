// Unit tests of the stored member record (services/loyalty/member_store.h):
// CommitMemberChanges writes the record and the engine state as one message
// (the state encoded on an arena and appended), and Members::Read decodes it
// back to the same state, also when the state outgrows the arena's first
// (stack) block.
#include "services/loyalty/member_store.h"

#include <gtest/gtest.h>
#include <google/protobuf/util/message_differencer.h>

#include <string>

#include "services/loyalty/codec.h"
#include "storage/keys.h"
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

}  // namespace
}  // namespace loyalty
