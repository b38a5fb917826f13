// tools/rpc_call.h: one unary gRPC call as loyaltyctl makes it: bearer token,
// deadline, and retries of transient failures (UNAVAILABLE,
// DEADLINE_EXCEEDED) with the same request, as a terminal would; a rate
// limit's refusal (RESOURCE_EXHAUSTED with google.rpc.RetryInfo) is retried
// after the delay it names. Every other status is a definite answer and is
// returned at once.
#pragma once

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <chrono>
#include <optional>
#include <string>
#include <thread>

#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"

namespace loyalty::tools {

inline constexpr std::chrono::seconds kCallDeadline{10};
inline constexpr int kMaxAttempts = 30;  // with the backoff below: about a minute

struct CallResult {
  grpc::Status status;
  int attempts = 0;
  bool replayed = false;  // trailing metadata x-idempotent-replay: true
};

// Waits for a rate limit's refusals, at most this many in one call.
inline constexpr int kMaxRateLimitedWaits = 10'000;

// The delay a rate limit's refusal asks for, if it names one.
inline std::optional<std::chrono::milliseconds> RetryDelay(const grpc::Status& s) {
  if (s.error_code() != grpc::StatusCode::RESOURCE_EXHAUSTED || s.error_details().empty()) return std::nullopt;
  google::rpc::Status details;
  if (!details.ParseFromString(s.error_details())) return std::nullopt;
  for (const auto& any : details.details()) {
    google::rpc::RetryInfo info;
    if (any.UnpackTo(&info)) {
      return std::chrono::milliseconds(info.retry_delay().seconds() * 1000 + info.retry_delay().nanos() / 1'000'000);
    }
  }
  return std::nullopt;
}

inline bool IsTransient(grpc::StatusCode code) {
  return code == grpc::StatusCode::UNAVAILABLE || code == grpc::StatusCode::DEADLINE_EXCEEDED;
}

// "INVALID_ARGUMENT" etc.
inline const char* StatusCodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK: return "OK";
    case grpc::StatusCode::CANCELLED: return "CANCELLED";
    case grpc::StatusCode::UNKNOWN: return "UNKNOWN";
    case grpc::StatusCode::INVALID_ARGUMENT: return "INVALID_ARGUMENT";
    case grpc::StatusCode::DEADLINE_EXCEEDED: return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::NOT_FOUND: return "NOT_FOUND";
    case grpc::StatusCode::ALREADY_EXISTS: return "ALREADY_EXISTS";
    case grpc::StatusCode::PERMISSION_DENIED: return "PERMISSION_DENIED";
    case grpc::StatusCode::RESOURCE_EXHAUSTED: return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::FAILED_PRECONDITION: return "FAILED_PRECONDITION";
    case grpc::StatusCode::ABORTED: return "ABORTED";
    case grpc::StatusCode::OUT_OF_RANGE: return "OUT_OF_RANGE";
    case grpc::StatusCode::UNIMPLEMENTED: return "UNIMPLEMENTED";
    case grpc::StatusCode::INTERNAL: return "INTERNAL";
    case grpc::StatusCode::UNAVAILABLE: return "UNAVAILABLE";
    case grpc::StatusCode::DATA_LOSS: return "DATA_LOSS";
    case grpc::StatusCode::UNAUTHENTICATED: return "UNAUTHENTICATED";
    default: return "UNRECOGNISED_CODE";
  }
}

// Calls `invoke(grpc::ClientContext*)` (which sends one request and returns
// its grpc::Status) until the answer is not transient or kMaxAttempts have
// been made. Waits 100 ms, 200 ms, .. up to 2 s between attempts.
template <class Invoke>
CallResult CallWithRetry(const std::string& token, Invoke&& invoke) {
  CallResult result;
  int rate_limited = 0;
  for (;;) {
    grpc::ClientContext context;
    context.AddMetadata("authorization", "Bearer " + token);
    context.set_deadline(std::chrono::system_clock::now() + kCallDeadline);
    ++result.attempts;
    result.status = invoke(&context);
    if (result.status.ok()) {
      const auto& trailers = context.GetServerTrailingMetadata();
      const auto flag = trailers.find("x-idempotent-replay");
      result.replayed = flag != trailers.end() && flag->second == "true";
    }
    if (auto delay = RetryDelay(result.status); delay && rate_limited < kMaxRateLimitedWaits) {
      ++rate_limited;
      --result.attempts;  // not a failed attempt: the server said when
      std::this_thread::sleep_for(std::max(*delay, std::chrono::milliseconds(1)));
      continue;
    }
    if (!IsTransient(result.status.error_code()) || result.attempts >= kMaxAttempts) return result;
    const int backoff_ms = std::min(2000, 100 << std::min(result.attempts - 1, 5));
    std::this_thread::sleep_for(std::chrono::milliseconds(backoff_ms));
  }
}

}  // namespace loyalty::tools
