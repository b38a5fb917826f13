// Unit tests of the RocksDB key encoding (storage/keys.h).
#include "storage/keys.h"

#include <gtest/gtest.h>

namespace loyalty::storage {
namespace {

// Event keys round-trip and sort numerically (big-endian).
TEST(KeysTest, EventKeysRoundTripAndSortNumerically) {
  EXPECT_EQ(*DecodeEventKey(EventKey(42)), 42u);
  EXPECT_LT(EventKey(255), EventKey(256));
  EXPECT_LT(EventKey(1), EventKey(uint64_t{1} << 40));
  EXPECT_EQ(EventKey(0x0102030405060708), std::string("\x01\x02\x03\x04\x05\x06\x07\x08", 8));
}

// A transaction key keeps its three parts apart, whatever they contain.
TEST(KeysTest, TxnKeyRoundTripsAndSeparatesParts) {
  auto parts = DecodeTxnKey(TxnKey("store-1", "t-9", "abc"));
  ASSERT_TRUE(parts.ok()) << parts.status();
  EXPECT_EQ(parts->store_id, "store-1");
  EXPECT_EQ(parts->terminal_id, "t-9");
  EXPECT_EQ(parts->transaction_id, "abc");
  // Length prefixes make "ab"+"c" differ from "a"+"bc".
  EXPECT_NE(TxnKey("ab", "c", "x"), TxnKey("a", "bc", "x"));
}

// Truncating any key by one byte is an exact, named error.
TEST(KeysTest, TruncatedKeysAreDataLossErrors) {
  std::string txn = TxnKey("s", "t", "x");
  auto bad = DecodeTxnKey(txn.substr(0, txn.size() - 1));
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(bad.status().message(), "bad key: truncated transaction_id");

  std::string ledger = LedgerKey("m-1", 7);
  auto bad_ledger = DecodeLedgerKey(ledger.substr(0, ledger.size() - 1));
  EXPECT_EQ(bad_ledger.status().message(), "bad key: truncated entry_id");

  EXPECT_EQ(DecodeEventKey("1234567").status().message(), "bad key: truncated event seq");
  EXPECT_EQ(DecodeEventKey("123456789").status().message(), "bad event key: 1 trailing bytes");
}

// A member's ledger keys share its prefix, sort by entry id, and no other
// member's key (even one whose id extends it) shares that prefix.
TEST(KeysTest, LedgerKeysGroupByMemberInEntryOrder) {
  const std::string prefix = LedgerPrefix("m-1");
  EXPECT_EQ(LedgerKey("m-1", 5).substr(0, prefix.size()), prefix);
  EXPECT_LT(LedgerKey("m-1", 5), LedgerKey("m-1", 6));
  EXPECT_NE(LedgerKey("m-10", 5).substr(0, prefix.size()), prefix);
  auto parts = DecodeLedgerKey(LedgerKey("m-1", 99));
  ASSERT_TRUE(parts.ok());
  EXPECT_EQ(parts->member_id, "m-1");
  EXPECT_EQ(parts->entry_id, 99u);
}

// Ledger entry ids are unique per event and index, increasing with the event.
TEST(KeysTest, LedgerEntryIdsDeriveFromEventSeq) {
  EXPECT_EQ(LedgerEntryId(1, 0), 16u);
  EXPECT_EQ(LedgerEntryId(1, 15), 31u);
  EXPECT_LT(LedgerEntryId(1, 15), LedgerEntryId(2, 0));
}

// Card and phone identifiers live in separate key spaces.
TEST(KeysTest, IdentifierKindsDoNotCollide) {
  EXPECT_NE(IdentifierKey(IdentifierKind::kCard, "1234"), IdentifierKey(IdentifierKind::kPhone, "1234"));
}

// The memtable's insert-hint prefix of a transaction key is its store and
// terminal. Keys it cannot parse, and other families, get none (0); CF sales
// is no longer written, so it gets none either.
TEST(KeysTest, InsertHintPrefixIsTheTerminal) {
  const size_t terminal_prefix = TxnKey("store-1", "t-9", "a").size() - 2;  // without "\x01a"
  EXPECT_EQ(InsertHintPrefixLength(Cf::kTxn, TxnKey("store-1", "t-9", "abc")), terminal_prefix);
  EXPECT_NE(TxnKey("store-1", "t-9", "abc").substr(0, terminal_prefix),
            TxnKey("store-1", "t-90", "abc").substr(0, terminal_prefix));

  EXPECT_EQ(InsertHintPrefixLength(Cf::kSales, TxnKey("store-1", "t-9", "x")), 0u);
  EXPECT_EQ(InsertHintPrefixLength(Cf::kEvents, EventKey(1)), 0u);
  EXPECT_EQ(InsertHintPrefixLength(Cf::kMembers, MemberKey("m-1")), 0u);
  EXPECT_EQ(InsertHintPrefixLength(Cf::kLedger, LedgerKey("m-1", 7)), 0u);
  EXPECT_EQ(InsertHintPrefixLength(Cf::kTxn, ""), 0u);
  EXPECT_EQ(InsertHintPrefixLength(Cf::kTxn, std::string("\x05s", 2)), 0u);  // length past the end
  EXPECT_EQ(InsertHintPrefixLength(Cf::kTxn, std::string("\x01s\x05t", 4)), 0u);
}

// Requests from no terminal live in the txn family under a store no
// terminal can name; counters and codes have one spelling each.
TEST(KeysTest, PseudoStoresCodesAndCountersAreInTheGrammar) {
  const std::string member = MemberRequestKey("m-1", "r-1");
  EXPECT_EQ(member, TxnKey("#member", "m-1", "r-1"));
  auto parts = DecodeTxnKey(member);
  ASSERT_TRUE(parts.ok());
  EXPECT_EQ(parts->store_id, kMemberRequestStore);
  EXPECT_EQ(AdminRequestKey("adjust", "r-1"), TxnKey("#admin", "adjust", "r-1"));
  EXPECT_NE(MemberRequestKey("adjust", "r-1"), AdminRequestKey("adjust", "r-1"));
  EXPECT_EQ(CodeKey("R-ABC123"), "R-ABC123");
  EXPECT_EQ(CounterKey(CounterKind::kOfferUsed, "coffee10"), "offer-used/coffee10");
  EXPECT_EQ(CounterKey(CounterKind::kOfferShown, "a"), "offer-shown/a");
  EXPECT_EQ(CounterKey(CounterKind::kOfferSpend, "a"), "offer-spend/a");
  EXPECT_EQ(CounterKey(CounterKind::kRewardIssued, "mug"), "reward-issued/mug");
  EXPECT_EQ(MemberPinKey("m-1"), "member-pin/m-1");
}

}  // namespace
}  // namespace loyalty::storage
