// services/common/token_buckets.h: rate limits per key (a credential, a
// member): a token bucket each, refilled at `per_second` up to `burst`; a
// call takes one token or is refused with RESOURCE_EXHAUSTED saying when a
// token will be there (also as kRetryAfterPayload, which the edges turn into
// gRPC's RetryInfo and HTTP's Retry-After).
//
// Memory: at most `max_keys` buckets. Past it, full buckets (equal to a new
// one) are forgotten first, then the ones used longest ago.
//
// Thread-safety: Take may be called from any thread (a mutex per shard).
#pragma once

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "absl/status/status.h"
#include "base/status_payloads.h"
#include "base/str_cat.h"

namespace loyalty {

struct RateLimit {
  double per_second = 0;  // <= 0: no limit
  double burst = 1;       // tokens a quiet key has saved up (at least 1)
  bool unlimited() const { return per_second <= 0; }
};

class TokenBuckets {
 public:
  using Clock = std::chrono::steady_clock;

  TokenBuckets(RateLimit limit, size_t max_keys)
      : limit_{limit.per_second, std::max(1.0, limit.burst)}, max_keys_per_shard_(std::max<size_t>(1, max_keys / kShards)) {}

  const RateLimit& limit() const { return limit_; }

  // OK with one token taken for `key`, or RESOURCE_EXHAUSTED "<what>: at
  // most N a second (burst B); retry in T ms".
  absl::Status Take(std::string_view key, std::string_view what, Clock::time_point now = Clock::now()) {
    if (limit_.unlimited()) return absl::OkStatus();
    Shard& shard = shards_[std::hash<std::string_view>()(key) % kShards];
    std::lock_guard<std::mutex> lock(shard.mu);
    auto it = shard.buckets.find(std::string(key));
    if (it == shard.buckets.end()) {
      if (shard.buckets.size() >= max_keys_per_shard_) Evict(shard, now);
      it = shard.buckets.emplace(std::string(key), Bucket{limit_.burst, now}).first;
    }
    Bucket& b = it->second;
    b.tokens = Refilled(b, now);
    b.last = now;
    if (b.tokens >= 1.0) {
      b.tokens -= 1.0;
      return absl::OkStatus();
    }
    const auto retry_ms = static_cast<int64_t>(std::ceil((1.0 - b.tokens) / limit_.per_second * 1000.0));
    char rate[64];
    std::snprintf(rate, sizeof rate, "at most %g a second (bursts of %g)", limit_.per_second, limit_.burst);
    return WithRetryAfter(
        absl::ResourceExhaustedError(loyalty::StrCat(what, ": ", rate, "; retry in ", retry_ms, " ms")), retry_ms);
  }

  size_t size() const {
    size_t n = 0;
    for (auto& s : shards_) {
      std::lock_guard<std::mutex> lock(s.mu);
      n += s.buckets.size();
    }
    return n;
  }

 private:
  static constexpr size_t kShards = 16;
  struct Bucket {
    double tokens;
    Clock::time_point last;
  };
  struct Shard {
    mutable std::mutex mu;
    std::unordered_map<std::string, Bucket> buckets;
  };

  double Refilled(const Bucket& b, Clock::time_point now) const {
    const double elapsed = std::chrono::duration<double>(now - b.last).count();
    return std::min(limit_.burst, b.tokens + std::max(0.0, elapsed) * limit_.per_second);
  }

  // Forgets full buckets; if none is full, the one used longest ago.
  void Evict(Shard& shard, Clock::time_point now) {
    auto oldest = shard.buckets.end();
    for (auto it = shard.buckets.begin(); it != shard.buckets.end();) {
      if (Refilled(it->second, now) >= limit_.burst) {
        it = shard.buckets.erase(it);
        continue;
      }
      if (oldest == shard.buckets.end() || it->second.last < oldest->second.last) oldest = it;
      ++it;
    }
    if (shard.buckets.size() >= max_keys_per_shard_ && oldest != shard.buckets.end()) shard.buckets.erase(oldest);
  }

  const RateLimit limit_;
  const size_t max_keys_per_shard_;
  std::array<Shard, kShards> shards_;
};

}  // namespace loyalty
