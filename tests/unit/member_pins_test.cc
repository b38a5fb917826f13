// Unit tests of member PINs (services/loyalty/member_pins.h) on a real
// RocksDB: what a PIN may be, that only a hash is stored, that wrong PINs in
// a row lock it (also across a reopen) and that setting it again unlocks it.
#include "services/loyalty/member_pins.h"

#include <gtest/gtest.h>

#include "loyalty/internal/records.pb.h"
#include "storage/keys.h"
#include "tests/support/temp_dir.h"

namespace loyalty {
namespace {

TEST(MemberPinsTest, APinIsFourToEightDigitsAndNotTheFirstOneTried) {
  for (const char* good : {"4711", "27182818", "1357", "90210", "1123"}) {
    EXPECT_TRUE(ValidatePin("pin", good).ok()) << good;
  }
  EXPECT_EQ(ValidatePin("pin", "123").message(), "pin: must be 4 to 8 digits");
  EXPECT_EQ(ValidatePin("pin", "123456789").message(), "pin: must be 4 to 8 digits");
  EXPECT_EQ(ValidatePin("pin", "12a4").message(), "pin: must be digits only");
  EXPECT_EQ(ValidatePin("pin", "47 1").message(), "pin: must be digits only");
  for (const char* easy : {"0000", "7777777", "1234", "12345678", "9876", "8901", "2109"}) {
    const absl::Status s = ValidatePin("pin", easy);
    EXPECT_TRUE(absl::IsInvalidArgument(s)) << easy;
    EXPECT_EQ(s.message(), "pin: is too easy to guess (one digit repeated, or a run such as 1234)") << easy;
  }
}

TEST(MemberPinsTest, OnlyASaltedHashIsStored) {
  loyalty::testing::TempDir dir;
  auto store = storage::Store::Open({.path = dir.Sub("db")});
  ASSERT_TRUE(store.ok()) << store.status();
  ManualClock clock(1'800'000'000);
  MemberPins pins(**store, clock);
  ASSERT_TRUE(pins.Set("m-1", "48213907").ok());
  ASSERT_TRUE(pins.Set("m-2", "48213907").ok());
  auto raw1 = (*store)->Get(storage::Cf::kMeta, storage::MemberPinKey("m-1"));
  auto raw2 = (*store)->Get(storage::Cf::kMeta, storage::MemberPinKey("m-2"));
  ASSERT_TRUE(raw1.ok() && raw2.ok());
  EXPECT_EQ(raw1->find("48213907"), std::string::npos);
  internal::MemberPinRecord r1, r2;
  ASSERT_TRUE(r1.ParseFromString(*raw1) && r2.ParseFromString(*raw2));
  EXPECT_EQ(r1.iterations(), kPinHashIterations);
  EXPECT_EQ(r1.hash().size(), 32u);
  EXPECT_NE(r1.salt(), r2.salt()) << "each PIN has its own salt";
  EXPECT_NE(r1.hash(), r2.hash()) << "the same PIN hashes differently for two members";
  EXPECT_TRUE(pins.Verify("m-1", "48213907", "till").ok());
  EXPECT_TRUE(absl::IsPermissionDenied(pins.Verify("m-1", "48213908", "till")));

  // Cleared: no PIN at all, which the till is told plainly.
  ASSERT_TRUE(pins.Set("m-1", "").ok());
  EXPECT_TRUE(absl::IsNotFound((*store)->Get(storage::Cf::kMeta, storage::MemberPinKey("m-1")).status()));
  const absl::Status none = pins.Verify("m-1", "48213907", "till");
  EXPECT_TRUE(absl::IsFailedPrecondition(none)) << none;
  EXPECT_TRUE(absl::IsInvalidArgument(pins.Set("m-1", "1111")));
  EXPECT_TRUE(absl::IsFailedPrecondition(pins.Verify("m-1", "1111", "till"))) << "a refused PIN changes nothing";
}

TEST(MemberPinsTest, WrongPinsInARowLockItAcrossARestartUntilSetAgain) {
  loyalty::testing::TempDir dir;
  ManualClock clock(1'800'000'000);
  {
    auto store = storage::Store::Open({.path = dir.Sub("db")});
    ASSERT_TRUE(store.ok()) << store.status();
    MemberPins pins(**store, clock);
    ASSERT_TRUE(pins.Set("m-1", "4711").ok());
    // Wrong, right (the count starts again), then wrong four times.
    EXPECT_EQ(pins.Verify("m-1", "4712", "till").message(), "pin: wrong; 4 more wrong and it locks");
    EXPECT_TRUE(pins.Verify("m-1", "4711", "till").ok());
    for (int i = 0; i < 4; ++i) {
      EXPECT_EQ(pins.Verify("m-1", "4712", "till").message(),
                "pin: wrong; " + std::to_string(4 - i) + " more wrong and it locks");
    }
    ASSERT_TRUE((*store)->Close().ok());
  }
  auto store = storage::Store::Open({.path = dir.Sub("db")});
  ASSERT_TRUE(store.ok()) << store.status();
  MemberPins pins(**store, clock);
  EXPECT_EQ(pins.Verify("m-1", "4712", "till").message(),
            "pin: wrong; locked now after 5 wrong PINs in a row; the member sets a new one in the app")
      << "the count survived the restart";
  const absl::Status locked = pins.Verify("m-1", "4711", "till");
  EXPECT_TRUE(absl::IsPermissionDenied(locked));
  EXPECT_EQ(locked.message(), "pin: locked after 5 wrong PINs in a row; the member sets a new one in the app");
  EXPECT_TRUE(absl::IsPermissionDenied(pins.Verify("m-1", "4711", "till"))) << "still locked";
  ASSERT_TRUE(pins.Set("m-1", "4711").ok());
  EXPECT_TRUE(pins.Verify("m-1", "4711", "till").ok()) << "set again: unlocked";
}

}  // namespace
}  // namespace loyalty
