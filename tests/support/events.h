// tests/support/events.h: builders for valid terminal events, so each test
// states only what it changes.
#pragma once

#include <string>
#include <vector>

#include "loyalty/v1/pos.pb.h"

namespace loyalty::testing {

// 2026-11-01T12:00:00Z, the tests' default "now".
inline constexpr int64_t kNow = 1793534400;

struct LineSpec {
  int32_t quantity;
  int64_t unit_price_minor;
  int64_t discount_minor = 0;
  std::string category = "coffee";
};

inline v1::TransactionRef Ref(const std::string& txn, const std::string& store = "store-1",
                              const std::string& terminal = "t-1") {
  v1::TransactionRef r;
  r.set_store_id(store);
  r.set_terminal_id(terminal);
  r.set_transaction_id(txn);
  return r;
}

inline v1::Sale MakeSale(const std::string& txn, const std::string& member_id,
                         const std::vector<LineSpec>& lines, int64_t at = kNow,
                         const std::string& store = "store-1") {
  v1::Sale s;
  *s.mutable_ref() = Ref(txn, store);
  s.mutable_occurred_at()->set_seconds(at);
  if (!member_id.empty()) s.mutable_member()->set_member_id(member_id);
  s.set_currency("EUR");
  int64_t total = 0;
  int n = 0;
  for (const auto& l : lines) {
    auto* li = s.add_lines();
    li->set_sku("sku-" + std::to_string(n++));
    li->set_category(l.category);
    li->set_quantity(l.quantity);
    li->set_unit_price_minor(l.unit_price_minor);
    li->set_discount_minor(l.discount_minor);
    total += l.quantity * l.unit_price_minor - l.discount_minor;
  }
  s.set_total_minor(total);
  return s;
}

inline v1::Return MakeReturn(const std::string& txn, const v1::TransactionRef& original,
                             const std::vector<std::pair<uint32_t, int32_t>>& lines,
                             int64_t at = kNow + 60) {
  v1::Return r;
  *r.mutable_ref() = Ref(txn, original.store_id());
  r.mutable_occurred_at()->set_seconds(at);
  *r.mutable_original() = original;
  for (auto [index, qty] : lines) {
    auto* l = r.add_lines();
    l->set_line_index(index);
    l->set_quantity(qty);
  }
  return r;
}

inline v1::Void MakeVoid(const std::string& txn, const v1::TransactionRef& original,
                         int64_t at = kNow + 30) {
  v1::Void v;
  *v.mutable_ref() = Ref(txn, original.store_id());
  v.mutable_occurred_at()->set_seconds(at);
  *v.mutable_original() = original;
  v.set_reason("cashier error");
  return v;
}

}  // namespace loyalty::testing
