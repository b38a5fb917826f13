// base/status_payloads.h: marks carried by an absl::Status as payloads, so
// what a caller may be told (services/common/public_status.h) does not
// depend on the status code alone.
#pragma once

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

}  // namespace loyalty
