// base/status_payloads.h: marks carried by an absl::Status as payloads, so
// what a caller may be told (services/common/public_status.h) does not
// depend on the status code alone.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/cord.h"

namespace loyalty {

// Set by storage on every error it maps from RocksDB: the message describes
// the server's insides, whatever its code.
inline constexpr char kStorageFaultPayload[] = "type.loyalty/storage-fault";
// Set by ForCaller on what it made fit for a caller: a second pass (an edge
// after an operation that already told the caller) leaves it as it is.
inline constexpr char kForCallerPayload[] = "type.loyalty/for-caller";

// A refusal that may succeed later (a rate limit): when, in milliseconds
// (decimal). gRPC sends it as google.rpc.RetryInfo, HTTP as Retry-After.
inline constexpr char kRetryAfterPayload[] = "type.loyalty/retry-after-ms";

// The retry hint a refusal carries, in milliseconds (0: none).
inline int64_t RetryAfterMs(const absl::Status& s) {
  auto payload = s.GetPayload(kRetryAfterPayload);
  if (!payload.has_value()) return 0;
  int64_t ms = 0;
  for (char c : std::string(*payload)) {
    if (c < '0' || c > '9') return 0;
    ms = ms * 10 + (c - '0');
  }
  return ms;
}

inline absl::Status WithRetryAfter(absl::Status s, int64_t retry_after_ms) {
  s.SetPayload(kRetryAfterPayload, absl::Cord(std::to_string(std::max<int64_t>(1, retry_after_ms))));
  return s;
}

}  // namespace loyalty
