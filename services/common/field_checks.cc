#include "services/common/field_checks.h"

#include "base/str_cat.h"
#include "services/common/status_macros.h"

namespace loyalty {
namespace {

bool IsIdChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         c == '.' || c == '_' || c == ':' || c == '-';
}

bool AllDigits(std::string_view s) {
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

}  // namespace

absl::Status FieldError(std::string_view field, std::string_view reason) {
  return absl::InvalidArgumentError(loyalty::StrCat(field, ": ", reason));
}

absl::Status ValidateId(std::string_view field, std::string_view value) {
  if (value.empty()) return FieldError(field, "is required");
  if (value.size() > kMaxIdBytes) {
    return FieldError(field, loyalty::StrCat("must be at most ", kMaxIdBytes, " characters, got ",
                                          value.size()));
  }
  for (char c : value) {
    if (!IsIdChar(c)) return FieldError(field, "may only contain A-Z a-z 0-9 . _ : -");
  }
  return absl::OkStatus();
}

absl::Status ValidateTransactionRef(std::string_view field, const v1::TransactionRef& ref) {
  LOYALTY_RETURN_IF_ERROR(ValidateId(loyalty::StrCat(field, ".store_id"), ref.store_id()));
  LOYALTY_RETURN_IF_ERROR(ValidateId(loyalty::StrCat(field, ".terminal_id"), ref.terminal_id()));
  return ValidateId(loyalty::StrCat(field, ".transaction_id"), ref.transaction_id());
}

absl::Status ValidateCardNumber(std::string_view field, std::string_view card) {
  if (card.size() < 4 || card.size() > 32 || !AllDigits(card)) {
    return FieldError(field, "must be 4 to 32 digits");
  }
  return absl::OkStatus();
}

absl::Status ValidatePhone(std::string_view field, std::string_view phone) {
  if (phone.size() < 9 || phone.size() > 16 || phone[0] != '+' || !AllDigits(phone.substr(1))) {
    return FieldError(field, "must be E.164: '+' then 8 to 15 digits");
  }
  return absl::OkStatus();
}

absl::Status ValidateMemberIdentifier(std::string_view field, const v1::MemberIdentifier& member) {
  switch (member.kind_case()) {
    case v1::MemberIdentifier::kMemberId:
      return ValidateId(loyalty::StrCat(field, ".member_id"), member.member_id());
    case v1::MemberIdentifier::kCardNumber:
      return ValidateCardNumber(loyalty::StrCat(field, ".card_number"), member.card_number());
    case v1::MemberIdentifier::kPhone:
      return ValidatePhone(loyalty::StrCat(field, ".phone"), member.phone());
    case v1::MemberIdentifier::KIND_NOT_SET:
      break;
  }
  return FieldError(field, "one of member_id, card_number or phone is required");
}

absl::Status ValidateCurrency(std::string_view field, std::string_view currency) {
  if (currency.size() != 3) return FieldError(field, "must be an ISO 4217 code like EUR");
  for (char c : currency) {
    if (c < 'A' || c > 'Z') return FieldError(field, "must be an ISO 4217 code like EUR");
  }
  return absl::OkStatus();
}

absl::Status ValidateTimestamp(std::string_view field, const google::protobuf::Timestamp& t) {
  if (t.nanos() < 0 || t.nanos() > 999'999'999) return FieldError(field, "nanos must be between 0 and 999999999");
  if (t.seconds() < kMinTimeSeconds || t.seconds() >= kMaxTimeSeconds) {
    return FieldError(field, loyalty::StrCat("must be between 2000-01-01 and 2100-01-01 (UTC), got ", t.seconds(),
                                             " s since 1970"));
  }
  return absl::OkStatus();
}

absl::Status ValidateBirthday(std::string_view field, std::string_view b) {
  const auto digit = [](char c) { return c >= '0' && c <= '9'; };
  const bool shape = b.size() == 5 && b[2] == '-' && digit(b[0]) && digit(b[1]) && digit(b[3]) && digit(b[4]);
  if (!shape) return FieldError(field, "must be MM-DD");
  const int month = (b[0] - '0') * 10 + (b[1] - '0');
  const int day = (b[3] - '0') * 10 + (b[4] - '0');
  static constexpr int kDaysIn[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (month < 1 || month > 12) return FieldError(field, loyalty::StrCat("month must be 01 to 12, got ", b.substr(0, 2)));
  if (day < 1 || day > kDaysIn[month - 1]) {
    return FieldError(field, loyalty::StrCat("day must be 01 to ", kDaysIn[month - 1], " in month ", b.substr(0, 2),
                                             ", got ", b.substr(3, 2)));
  }
  return absl::OkStatus();
}

}  // namespace loyalty
