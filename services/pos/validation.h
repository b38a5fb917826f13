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

namespace loyalty::pos {

inline constexpr size_t kMaxIdBytes = 64;
inline constexpr int kMaxLinesPerSale = 200;
inline constexpr int kMaxTendersPerSale = 20;
inline constexpr int kMaxLinesPerReturn = 200;
inline constexpr int32_t kMaxQuantity = 9999;
inline constexpr int64_t kMaxUnitPriceMinor = 100'000'000;
inline constexpr int64_t kMaxSaleTotalMinor = 10'000'000'000;
inline constexpr size_t kMaxReasonBytes = 256;
inline constexpr int kMaxBacklogEvents = 10'000;
inline constexpr int kMaxCodesPerSale = 10;
inline constexpr int64_t kMaxFutureSkewSeconds = 5 * 60;
inline constexpr int64_t kMaxEventAgeSeconds = 400LL * 24 * 3600;

// `now_unix_seconds` bounds the event time (clock skew and backlog age).
absl::Status ValidateSale(const v1::Sale& sale, int64_t now_unix_seconds);
absl::Status ValidateReturn(const v1::Return& ret, int64_t now_unix_seconds);
absl::Status ValidateVoid(const v1::Void& v, int64_t now_unix_seconds);

// Building blocks, shared with the member and admin services.
absl::Status ValidateId(std::string_view field, std::string_view value);
absl::Status ValidateTransactionRef(std::string_view field, const v1::TransactionRef& ref);
absl::Status ValidateMemberIdentifier(std::string_view field, const v1::MemberIdentifier& member);
absl::Status ValidateCardNumber(std::string_view field, std::string_view card);
absl::Status ValidatePhone(std::string_view field, std::string_view phone);
absl::Status ValidateCurrency(std::string_view field, std::string_view currency);
// Basket lines: 1..200, each valid (sku, category, quantity, price, discount).
absl::Status ValidateLines(std::string_view field,
                           const google::protobuf::RepeatedPtrField<v1::LineItem>& lines);

// INVALID_ARGUMENT "<field>: <reason>".
absl::Status FieldError(std::string_view field, std::string_view reason);

}  // namespace loyalty::pos
