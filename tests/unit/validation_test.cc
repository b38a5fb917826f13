// Unit tests of terminal event validation: each rule gives INVALID_ARGUMENT
// naming the field and the reason.
#include "services/pos/validation.h"

#include <functional>

#include <gtest/gtest.h>

#include "tests/support/events.h"

namespace loyalty::pos {
namespace {

using loyalty::testing::kNow;
using loyalty::testing::MakeReturn;
using loyalty::testing::MakeSale;
using loyalty::testing::MakeVoid;
using loyalty::testing::Ref;

v1::Sale GoodSale() { return MakeSale("tx-1", "m-1", {{2, 350}, {1, 199, 50}}); }

// Applies `mutate` to a valid sale and returns the validation message.
std::string SaleError(const std::function<void(v1::Sale&)>& mutate) {
  v1::Sale s = GoodSale();
  mutate(s);
  absl::Status st = ValidateSale(s, kNow);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << st;
  return std::string(st.message());
}

// The builders' sale is valid; so are anonymous sales and tenders that add up.
TEST(ValidationTest, ValidSalesPass) {
  EXPECT_TRUE(ValidateSale(GoodSale(), kNow).ok());
  v1::Sale anonymous = GoodSale();
  anonymous.clear_member();
  EXPECT_TRUE(ValidateSale(anonymous, kNow).ok());
  v1::Sale tendered = GoodSale();
  auto* t = tendered.add_tenders();
  t->set_type(v1::TENDER_TYPE_CARD);
  t->set_amount_minor(tendered.total_minor());
  EXPECT_TRUE(ValidateSale(tendered, kNow).ok());
}

// Each identifier rule names its field.
TEST(ValidationTest, IdentifiersAreChecked) {
  EXPECT_EQ(SaleError([](v1::Sale& s) { s.mutable_ref()->clear_store_id(); }),
            "sale.ref.store_id: is required");
  EXPECT_EQ(SaleError([](v1::Sale& s) { s.mutable_ref()->set_terminal_id(std::string(65, 'a')); }),
            "sale.ref.terminal_id: must be at most 64 characters, got 65");
  EXPECT_EQ(SaleError([](v1::Sale& s) { s.mutable_ref()->set_transaction_id("a b"); }),
            "sale.ref.transaction_id: may only contain A-Z a-z 0-9 . _ : -");
  EXPECT_EQ(SaleError([](v1::Sale& s) { s.mutable_member()->set_card_number("12ab"); }),
            "sale.member.card_number: must be 4 to 32 digits");
  EXPECT_EQ(SaleError([](v1::Sale& s) { s.mutable_member()->set_phone("0151123"); }),
            "sale.member.phone: must be E.164: '+' then 8 to 15 digits");
  EXPECT_EQ(SaleError([](v1::Sale& s) { s.mutable_member()->clear_kind(); }),
            "sale.member: one of member_id, card_number or phone is required");
}

// Event time: required, not in the future beyond skew, not too old.
TEST(ValidationTest, EventTimeIsBounded) {
  EXPECT_EQ(SaleError([](v1::Sale& s) { s.clear_occurred_at(); }), "sale.occurred_at: is required");
  EXPECT_EQ(SaleError([](v1::Sale& s) { s.mutable_occurred_at()->set_seconds(kNow + 3600); }),
            "sale.occurred_at: is 3600 s in the future (more than 300 s of clock skew)");
  EXPECT_EQ(SaleError([](v1::Sale& s) { s.mutable_occurred_at()->set_seconds(kNow - 401LL * 86400); }),
            "sale.occurred_at: is more than 400 days in the past");
  v1::Sale skewed = GoodSale();
  skewed.mutable_occurred_at()->set_seconds(kNow + 200);
  EXPECT_TRUE(ValidateSale(skewed, kNow).ok());
}

// Money and lines: currency, counts, quantity, price, discount, total.
TEST(ValidationTest, LinesAndMoneyAreChecked) {
  EXPECT_EQ(SaleError([](v1::Sale& s) { s.set_currency("eur"); }),
            "sale.currency: must be an ISO 4217 code like EUR");
  EXPECT_EQ(SaleError([](v1::Sale& s) { s.clear_lines(); }), "sale.lines: must have 1 to 200 lines, got 0");
  EXPECT_EQ(SaleError([](v1::Sale& s) {
              for (int i = 0; i < 200; ++i) *s.add_lines() = s.lines(0);
            }),
            "sale.lines: must have 1 to 200 lines, got 202");
  EXPECT_EQ(SaleError([](v1::Sale& s) { s.mutable_lines(1)->set_quantity(0); }),
            "sale.lines[1].quantity: must be between 1 and 9999, got 0");
  EXPECT_EQ(SaleError([](v1::Sale& s) { s.mutable_lines(0)->set_unit_price_minor(-1); }),
            "sale.lines[0].unit_price_minor: must be between 0 and 100000000, got -1");
  EXPECT_EQ(SaleError([](v1::Sale& s) { s.mutable_lines(1)->set_discount_minor(200); }),
            "sale.lines[1].discount_minor: must be between 0 and the line's gross amount 199, got 200");
  EXPECT_EQ(SaleError([](v1::Sale& s) { s.mutable_lines(0)->clear_sku(); }),
            "sale.lines[0].sku: is required");
  EXPECT_EQ(SaleError([](v1::Sale& s) { s.set_total_minor(s.total_minor() + 1); }),
            "sale.total_minor: must equal the sum of line net amounts 849, got 850");
}

// Tenders: typed, positive, and summing to the total.
TEST(ValidationTest, TendersAreChecked) {
  EXPECT_EQ(SaleError([](v1::Sale& s) { s.add_tenders()->set_amount_minor(849); }),
            "sale.tenders[0].type: is required");
  EXPECT_EQ(SaleError([](v1::Sale& s) {
              auto* t = s.add_tenders();
              t->set_type(v1::TENDER_TYPE_CASH);
              t->set_amount_minor(0);
            }),
            "sale.tenders[0].amount_minor: must be between 1 and 10000000000, got 0");
  EXPECT_EQ(SaleError([](v1::Sale& s) {
              auto* t = s.add_tenders();
              t->set_type(v1::TENDER_TYPE_CASH);
              t->set_amount_minor(800);
            }),
            "sale.tenders: sum to 800 but the total is 849");
}

// Returns: original required, lines once each, quantities bounded.
TEST(ValidationTest, ReturnsAreChecked) {
  v1::Return good = MakeReturn("r-1", Ref("tx-1"), {{0, 1}});
  EXPECT_TRUE(ValidateReturn(good, kNow).ok());
  v1::Return no_original = good;
  no_original.clear_original();
  EXPECT_EQ(ValidateReturn(no_original, kNow).message(), "return.original: is required");
  v1::Return twice = MakeReturn("r-1", Ref("tx-1"), {{0, 1}, {0, 1}});
  EXPECT_EQ(ValidateReturn(twice, kNow).message(), "return.lines[1].line_index: line 0 is listed twice");
  v1::Return zero = MakeReturn("r-1", Ref("tx-1"), {{0, 0}});
  EXPECT_EQ(ValidateReturn(zero, kNow).message(), "return.lines[0].quantity: must be between 1 and 9999, got 0");
  v1::Return none = MakeReturn("r-1", Ref("tx-1"), {});
  EXPECT_EQ(ValidateReturn(none, kNow).message(), "return.lines: must have 1 to 200 lines, got 0");
}

// Voids: same store only, reason bounded.
TEST(ValidationTest, VoidsAreChecked) {
  v1::Void good = MakeVoid("v-1", Ref("tx-1"));
  EXPECT_TRUE(ValidateVoid(good, kNow).ok());
  v1::Void other_store = good;
  other_store.mutable_original()->set_store_id("store-2");
  EXPECT_EQ(ValidateVoid(other_store, kNow).message(),
            "void.original.store_id: a sale can only be voided in its own store");
  v1::Void long_reason = good;
  long_reason.set_reason(std::string(257, 'x'));
  EXPECT_EQ(ValidateVoid(long_reason, kNow).message(), "void.reason: must be at most 256 bytes");
}

}  // namespace
}  // namespace loyalty::pos
