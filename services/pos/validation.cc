#include "services/pos/validation.h"

#include <set>

#include "base/str_cat.h"
#include "services/common/status_macros.h"
#include "services/loyalty/engine/earn.h"

namespace loyalty::pos {
namespace {

absl::Status ValidateLine(const std::string& field, const v1::LineItem& line) {
  LOYALTY_RETURN_IF_ERROR(ValidateId(field + ".sku", line.sku()));
  LOYALTY_RETURN_IF_ERROR(ValidateId(field + ".category", line.category()));
  if (line.quantity() < 1 || line.quantity() > kMaxQuantity) {
    return FieldError(field + ".quantity",
                      loyalty::StrCat("must be between 1 and ", kMaxQuantity, ", got ", line.quantity()));
  }
  if (line.unit_price_minor() < 0 || line.unit_price_minor() > kMaxUnitPriceMinor) {
    return FieldError(field + ".unit_price_minor",
                      loyalty::StrCat("must be between 0 and ", kMaxUnitPriceMinor, ", got ",
                                   line.unit_price_minor()));
  }
  const int64_t gross = static_cast<int64_t>(line.quantity()) * line.unit_price_minor();
  if (line.discount_minor() < 0 || line.discount_minor() > gross) {
    return FieldError(field + ".discount_minor",
                      loyalty::StrCat("must be between 0 and the line's gross amount ", gross,
                                   ", got ", line.discount_minor()));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateEventTime(std::string_view field, const google::protobuf::Timestamp& t,
                          bool present, int64_t now) {
  if (!present) return FieldError(field, "is required");
  if (t.nanos() < 0 || t.nanos() > 999'999'999) return FieldError(field, "nanos must be between 0 and 999999999");
  if (t.seconds() > now + kMaxFutureSkewSeconds) {
    return FieldError(field, loyalty::StrCat("is ", t.seconds() - now,
                                          " s in the future (more than 300 s of clock skew)"));
  }
  if (t.seconds() < now - kMaxEventAgeSeconds) {
    return FieldError(field, "is more than 400 days in the past");
  }
  return absl::OkStatus();
}


absl::Status ValidateLines(std::string_view field,
                           const google::protobuf::RepeatedPtrField<v1::LineItem>& lines) {
  if (lines.size() < 1 || lines.size() > kMaxLinesPerSale) {
    return FieldError(field, loyalty::StrCat("must have 1 to ", kMaxLinesPerSale, " lines, got ", lines.size()));
  }
  for (int i = 0; i < lines.size(); ++i) {
    LOYALTY_RETURN_IF_ERROR(ValidateLine(loyalty::StrCat(field, "[", i, "]"), lines[i]));
  }
  return absl::OkStatus();
}

absl::Status ValidateSale(const v1::Sale& sale, int64_t now) {
  LOYALTY_RETURN_IF_ERROR(ValidateTransactionRef("sale.ref", sale.ref()));
  LOYALTY_RETURN_IF_ERROR(ValidateEventTime("sale.occurred_at", sale.occurred_at(), sale.has_occurred_at(), now));
  if (sale.has_member()) LOYALTY_RETURN_IF_ERROR(ValidateMemberIdentifier("sale.member", sale.member()));
  LOYALTY_RETURN_IF_ERROR(ValidateCurrency("sale.currency", sale.currency()));
  if (sale.lines_size() < 1 || sale.lines_size() > kMaxLinesPerSale) {
    return FieldError("sale.lines", loyalty::StrCat("must have 1 to ", kMaxLinesPerSale,
                                                 " lines, got ", sale.lines_size()));
  }
  int64_t net_total = 0;
  for (int i = 0; i < sale.lines_size(); ++i) {
    const auto& line = sale.lines(i);
    LOYALTY_RETURN_IF_ERROR(ValidateLine(loyalty::StrCat("sale.lines[", i, "]"), line));
    // Bounded: 200 lines * 9999 * 1e8 < 2^63.
    net_total += engine::LineNetMinor(line.quantity(), line.unit_price_minor(), line.discount_minor());
  }
  if (net_total > kMaxSaleTotalMinor) {
    return FieldError("sale.lines", loyalty::StrCat("sum to ", net_total, ", more than the limit ",
                                                 kMaxSaleTotalMinor));
  }
  // The total is what the member pays: line nets less loyalty discounts,
  // which ingest checks exactly; here it can only be out of range.
  if (sale.total_minor() > net_total || sale.total_minor() < 0) {
    return FieldError("sale.total_minor",
                      loyalty::StrCat("must equal the sum of line net amounts ", net_total, ", got ",
                                      sale.total_minor()));
  }
  if (sale.tenders_size() > kMaxTendersPerSale) {
    return FieldError("sale.tenders", loyalty::StrCat("must have at most ", kMaxTendersPerSale,
                                                   " tenders, got ", sale.tenders_size()));
  }
  int64_t tendered = 0;
  for (int i = 0; i < sale.tenders_size(); ++i) {
    const auto& t = sale.tenders(i);
    const std::string field = loyalty::StrCat("sale.tenders[", i, "]");
    if (t.type() == v1::TENDER_TYPE_UNSPECIFIED || !v1::TenderType_IsValid(t.type())) {
      return FieldError(field + ".type", "is required");
    }
    if (t.amount_minor() <= 0 || t.amount_minor() > kMaxSaleTotalMinor) {
      return FieldError(field + ".amount_minor",
                        loyalty::StrCat("must be between 1 and ", kMaxSaleTotalMinor, ", got ",
                                     t.amount_minor()));
    }
    tendered += t.amount_minor();
  }
  if (sale.tenders_size() > 0 && tendered != sale.total_minor()) {
    return FieldError("sale.tenders", loyalty::StrCat("sum to ", tendered, " but the total is ",
                                                      sale.total_minor()));
  }
  if (sale.redemption_codes_size() > kMaxCodesPerSale) {
    return FieldError("sale.redemption_codes", loyalty::StrCat("at most ", kMaxCodesPerSale, " codes"));
  }
  std::set<std::string> codes;
  for (int i = 0; i < sale.redemption_codes_size(); ++i) {
    const std::string field = loyalty::StrCat("sale.redemption_codes[", i, "]");
    LOYALTY_RETURN_IF_ERROR(ValidateId(field, sale.redemption_codes(i)));
    if (!codes.insert(sale.redemption_codes(i)).second) return FieldError(field, "is listed twice");
  }
  if (sale.redemption_codes_size() > 0 && !sale.has_member()) {
    return FieldError("sale.redemption_codes", "a sale that uses codes must identify the member");
  }
  return absl::OkStatus();
}

absl::Status ValidateReturn(const v1::Return& ret, int64_t now) {
  LOYALTY_RETURN_IF_ERROR(ValidateTransactionRef("return.ref", ret.ref()));
  LOYALTY_RETURN_IF_ERROR(ValidateEventTime("return.occurred_at", ret.occurred_at(), ret.has_occurred_at(), now));
  if (!ret.has_original()) return FieldError("return.original", "is required");
  LOYALTY_RETURN_IF_ERROR(ValidateTransactionRef("return.original", ret.original()));
  if (ret.lines_size() < 1 || ret.lines_size() > kMaxLinesPerReturn) {
    return FieldError("return.lines", loyalty::StrCat("must have 1 to ", kMaxLinesPerReturn,
                                                   " lines, got ", ret.lines_size()));
  }
  std::set<uint32_t> seen;
  for (int i = 0; i < ret.lines_size(); ++i) {
    const auto& line = ret.lines(i);
    const std::string field = loyalty::StrCat("return.lines[", i, "]");
    if (line.line_index() >= static_cast<uint32_t>(kMaxLinesPerSale)) {
      return FieldError(field + ".line_index",
                        loyalty::StrCat("must be below ", kMaxLinesPerSale, ", got ", line.line_index()));
    }
    if (!seen.insert(line.line_index()).second) {
      return FieldError(field + ".line_index",
                        loyalty::StrCat("line ", line.line_index(), " is listed twice"));
    }
    if (line.quantity() < 1 || line.quantity() > kMaxQuantity) {
      return FieldError(field + ".quantity", loyalty::StrCat("must be between 1 and ", kMaxQuantity,
                                                          ", got ", line.quantity()));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateVoid(const v1::Void& v, int64_t now) {
  LOYALTY_RETURN_IF_ERROR(ValidateTransactionRef("void.ref", v.ref()));
  LOYALTY_RETURN_IF_ERROR(ValidateEventTime("void.occurred_at", v.occurred_at(), v.has_occurred_at(), now));
  if (!v.has_original()) return FieldError("void.original", "is required");
  LOYALTY_RETURN_IF_ERROR(ValidateTransactionRef("void.original", v.original()));
  if (v.original().store_id() != v.ref().store_id()) {
    return FieldError("void.original.store_id", "a sale can only be voided in its own store");
  }
  if (v.reason().size() > kMaxReasonBytes) {
    return FieldError("void.reason", loyalty::StrCat("must be at most ", kMaxReasonBytes, " bytes"));
  }
  return absl::OkStatus();
}

}  // namespace loyalty::pos
