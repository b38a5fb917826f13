// services/common/status_macros.h: early return on error Status values.
#pragma once

#include "absl/status/status.h"

// Returns the status of `expr` from the current function if it is not OK.
#define LOYALTY_RETURN_IF_ERROR(expr)                     \
  do {                                                    \
    if (absl::Status _st = (expr); !_st.ok()) return _st; \
  } while (0)

#define LOYALTY_CONCAT_INNER(a, b) a##b
#define LOYALTY_CONCAT(a, b) LOYALTY_CONCAT_INNER(a, b)

// `lhs = value of expr`, or returns its error status.
#define LOYALTY_ASSIGN_OR_RETURN(lhs, expr) \
  LOYALTY_ASSIGN_OR_RETURN_IMPL(LOYALTY_CONCAT(_statusor_, __LINE__), lhs, expr)
#define LOYALTY_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                  \
  if (!tmp.ok()) return tmp.status();                 \
  lhs = std::move(*tmp)

// Adds context to an error: "<context>: <original message>", same code.
namespace loyalty {
inline absl::Status Annotate(const absl::Status& s, std::string_view context) {
  if (s.ok()) return s;
  absl::Status out(s.code(), std::string(context) + ": " + std::string(s.message()));
  // Payloads (what may be told to a caller) travel with the context.
  s.ForEachPayload([&out](absl::string_view url, const absl::Cord& payload) { out.SetPayload(url, payload); });
  return out;
}
}  // namespace loyalty
