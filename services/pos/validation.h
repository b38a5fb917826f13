// services/pos/validation.h: checks every field of a terminal event before
// anything is read or written. A failed check is INVALID_ARGUMENT whose
// message names the field path and the reason, e.g.
//   "sale.lines[2].quantity: must be between 1 and 9999, got 0".
//
// The limits are the ones documented in proto/loyalty/v1/pos.proto.
// Thread-safety: all functions are pure.
#pragma once

#include <cstdint>
#include <string_view>

#include "absl/status/status.h"
#include "loyalty/v1/pos.pb.h"
#include "services/common/field_checks.h"

namespace loyalty::pos {

// The building blocks (identifiers, cards, phones, currencies, FieldError)
// are shared with the member and admin operations.
using loyalty::FieldError;
using loyalty::kMaxIdBytes;
using loyalty::kMaxReasonBytes;
using loyalty::kMaxSaleTotalMinor;
using loyalty::ValidateCardNumber;
using loyalty::ValidateCurrency;
using loyalty::ValidateId;
using loyalty::ValidateMemberIdentifier;
using loyalty::ValidatePhone;
using loyalty::ValidateTransactionRef;

inline constexpr int kMaxLinesPerSale = 200;
inline constexpr int kMaxTendersPerSale = 20;
inline constexpr int kMaxLinesPerReturn = 200;
inline constexpr int32_t kMaxQuantity = 9999;
inline constexpr int64_t kMaxUnitPriceMinor = 100'000'000;
// Events one backlog upload may carry; past it the whole upload is refused.
inline constexpr size_t kMaxBacklogEvents = 10'000;
inline constexpr int kMaxCodesPerSale = 10;
inline constexpr int64_t kMaxFutureSkewSeconds = 5 * 60;
inline constexpr int64_t kMaxEventAgeSeconds = 400LL * 24 * 3600;

// An event's time: at most 300 s ahead of `now_unix_seconds` (clock skew),
// at most 400 days behind it (backlog age); INVALID_ARGUMENT naming `field`.
absl::Status ValidateEventTime(std::string_view field, const google::protobuf::Timestamp& t, bool present,
                               int64_t now_unix_seconds);

// `now_unix_seconds` bounds the event time (clock skew and backlog age).
absl::Status ValidateSale(const v1::Sale& sale, int64_t now_unix_seconds);
absl::Status ValidateReturn(const v1::Return& ret, int64_t now_unix_seconds);
absl::Status ValidateVoid(const v1::Void& v, int64_t now_unix_seconds);

// Basket lines: 1..200, each valid (sku, category, quantity, price, discount).
absl::Status ValidateLines(std::string_view field,
                           const google::protobuf::RepeatedPtrField<v1::LineItem>& lines);

}  // namespace loyalty::pos
