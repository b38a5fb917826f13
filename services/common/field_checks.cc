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

}  // namespace loyalty
