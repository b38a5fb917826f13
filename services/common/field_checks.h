// services/common/field_checks.h: the checks every operation shares for the
// fields of a request: identifiers, card numbers, phones, currencies and
// transaction references. A failed check is INVALID_ARGUMENT whose message
// names the field path and the reason ("member_id: is required").
//
// Thread-safety: all functions are pure.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "absl/status/status.h"
#include "google/protobuf/timestamp.pb.h"
#include "loyalty/v1/common.pb.h"

namespace loyalty {

inline constexpr size_t kMaxIdBytes = 64;
inline constexpr size_t kMaxReasonBytes = 256;
// A sale's total, and so any amount that proves a sale (a claimed receipt).
inline constexpr int64_t kMaxSaleTotalMinor = 10'000'000'000;

// INVALID_ARGUMENT "<field>: <reason>".
absl::Status FieldError(std::string_view field, std::string_view reason);

// 1..64 characters of A-Z a-z 0-9 . _ : -
absl::Status ValidateId(std::string_view field, std::string_view value);
absl::Status ValidateTransactionRef(std::string_view field, const v1::TransactionRef& ref);
// Exactly one of member_id, card_number or phone, each valid.
absl::Status ValidateMemberIdentifier(std::string_view field, const v1::MemberIdentifier& member);
absl::Status ValidateCardNumber(std::string_view field, std::string_view card);
absl::Status ValidatePhone(std::string_view field, std::string_view phone);
absl::Status ValidateCurrency(std::string_view field, std::string_view currency);

// Every time the program accepts lies in 2000-01-01 .. 2100-01-01 (UTC), so no
// arithmetic on it can overflow and no typo years away is kept.
inline constexpr int64_t kMinTimeSeconds = 946'684'800;
inline constexpr int64_t kMaxTimeSeconds = 4'102'444'800;
absl::Status ValidateTimestamp(std::string_view field, const google::protobuf::Timestamp& t);
// "MM-DD", a day that exists in some year (02-29 included).
absl::Status ValidateBirthday(std::string_view field, std::string_view mm_dd);

}  // namespace loyalty
